package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Gateway is a running mailgate: SMTP listeners, tenants, upstreams, audit
// and the admin listener. Make one with New, start it with Start, change
// its configuration with Reload and stop it with Shutdown.
type Gateway struct {
	log   *slog.Logger
	now   func() time.Time
	snap  atomic.Pointer[snapshot]
	ups   *upstreams
	audit *auditLog
	auth  *verifier
	fails *authLimiter
	rates *rates
	// state keeps rates' day counts across restarts.
	state *limitsState

	prom      *gwMetrics // the Prometheus collectors; nil with WithoutMetrics
	noMetrics bool

	delivery map[string]Delivery
	metrics  http.Handler            // /metrics, or nil
	paused   *pauses                 // tenants paused by the admin API; outlives reloads
	loader   func() (*Config, error) // ReloadConfig's source
	outq     *queue                  // the built-in queue mode, if some tenant uses it

	ctx    context.Context // ends when the drain timeout is over
	cancel context.CancelFunc

	mu       sync.Mutex
	conns    map[*guardConn]struct{}
	perIP    map[string]int
	draining bool
	servers  []*listenerServer
	admin    *http.Server
	adminLn  net.Listener
	// auditReads holds a token for each GET /api/audit reading the file.
	auditReads chan struct{}
	// auditChain is what GET /api/audit calls know of the audit file's
	// hash chain (admin_audit.go).
	auditChain auditChain
	// adminStart is the admin section the running admin listener was
	// started with (nil without one); see adminReloadable.
	adminStart *adminDef
	reloadMu   sync.Mutex
	rejects    sync.WaitGroup
	live       sync.WaitGroup // admitted connections not yet forgotten
	started    bool

	shutdownOnce sync.Once
	shutdownErr  error
}

type listenerServer struct {
	cfg ListenerConfig
	srv *smtp.Server
	ln  net.Listener
	err chan error
}

// An Option configures a Gateway.
type Option func(*Gateway)

// WithLogger sets the operational logger (the audit log is separate).
// The default discards.
func WithLogger(l *slog.Logger) Option { return func(g *Gateway) { g.log = l } }

// WithClock sets the clock used for rate windows, bans and expiry (of
// credentials, and of client certificates at MAIL); tests use it to move
// time forward.
func WithClock(now func() time.Time) Option { return func(g *Gateway) { g.now = now } }

// WithDelivery replaces the delivery for a route mode ("sync", "capture"
// or "queue"). A "queue" delivery that implements Queue is what the admin
// API and the metrics see.
func WithDelivery(mode string, d Delivery) Option {
	return func(g *Gateway) { g.delivery[mode] = d }
}

// New compiles cfg and opens the audit log; it does not listen yet.
func New(cfg *Config, opts ...Option) (*Gateway, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		auth:   newVerifier(),
		fails:  newAuthLimiter(),
		rates:  newRates(),
		conns:  map[*guardConn]struct{}{},
		perIP:  map[string]int{},
		paused: newPauses(),
		// GET /api/audit calls reading the file at once (admin_audit.go).
		auditReads: make(chan struct{}, auditMaxReads),
	}
	g.delivery = map[string]Delivery{}
	for _, o := range opts {
		o(g)
	}
	if _, ok := g.delivery["sync"]; !ok {
		g.delivery["sync"] = &relay{g: g, mode: "sync"}
	}
	if _, ok := g.delivery["capture"]; !ok {
		g.delivery["capture"] = &relay{g: g, mode: "capture"}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if g.audit, err = openAudit(s.audit, s.auditKey); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if g.audit != nil {
		g.audit.log = g.log
	}
	g.ups = newUpstreams(g)
	if err := g.ups.apply(s); err != nil {
		g.audit.close()
		return nil, err
	}
	g.snap.Store(s)
	g.state = openLimitsState(g, s)
	if !g.noMetrics {
		g.prom = newMetrics(g)
		g.prom.declare(s)
		g.audit.onError = g.prom.auditError
		if g.metrics == nil { // WithMetricsHandler replaces it
			g.metrics = g.prom.handler(g)
		}
	}
	if _, custom := g.delivery["queue"]; s.queue.used && !custom {
		if g.outq, err = newQueue(g, s.queue); err != nil {
			g.ups.close()
			g.audit.close()
			return nil, err
		}
		g.delivery["queue"] = g.outq
	}
	return g, nil
}

// Queue returns the durable queue of queue mode, or nil when no tenant
// uses it (or its Delivery is not a Queue).
func (g *Gateway) Queue() Queue {
	q, _ := g.delivery["queue"].(Queue)
	return q
}

// Start binds every listener and serves in the background. Listener
// addresses with port 0 get a free port; Addr tells which. A Reload at
// the same time waits until Start returns (queue mode: until the queue's
// workers have started).
func (g *Gateway) Start() error {
	// As Reload does: reloadMu, then mu. A Reload at the same time then
	// either comes first, and Start binds its configuration, or after,
	// and is checked against what Start bound (adminReloadable).
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	s := g.snap.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("gateway: already started")
	}
	g.started = true
	if g.outq != nil {
		// Workers first: messages queued before a restart go out even
		// if a listener cannot bind.
		if err := g.outq.start(); err != nil {
			return err
		}
	}
	for _, lc := range s.listeners {
		ln, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			g.closeListenersLocked()
			return fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		srv := g.newSMTPServer(s, lc)
		var l net.Listener = &guardListener{Listener: ln, g: g, name: lc.Name, implicit: lc.TLS == "implicit"}
		if lc.TLS == "implicit" {
			l = tls.NewListener(l, srv.TLSConfig)
		}
		g.servers = append(g.servers, &listenerServer{cfg: lc, srv: srv, ln: l, err: make(chan error, 1)})
	}
	if err := g.startAdmin(s); err != nil {
		g.closeListenersLocked()
		return fmt.Errorf("admin listener: %w", err)
	}
	for _, ls := range g.servers {
		go func() { ls.err <- ls.srv.Serve(ls.ln) }()
	}
	g.state.start()
	return nil
}

func (g *Gateway) closeListenersLocked() {
	for _, ls := range g.servers {
		ls.ln.Close()
	}
	g.servers = nil
	if g.adminLn != nil {
		g.adminLn.Close()
	}
}

func (g *Gateway) newSMTPServer(s *snapshot, lc ListenerConfig) *smtp.Server {
	srv := smtp.NewServer(&backend{g: g, listener: lc.Name})
	srv.Domain = s.hostname
	srv.ReadTimeout = s.limits.CommandTimeout
	srv.WriteTimeout = s.limits.WriteTimeout
	srv.MaxMessageBytes = s.limits.MaxMessageBytes
	srv.MaxRecipients = s.limits.MaxRecipients
	srv.EnableSMTPUTF8 = true
	// go-smtp would refuse AUTH before TLS itself, without telling the
	// backend; the session refuses it (523) and audits it, so that a
	// credential sent in clear text is known. AUTH is still offered only
	// over TLS (session.AuthMechanisms).
	srv.AllowInsecureAuth = true
	// go-smtp's Debug would copy AUTH payloads; it stays nil. Its error
	// log goes to our logger.
	srv.ErrorLog = log.New(slogWriter{g.log}, "", 0)
	if lc.TLS != "none" {
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				cur := g.snap.Load()
				gc := underlying(hello.Conn)
				gc.tlsBegin()
				return &tls.Config{
					// Client certificates are checked on the clock that
					// checks them again at each MAIL (certAuth.recheck).
					Time:             g.now,
					MinVersion:       cur.minTLS,
					Certificates:     []tls.Certificate{*cur.cert},
					ClientCAs:        cur.clientCAs,
					ClientAuth:       cur.clientAuth,
					VerifyConnection: gc.tlsComplete,
				}, nil
			},
		}
	}
	return srv
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("smtp server", "msg", string(p))
	return len(p), nil
}

// Addr returns the address the listener called name is bound to, or "".
func (g *Gateway) Addr(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ls := range g.servers {
		if ls.cfg.Name == name {
			return ls.ln.Addr().String()
		}
	}
	return ""
}

// admit decides whether a new connection may start a session.
func (g *Gateway) admit(c net.Conn, listener string, implicit bool) (*guardConn, string) {
	s := g.snap.Load()
	ip := remoteIP(c)
	now := g.now()
	if g.fails.banned(ip, now) {
		return nil, "banned"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.draining:
		return nil, "draining"
	case len(g.conns) >= s.limits.MaxConnections:
		return nil, "limit"
	case g.perIP[ip] >= s.limits.MaxConnectionsPerIP:
		return nil, "limit"
	}
	gc := &guardConn{Conn: c, g: g, ip: ip, listener: listener, opened: now, tlsPending: implicit}
	gc.info.id = newID()
	g.conns[gc] = struct{}{}
	g.perIP[ip]++
	g.live.Add(1)
	return gc, ""
}

// reject answers a refused connection with 421 (in clear text; on an
// implicit TLS listener it only closes) and closes it.
func (g *Gateway) reject(c net.Conn, reason string, implicit bool) {
	g.audit.write(&auditRecord{Event: "session", Client: c.RemoteAddr().String(), Result: "refused:" + reason}, g.now())
	g.rejects.Add(1)
	go func() {
		defer g.rejects.Done()
		if !implicit {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "421 4.7.0 Too many connections or banned, try again later\r\n")
		}
		c.Close()
	}()
}

// forget is called once when a connection closes.
func (g *Gateway) forget(c *guardConn) {
	g.mu.Lock()
	delete(g.conns, c)
	if g.perIP[c.ip]--; g.perIP[c.ip] <= 0 {
		delete(g.perIP, c.ip)
	}
	g.mu.Unlock()
	c.mu.Lock()
	info := c.info
	tlsFailed := c.tlsPending && !c.tlsDone
	c.mu.Unlock()
	g.prom.closed(c.listener, tlsFailed)
	if info.tenant != "" {
		g.rates.closeConn(info.tenant)
	}
	now := g.now()
	g.audit.write(&auditRecord{Event: "session", Session: info.id, Listener: c.listener, Client: c.RemoteAddr().String(),
		TLS: info.tls, User: info.user, Tenant: info.tenant, Messages: info.messages, AuthFailures: info.authFail,
		Result: "closed", DurationMS: now.Sub(c.opened).Milliseconds()}, now)
	g.live.Done()
}

// Shutdown stops accepting, closes idle sessions (go-smtp answers them
// 421), lets messages in DATA or in delivery finish until ctx ends, then
// closes everything, the upstream clients and the audit log. A message
// already being committed to the queue is waited for past ctx (at most
// 30 s more), so that it is not cut between its commit and its audit
// line. A ctx without a deadline gets the configured drain_timeout.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutdownOnce.Do(func() { g.shutdownErr = g.shutdown(ctx) })
	return g.shutdownErr
}

func (g *Gateway) shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.snap.Load().drain)
		defer cancel()
	}
	g.mu.Lock()
	g.draining = true
	servers := g.servers
	for c := range g.conns {
		c.drain()
	}
	g.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, ls := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ls.srv.Shutdown(ctx)
		}()
	}
	wg.Wait()
	// go-smtp's Shutdown closes only the listeners its Serve has already
	// registered: a Serve goroutine that had not run yet (Shutdown right
	// after Start on a loaded machine) would block in Accept for ever and
	// so would the wait on ls.err below. Closing our side makes it return.
	for _, ls := range servers {
		ls.ln.Close()
	}
	err := errors.Join(errs...)
	if err != nil {
		// The drain timeout is over: cut deliveries and connections.
		g.cancel()
		for _, ls := range servers {
			ls.srv.Close()
		}
	}
	for _, ls := range servers {
		<-ls.err
	}
	g.cancel()
	if g.outq != nil {
		// A message being committed to the queue is not cut by its
		// session's end (a client told 4xx must not see it delivered):
		// wait for those stores, at most batchTimeout past the deadline,
		// and take no new one, so that they end before the outbox stops
		// and their sessions' audit lines before the audit closes.
		dl, _ := ctx.Deadline()
		if !g.outq.closeStores(dl.Add(batchTimeout)) {
			g.log.Error("queue: messages still being stored at shutdown; the queue closes under them")
		}
	}
	// go-smtp's Close does not wait for its connection goroutines: wait
	// (a little) for their session audit lines before closing the log.
	closed := make(chan struct{})
	go func() { g.live.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
	}
	if g.admin != nil {
		// Let admin calls in flight (a reload, a queue operation) end
		// before the upstreams, the queue and the audit they use close.
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if g.admin.Shutdown(actx) != nil {
			g.admin.Close()
		}
		acancel()
	}
	g.rejects.Wait()
	if g.outq != nil {
		// After the sessions (their enqueues are done), before the
		// upstream clients and the audit the workers use: the sends in
		// flight finish, cut only after the drain timeout.
		// Within the caller's deadline: past it the sends are cut (and
		// recorded) at once.
		dl, _ := ctx.Deadline()
		qctx, qcancel := context.WithDeadline(context.WithoutCancel(ctx), dl)
		if qerr := g.outq.stop(qctx); qerr != nil {
			g.log.Error("queue: stopping the workers", "err", qerr)
		}
		qcancel()
	}
	// The sessions are over (their reservations given back): the day
	// counts as they stand now are what the next start reads.
	g.state.close()
	g.ups.close()
	g.audit.close()
	return err
}
