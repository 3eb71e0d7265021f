package gateway

import (
	"testing"
	"time"
)

// BenchmarkMetricsMessage is the metrics' CPU for one relayed message
// (a recipient, one upstream attempt, the outcome, the size and accept
// time) and, apart, for one session (connection, AUTH, close). Compare it
// with the CPU a relayed message costs (BenchmarkRelayMetrics).
func BenchmarkMetricsMessage(b *testing.B) {
	g := &Gateway{now: time.Now}
	m := newMetrics(g)
	m.declare(&snapshot{tenants: map[string]*tenant{"t1": {name: "t1", mode: "sync"}}, tenantOrder: []string{"t1"},
		upOrder: []string{"sink"}, listeners: []ListenerConfig{{Name: "submission"}}})
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.rcpt("t1", "accepted", 1)
			m.attempt("sink", 250, false, 3*time.Millisecond)
			m.message("t1", "delivered")
			m.received("t1", "sync", 2048, 4*time.Millisecond)
			m.rcpt("t1", "upstream_refused", 0)
		}
	})
	b.Run("session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.conn("submission", "")
			m.auth("submission", "PLAIN", "ok")
			m.closed("submission", false)
		}
	})
}
