package gateway

import (
	"context"
	"net/http"
	"time"
)

// livez answers while the process runs.
func (g *Gateway) livez(w http.ResponseWriter, _ *http.Request) {
	w.Write([]byte("ok\n"))
}

// readyz is 200 when the gateway can take mail: listeners bound,
// configuration loaded, not draining, audit log writable and, when a
// durable queue is the "queue" delivery, the queue writable. It does not
// depend on upstreams: a provider outage must not take every gateway out
// of its load balancer (sync tenants answer 451 and queue tenants keep
// queueing meanwhile).
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	draining, bound := g.draining, len(g.servers) > 0
	g.mu.Unlock()
	switch {
	case draining:
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	case !bound || g.snap.Load() == nil:
		http.Error(w, "not started", http.StatusServiceUnavailable)
		return
	case g.audit.healthy() != nil:
		http.Error(w, "audit log not writable", http.StatusServiceUnavailable)
		return
	}
	if q := g.Queue(); q != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := q.Writable(ctx); err != nil {
			g.log.Warn("readyz: queue not writable", "err", err)
			http.Error(w, "queue not writable", http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ok\n"))
}
