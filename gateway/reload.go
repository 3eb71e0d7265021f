package gateway

import "errors"

// WithConfigLoader sets where ReloadConfig reads the configuration from;
// mailgate passes a function that calls LoadConfig on its -config file.
func WithConfigLoader(load func() (*Config, error)) Option {
	return func(g *Gateway) { g.loader = load }
}

// errReloadDraining refuses a reload once Shutdown has begun: the
// upstreams, the queue and the audit it would touch are closing.
var errReloadDraining = errors.New("gateway: shutting down; configuration not reloaded")

// ReloadConfig reads the configuration again from the WithConfigLoader
// source and applies it with Reload. It is the one code path behind both
// SIGHUP in mailgate and POST /api/reload, so the two have the same
// effect, the same audit line and the same log line. On any error the
// running configuration stays. Like Reload, it first reopens the audit
// file.
func (g *Gateway) ReloadConfig() error {
	if g.loader == nil {
		return errNoConfigSource
	}
	g.mu.Lock()
	draining := g.draining
	g.mu.Unlock()
	if draining {
		return errReloadDraining
	}
	// The audit file is reopened (logrotate) also when the file cannot
	// be read or is broken.
	if err := g.reload(g.loader); err != nil {
		g.log.Error("reload failed; the running configuration stays", "err", err)
		return err
	}
	g.log.Info("configuration reloaded")
	return nil
}

// Reload validates cfg completely and then swaps it in atomically: new
// sessions use it at once, open sessions at their next MAIL, where a
// session whose credential is gone or expired gets 530, as does one
// whose client certificate no longer verifies against the client CA or
// names the same credential. On error the running configuration stays
// and the error says why. Listener addresses and server-wide limits need
// a restart.
//
// Every reload, a failed one too, first reopens the audit file, so that
// logrotate's rename and a SIGHUP (or POST /api/reload) move the audit to
// the new file, whose first line continues the chain. If that fails, the
// audit goes on in the file held, the failure is logged and counted
// (mailgate_audit_write_errors_total), and the reload's audit line says
// so (audit_error); the configuration is reloaded or not as without it.
func (g *Gateway) Reload(cfg *Config) error {
	return g.reload(func() (*Config, error) { return cfg, nil })
}

// reload reopens the audit file, then loads, checks and applies a
// configuration (Reload).
func (g *Gateway) reload(load func() (*Config, error)) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	reopenErr := g.reopenAudit()
	var s *snapshot
	cfg, err := load()
	if err == nil {
		s, err = compile(cfg)
	}
	if err == nil && s.queue.used && g.delivery["queue"] == nil {
		err = errors.New("queue: a tenant in mode queue needs a restart (no queue was opened at start)")
	}
	if err == nil {
		g.mu.Lock()
		err = g.adminReloadable(s)
		g.mu.Unlock()
	}
	if err == nil {
		err = g.ups.apply(s)
	}
	if err != nil {
		g.prom.reload(err, g.now())
		g.audit.write(&auditRecord{Event: "reload", Result: "error", Error: err.Error(), AuditError: reopenErr}, g.now())
		return err
	}
	g.snap.Store(s)
	g.prom.declare(s)
	g.prom.reload(nil, g.now())
	g.audit.write(&auditRecord{Event: "reload", Result: "ok", Tenants: len(s.tenants), AuditError: reopenErr}, g.now())
	return nil
}

// reopenAudit reopens the audit file (auditLog.reopen) and returns why it
// failed, for the reload's audit line, or "".
func (g *Gateway) reopenAudit() string {
	if err := g.audit.reopen(g.now()); err != nil {
		g.log.Error("audit: reopen failed; the audit goes on in the file held", "err", err)
		return err.Error()
	}
	return ""
}
