package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// WithoutMetrics turns the Prometheus metrics off: nothing is counted and
// /metrics answers 404 (unless WithMetricsHandler gives it a handler).
// Metrics are on by default.
func WithoutMetrics() Option { return func(g *Gateway) { g.noMetrics = true } }

// Registry returns the Gateway's own Prometheus registry (mailgate_*
// metrics, plus the Go runtime and process collectors), to serve it
// elsewhere or to add collectors; nil with WithoutMetrics. The gateway
// serves it at /metrics on its admin listener; it never uses the global
// registry.
func (g *Gateway) Registry() *prometheus.Registry {
	if g.prom == nil {
		return nil
	}
	return g.prom.reg
}

// handler serves the registry in the Prometheus text (or protobuf) format.
func (m *gwMetrics) handler(g *Gateway) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slogPromLogger{g},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             queueStatsTimeout + 5e9,
	})
}

// slogPromLogger sends promhttp's errors to the operational log.
type slogPromLogger struct{ g *Gateway }

func (l slogPromLogger) Println(v ...any) { l.g.log.Warn("metrics", "error", v) }
