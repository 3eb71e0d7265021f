package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const rlRejectsHelp = "Messages refused by a rate limit, by scope (tenant: its messages per minute; upstream: the wait for the account's rate would outlast the relay timeout) and name."

// queueStatsTimeout bounds the queue's Stats at a scrape.
const queueStatsTimeout = 5 * time.Second

// scrapeCollector reads, at each scrape, what the Gateway knows as state
// rather than as events: bans in force, the upstreams' pools and rate
// waits (mailer.Client.Stats), the tenants' daily quota use and the
// durable queue (when the "queue" delivery is a Queue).
type scrapeCollector struct {
	g         *Gateway
	tenantRL  *prometheus.CounterVec // mailgate_ratelimit_rejects_total{scope="tenant"}
	bans      *prometheus.Desc
	pool      *prometheus.Desc
	rlWaits   *prometheus.Desc
	rlRejects *prometheus.Desc
	quota     *prometheus.Desc
	queueJobs *prometheus.Desc
	queueAge  *prometheus.Desc
}

func newScrapeCollector(g *Gateway, tenantRL *prometheus.CounterVec) *scrapeCollector {
	return &scrapeCollector{
		g:        g,
		tenantRL: tenantRL,
		bans:     prometheus.NewDesc("mailgate_auth_bans_active", "Client IPs banned now for AUTH failures.", nil, nil),
		pool: prometheus.NewDesc("mailgate_upstream_pool_connections",
			"Connections open to each upstream, by state: idle (in the pool) or busy (carrying a message).", []string{"upstream", "state"}, nil),
		rlWaits: prometheus.NewDesc("mailgate_ratelimit_waits_total",
			"Upstream attempts that waited for the account's rate limit, by scope (upstream) and name; since the upstream's last change.", []string{"scope", "name"}, nil),
		rlRejects: prometheus.NewDesc("mailgate_ratelimit_rejects_total", rlRejectsHelp, []string{"scope", "name"}, nil),
		quota: prometheus.NewDesc("mailgate_quota_used_ratio",
			"Share of the tenant's daily message quota used (UTC day), for tenants with one.", []string{"tenant", "window"}, nil),
		queueJobs: prometheus.NewDesc("mailgate_queue_jobs",
			"Messages in the durable queue by state (available, retryable, running, held).", []string{"state"}, nil),
		queueAge: prometheus.NewDesc("mailgate_queue_oldest_seconds",
			"Age of the oldest message in the durable queue not yet finished; 0 when it is empty.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bans, c.pool, c.rlWaits, c.quota, c.queueJobs, c.queueAge} {
		ch <- d
	}
	c.tenantRL.Describe(ch) // the same name as c.rlRejects
}

// Collect implements prometheus.Collector.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	now := g.now()
	ch <- prometheus.MustNewConstMetric(c.bans, prometheus.GaugeValue, float64(g.fails.activeBans(now)))

	c.tenantRL.Collect(ch)
	g.ups.mu.RLock()
	for name, u := range g.ups.clients {
		st := u.client.Stats()
		ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(st.Idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(st.Busy), name, "busy")
		ch <- prometheus.MustNewConstMetric(c.rlWaits, prometheus.CounterValue, float64(st.RateWaits), "upstream", name)
		ch <- prometheus.MustNewConstMetric(c.rlRejects, prometheus.CounterValue, float64(st.RateRejects), "upstream", name)
	}
	g.ups.mu.RUnlock()

	s := g.snap.Load()
	for _, name := range s.tenantOrder {
		t := s.tenants[name]
		if t.perDay <= 0 {
			continue
		}
		used := g.rates.dayUsed(name, now)
		ch <- prometheus.MustNewConstMetric(c.quota, prometheus.GaugeValue, float64(used)/float64(t.perDay), name, "day")
	}

	if q, ok := g.delivery["queue"].(Queue); ok {
		ctx, cancel := context.WithTimeout(g.ctx, queueStatsTimeout)
		st, err := q.Stats(ctx)
		cancel()
		if err != nil {
			// No figures rather than wrong ones; readiness reports the queue.
			g.log.Warn("metrics: queue stats", "error", err)
			return
		}
		for _, v := range []struct {
			state string
			n     int64
		}{{"available", st.Available}, {"retryable", st.Retryable}, {"running", st.Running}, {"held", st.Held}} {
			ch <- prometheus.MustNewConstMetric(c.queueJobs, prometheus.GaugeValue, float64(v.n), v.state)
		}
		ch <- prometheus.MustNewConstMetric(c.queueAge, prometheus.GaugeValue, st.Oldest.Seconds())
	}
}

// dayUsed is how many messages tenant name has sent (or reserved) in the
// current UTC day.
func (r *rates) dayUsed(name string, now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[name] == nil {
		return 0
	}
	return r.get(name, now).nDay
}
