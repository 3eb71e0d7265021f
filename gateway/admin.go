package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"log"
	"net"
	"net/http"
	"time"
)

// WithMetricsHandler serves h as /metrics on the admin listener instead of
// the gateway's own Prometheus metrics. With neither (metrics turned off)
// /metrics is 404.
func WithMetricsHandler(h http.Handler) Option { return func(g *Gateway) { g.metrics = h } }

// adminReloadable reports why s cannot replace the running configuration
// as far as the admin listener goes, or nil: a running listener keeps its
// address and whether it speaks TLS, so a reload that removes the admin
// section, moves it or turns its TLS on or off needs a restart (it would
// otherwise leave the listener serving under settings, metrics_auth
// among them, that are no longer in the configuration), and so does one
// that adds an admin section to a gateway started without one (it would
// be reported as loaded while nothing listens).
func (g *Gateway) adminReloadable(s *snapshot) error {
	start := g.adminStart
	if start == nil {
		if s.admin != nil && s.admin.addr != "" && g.started && len(g.servers) > 0 {
			return errors.New("admin: adding an admin listener needs a restart")
		}
		return nil
	}
	if s.admin == nil || s.admin.addr != start.addr || s.admin.tls != start.tls {
		return errors.New("admin: removing the admin section, changing admin.addr or turning admin TLS on or off needs a restart")
	}
	return nil
}

// startAdmin binds the admin listener, if the configuration has one, and
// serves it in the background. g.mu is held.
func (g *Gateway) startAdmin(s *snapshot) error {
	a := s.admin
	if a == nil || a.addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	b := &adminBoundary{g: g, start: a, loopback: loopbackAddr(ln.Addr().String())}
	g.adminStart = a
	if a.tls {
		ln = tls.NewListener(ln, &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				t := b.tlsNow()
				return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*t.cert},
					ClientCAs: t.clientCAs, ClientAuth: t.clientAuth}, nil
			},
		})
	}
	g.adminLn = ln
	g.admin = &http.Server{
		Handler:           g.adminHandler(b),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(slogWriter{g.log}, "admin: ", 0),
	}
	go g.admin.Serve(ln)
	return nil
}

// adminBoundary is what a running admin listener was started with: a
// reload changes neither its address nor whether it speaks TLS.
type adminBoundary struct {
	g        *Gateway
	start    *adminDef // the admin section it was started with
	loopback bool      // bound to a loopback address
}

// tlsNow returns the admin section whose certificate and client
// certificate settings the TLS listener uses now: they follow reloads,
// but a reload cannot turn TLS off on a running listener.
func (b *adminBoundary) tlsNow() *adminDef { return b.tlsOf(b.g.snap.Load().admin) }

// tlsOf is tlsNow with cur as the current admin section (nil for none).
func (b *adminBoundary) tlsOf(cur *adminDef) *adminDef {
	if cur != nil && cur.cert != nil {
		return cur
	}
	return b.start
}

// clientCert returns r's client certificate if it verifies now, for
// client authentication, against the client CAs that the listener takes
// under cur, the current admin section; else nil, as if r carried none.
// The handshake verified it against the CAs of its own time: a
// connection kept alive across a reload that rotated or removed
// client_ca_file must not keep the principal of a CA no longer trusted.
// It is verified again on every request (verifyClientCert; admin
// traffic is low) and nothing is cached, so nothing outlives a reload.
func (b *adminBoundary) clientCert(cur *adminDef, r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	if _, err := verifyClientCert(b.tlsOf(cur).clientCAs, r.TLS.PeerCertificates, time.Time{}); err != nil {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// metricsNeedPrincipal reports whether /metrics needs a principal for r
// under cur, the current admin section: with metrics_auth, and whenever
// the listener is not its own boundary for r. A loopback listener is.
// Any other is only for a request that itself carries a client
// certificate that verifies against the current admin CA (clientCert)
// while the current section requires one (client_ca_file with
// client_auth "require"): whether the listener requires certificates
// now says nothing about a connection made before a reload, without
// one, under verify_if_given, without client_ca_file or with a
// certificate of a CA the reload replaced.
func (b *adminBoundary) metricsNeedPrincipal(cur *adminDef, r *http.Request) bool {
	switch {
	case cur.metricsAuth:
		return true
	case b.loopback:
		return false
	}
	// Not loopback, so TLS: a plain listener must be on loopback.
	return b.clientCert(cur, r) == nil || b.tlsOf(cur).clientAuth != tls.RequireAndVerifyClientCert
}

// adminHandler routes the admin listener b. Methods are checked inside
// api (not by the mux), so that a call with the wrong method is
// authenticated and audited like any other.
func (g *Gateway) adminHandler(b *adminBoundary) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", g.livez)
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { g.serveMetrics(w, r, b) })
	mux.Handle("/api/tenants", g.api(b, http.MethodGet, RoleAuditor, g.apiTenants))
	mux.Handle("/api/tenants/{t}/pause", g.api(b, http.MethodPost, RoleAdmin, g.apiPause(true)))
	mux.Handle("/api/tenants/{t}/resume", g.api(b, http.MethodPost, RoleAdmin, g.apiPause(false)))
	mux.Handle("/api/audit", g.api(b, http.MethodGet, RoleAuditor, g.apiAudit))
	mux.Handle("/api/queue", g.api(b, http.MethodGet, RoleAuditor, g.apiQueue))
	mux.Handle("/api/queue/{id}/retry", g.api(b, http.MethodPost, RoleAdmin, g.apiQueueOp("retry")))
	mux.Handle("/api/queue/{id}/cancel", g.api(b, http.MethodPost, RoleAdmin, g.apiQueueOp("cancel")))
	mux.Handle("/api/reload", g.api(b, http.MethodPost, RoleAdmin, g.apiReload))
	mux.Handle("/api/", g.api(b, "", RoleAuditor, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such admin call", http.StatusNotFound)
	}))
	return mux
}

// api wraps an admin call on the listener b: it authenticates the
// principal (401 without one; a client certificate counts only while it
// verifies against the current admin CA, see adminBoundary.clientCert),
// checks its role (403) and the method (405), runs h and writes one
// audit line with the principal's name, the method, the path and the
// status code, whatever happened. The 401 and 403 bodies say nothing
// more than their status.
func (g *Gateway) api(b *adminBoundary, method, need string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		var p *principal
		if a := g.snap.Load().admin; a != nil {
			p = a.authenticate(r, b.clientCert(a, r))
		}
		switch {
		case p == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="mailgate"`)
			http.Error(sw, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		case !may(p.role, need):
			http.Error(sw, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		case method != "" && r.Method != method:
			w.Header().Set("Allow", method)
			http.Error(sw, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		default:
			h(sw, r)
		}
		rec := &auditRecord{Event: "admin", Client: r.RemoteAddr, Method: cleanText(r.Method, 16),
			Path: cleanText(r.URL.Path, 200), Status: sw.code(), Tenant: cleanText(r.PathValue("t"), 64),
			ID: cleanText(r.PathValue("id"), 64)}
		if p != nil {
			rec.Principal, rec.Role = p.name, p.role
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
			rec.ClientCert = "sha256:" + hex.EncodeToString(sum[:])
		}
		g.audit.write(rec, g.now())
	})
}

// serveMetrics is /metrics on the admin listener b; see
// adminBoundary.metricsNeedPrincipal for when it needs a principal.
func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request, b *adminBoundary) {
	if g.metrics == nil {
		http.NotFound(w, r)
		return
	}
	a := g.snap.Load().admin
	if a == nil {
		a = &adminDef{} // no principal: /metrics is open only where the listener allows
	}
	if b.metricsNeedPrincipal(a, r) && a.authenticate(r, b.clientCert(a, r)) == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mailgate"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	g.metrics.ServeHTTP(w, r)
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AdminAddr returns the address of the admin listener (/livez, /readyz,
// /metrics, /api/), or "" without one.
func (g *Gateway) AdminAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.adminLn == nil {
		return ""
	}
	return g.adminLn.Addr().String()
}

// HealthAddr returns AdminAddr.
//
// Deprecated: use AdminAddr; /livez and /readyz are on the admin listener.
func (g *Gateway) HealthAddr() string { return g.AdminAddr() }

// errNoConfigSource is ReloadConfig's error without WithConfigLoader.
var errNoConfigSource = errors.New("gateway: no configuration source to reload from (WithConfigLoader)")
