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
