package metrics

import (
	"sync"

	"github.com/postkit/mailer"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads the pool figures of the watched Clients at each
// scrape: mailer_pool_connections{client,state="idle"|"busy"}. One serves
// every Metrics of a Registerer; Clients that share a label are summed.
type poolCollector struct {
	desc *prometheus.Desc

	mu      sync.Mutex
	clients map[string][]*mailer.Client // by label, in Watch order
}

func newPoolCollector() *poolCollector {
	return &poolCollector{
		desc: prometheus.NewDesc("mailer_pool_connections",
			"Connections open in the Client's pool, by state: idle (waiting in the pool) or busy (carrying a message). Their sum is the open connections.",
			[]string{"client", "state"}, nil),
		clients: map[string][]*mailer.Client{},
	}
}

// Describe implements prometheus.Collector.
func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

// Collect implements prometheus.Collector.
func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for label, cs := range p.clients {
		var idle, busy int
		for _, c := range cs {
			s := c.Stats()
			idle += s.Idle
			busy += s.Busy
		}
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(idle), label, "idle")
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(busy), label, "busy")
	}
}

func (p *poolCollector) add(label string, c *mailer.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, have := range p.clients[label] {
		if have == c {
			return
		}
	}
	p.clients[label] = append(p.clients[label], c)
}

func (p *poolCollector) remove(label string, c *mailer.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := p.clients[label]
	for i, have := range cs {
		if have == c {
			cs = append(cs[:i:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(p.clients, label)
		return
	}
	p.clients[label] = cs
}

// Watch adds c's connection pool to the gauge
// mailer_pool_connections{client,state}, read from [mailer.Client.Stats] at
// each scrape (state is idle or busy; their sum is the open connections).
// Clients watched by Metrics of one label are summed. The returned func
// stops watching c; call it when c is closed for good (a closed Client
// reads 0 until then). Watching the same Client again does nothing.
//
// The events need only m.Option(); Watch is the second line for the pool:
//
//	c, err := mailer.New(provider.QQ(user, pass), m.Option())
//	…
//	defer m.Watch(c)()
func (m *Metrics) Watch(c *mailer.Client) (stop func()) {
	m.pool.add(m.label, c)
	return func() { m.pool.remove(m.label, c) }
}
