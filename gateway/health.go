package gateway

import (
	"net/http"
)

// healthHandler serves /livez (the process runs) and /readyz (listeners
// bound, configuration loaded, audit writable, not draining). Readiness
// does not depend on upstreams: a provider outage must not take every
// gateway out of its load balancer.
func (g *Gateway) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		g.mu.Lock()
		draining, bound := g.draining, len(g.servers) > 0
		g.mu.Unlock()
		switch {
		case draining:
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case !bound || g.snap.Load() == nil:
			http.Error(w, "not started", http.StatusServiceUnavailable)
		case g.audit.healthy() != nil:
			http.Error(w, "audit log not writable", http.StatusServiceUnavailable)
		default:
			w.Write([]byte("ok\n"))
		}
	})
	return mux
}
