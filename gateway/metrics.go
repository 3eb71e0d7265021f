package gateway

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/postkit/mailer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// gwMetrics holds a Gateway's Prometheus collectors, all on the Gateway's
// own Registry (never the global one). Every label value comes from the
// configuration (listener, tenant and upstream names) or from a fixed
// list in this file; none is ever a user name, an address or a
// recipient. A nil *gwMetrics (WithoutMetrics) records nothing.
type gwMetrics struct {
	reg *prometheus.Registry

	connActive   *prometheus.GaugeVec
	connTotal    *prometheus.CounterVec
	tlsFailures  *prometheus.CounterVec
	authTotal    *prometheus.CounterVec
	messages     *prometheus.CounterVec
	rejections   *prometheus.CounterVec
	recipients   *prometheus.CounterVec
	size         *prometheus.HistogramVec
	accept       *prometheus.HistogramVec
	upAttempts   *prometheus.CounterVec
	upDuration   *prometheus.HistogramVec
	failovers    *prometheus.CounterVec
	rlRejects    *prometheus.CounterVec
	auditErrors  prometheus.Counter
	reloads      *prometheus.CounterVec
	reloadOKTime prometheus.Gauge

	hot atomic.Pointer[hotSeries] // see metrics_hot.go
}

// Fixed label values.
var (
	// connResults: accepted, or why the connection was refused.
	connResults = []string{"accepted", "limit", "banned", "draining", "proxy_error"}
	// authResults: ok; fail (bad credentials or a malformed exchange);
	// banned (the failure that banned the client's IP); limit (the tenant's
	// connection limit); temperror (our credential store failed).
	authResults = []string{"ok", "fail", "banned", "limit", "temperror"}
	// authMechs are the mechanisms mailgate offers; anything else is "other".
	authMechs = []string{"PLAIN", "LOGIN", "EXTERNAL"}
	// messageOutcomes are the outcomes of a transaction.
	messageOutcomes = []string{"delivered", "queued", "rejected", "failed", "unknown"}
	// rejectReasons is the reason enum of mailgate_rejections_total: the
	// reference's list plus the rarer refusals the session knows; any
	// other reason counts as "other".
	rejectReasons = []string{"auth_required", "sender_not_allowed", "recipient_denied", "too_many_rcpts", "too_large",
		"rate_limited", "quota", "header_from", "bare_lf", "loop", "timeout", "storage", "upstream_permanent",
		"malformed_header", "aborted", "client_error", "paused", "other"}
	// rcptResults: accepted at RCPT, denied by the tenant's rules, over
	// the tenant's count, or refused by the upstream that took the others.
	rcptResults = []string{"accepted", "denied", "too_many", "upstream_refused"}
	// attemptClasses: the upstream's reply class, or no reply (network),
	// or an end of data without a reply (unknown: maybe delivered).
	attemptClasses = []string{"2xx", "4xx", "5xx", "network", "unknown"}
)

// sessionReasons maps the session's own reasons (as in the audit's
// "rejected:<reason>") onto the enum.
var sessionReasons = map[string]string{"sender_not_on_route": "sender_not_allowed", "header_too_large": "too_large"}

// Histogram buckets: message sizes from 1 KiB to 64 MiB; times from 5 ms
// (a pipelined relay on a warm connection) to a minute.
var (
	sizeBuckets = prometheus.ExponentialBuckets(1024, 4, 9)
	timeBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

func newMetrics(g *Gateway) *gwMetrics {
	reg := prometheus.NewRegistry()
	m := &gwMetrics{reg: reg}
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgate_" + name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	m.connActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mailgate_connections_active",
		Help: "Client connections open now, by listener."}, []string{"listener"})
	reg.MustRegister(m.connActive)
	m.connTotal = f("connections_total", "Client connections, accepted or refused (limit, banned, draining), by listener.", "listener", "result")
	m.tlsFailures = f("tls_handshake_failures_total", "TLS handshakes (implicit TLS or STARTTLS) that began and did not complete, by listener; on an implicit TLS listener a connection closed before its handshake counts.", "listener")
	m.authTotal = f("auth_total", "AUTH attempts and client-certificate logins, by listener, mechanism and result.", "listener", "mechanism", "result")
	m.messages = f("messages_total", "Mail transactions by tenant and outcome (delivered, queued, rejected, failed, unknown).", "tenant", "outcome")
	m.rejections = f("rejections_total", "Refusals by tenant, stage (mail, rcpt, data) and reason (a fixed list); tenant is empty before AUTH.", "tenant", "stage", "reason")
	m.recipients = f("recipients_total", "Recipients by tenant and result (accepted, denied, too_many, upstream_refused).", "tenant", "result")
	m.size = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mailgate_message_size_bytes",
		Help: "Size of the messages received (the client's bytes), by tenant.", Buckets: sizeBuckets}, []string{"tenant"})
	m.accept = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mailgate_accept_duration_seconds",
		Help: "Time from the end of DATA to the reply, by tenant and delivery mode.", Buckets: timeBuckets}, []string{"tenant", "mode"})
	m.upDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mailgate_upstream_duration_seconds",
		Help: "Time of each upstream attempt, by upstream.", Buckets: timeBuckets}, []string{"upstream"})
	reg.MustRegister(m.size, m.accept, m.upDuration)
	m.upAttempts = f("upstream_attempts_total", "Upstream attempts by upstream and reply class (2xx, 4xx, 5xx, network, unknown).", "upstream", "class")
	m.failovers = f("upstream_failovers_total", "Messages passed from one upstream of a route to the next.", "from", "to")
	// Collected with the upstreams' figures by the scrape collector.
	m.rlRejects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgate_ratelimit_rejects_total",
		Help: rlRejectsHelp}, []string{"scope", "name"})
	m.auditErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgate_audit_write_errors_total",
		Help: "Audit lines that could not be written, failed reopens of the audit file, and truncations of it found by the writer."})
	m.reloads = f("config_reloads_total", "Configuration reloads by result (ok, error).", "result")
	m.reloadOKTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mailgate_config_last_reload_success_timestamp_seconds",
		Help: "When the running configuration was loaded (at New, or by the last successful Reload), in Unix seconds."})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mailgate_build_info",
		Help: "Always 1; the labels say which mailgate runs."}, []string{"version", "go_version"})
	build.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	reg.MustRegister(m.auditErrors, m.reloadOKTime, build, newScrapeCollector(g, m.rlRejects),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reloadOKTime.Set(float64(g.now().UnixNano()) / 1e9)
	for _, r := range []string{"ok", "error"} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

// buildVersion is the gateway module's version as the Go toolchain
// recorded it, "(devel)" in a source build.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	const mod = "github.com/postkit/mailer/gateway"
	if bi.Main.Path == mod && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == mod {
			return d.Version
		}
	}
	return "(devel)"
}

// declare makes the series of the configured names exist at 0, so that
// rate() sees the first event; called at New and at each Reload.
func (m *gwMetrics) declare(s *snapshot) {
	if m == nil {
		return
	}
	for _, l := range s.listeners {
		m.connActive.WithLabelValues(l.Name)
		m.tlsFailures.WithLabelValues(l.Name)
		for _, r := range connResults[:3] {
			m.connTotal.WithLabelValues(l.Name, r)
		}
	}
	m.hot.Store(m.buildHot(s)) // declares the tenants' and upstreams' series
}

// conn counts a connection accepted (result "") or refused.
func (m *gwMetrics) conn(listener, refused string) {
	if m == nil {
		return
	}
	if refused == "" {
		m.connTotal.WithLabelValues(listener, "accepted").Inc()
		m.connActive.WithLabelValues(listener).Inc()
		return
	}
	m.connTotal.WithLabelValues(listener, oneOf(refused, connResults, "limit")).Inc()
}

// closed counts a connection's end; tlsFailed says its TLS handshake
// began and never completed.
func (m *gwMetrics) closed(listener string, tlsFailed bool) {
	if m == nil {
		return
	}
	if tlsFailed {
		m.tlsFailures.WithLabelValues(listener).Inc()
	}
	m.connActive.WithLabelValues(listener).Dec()
}

// auth counts an authentication.
func (m *gwMetrics) auth(listener, mech, result string) {
	if m == nil {
		return
	}
	mech = oneOf(strings.ToUpper(mech), authMechs, "other")
	m.authTotal.WithLabelValues(listener, mech, oneOf(result, authResults, "fail")).Inc()
}

// reject counts a refusal at stage mail, rcpt or data; reason is the
// audit's reason, mapped onto the enum.
func (m *gwMetrics) reject(tenant, stage, reason string) {
	if m == nil {
		return
	}
	if r, ok := sessionReasons[reason]; ok {
		reason = r
	}
	m.rejections.WithLabelValues(tenant, stage, oneOf(reason, rejectReasons, "other")).Inc()
}

// message counts a transaction's outcome: "delivered", "queued",
// "failed", "unknown" or "rejected:<reason>".
func (m *gwMetrics) message(tenant, outcome string) {
	if m == nil {
		return
	}
	o, _, _ := strings.Cut(outcome, ":")
	i := index(messageOutcomes, o)
	if i < 0 {
		o, i = "failed", index(messageOutcomes, "failed")
	}
	if ts := m.tenantHot(tenant); ts != nil {
		ts.outcomes[i].Inc()
		return
	}
	m.messages.WithLabelValues(tenant, o).Inc()
}

// rcpt counts n recipients of tenant with result.
func (m *gwMetrics) rcpt(tenant, result string, n int) {
	if m == nil || n == 0 {
		return
	}
	if ts := m.tenantHot(tenant); ts != nil && result == "accepted" {
		ts.rcptAccepted.Add(float64(n))
		return
	}
	m.recipients.WithLabelValues(tenant, result).Add(float64(n))
}

// received observes a message's size and the time from the end of its
// DATA to the reply.
func (m *gwMetrics) received(tenant, mode string, size int, accept time.Duration) {
	if m == nil {
		return
	}
	if ts := m.tenantHot(tenant); ts != nil && ts.mode == mode {
		ts.size.Observe(float64(size))
		ts.accept.Observe(accept.Seconds())
		return
	}
	m.size.WithLabelValues(tenant).Observe(float64(size))
	m.accept.WithLabelValues(tenant, mode).Observe(accept.Seconds())
}

// delivered counts what a Delivery did with a message of size bytes,
// answered accept after the end of its DATA.
func (m *gwMetrics) delivered(tenant, mode string, size int, accept time.Duration, res *Result) {
	if m == nil {
		return
	}
	m.message(tenant, res.Outcome)
	m.received(tenant, mode, size, accept)
	m.rcpt(tenant, "upstream_refused", len(res.FailedRecipients))
	if reason, ok := strings.CutPrefix(res.Outcome, "rejected:"); ok {
		m.reject(tenant, "data", reason)
	}
}

// rejectedTx counts a transaction the session refused, at MAIL or (inData)
// at the end of DATA; size is the message's, if it was read.
func (m *gwMetrics) rejectedTx(tenant string, inData bool, size int, reason string) {
	if m == nil {
		return
	}
	m.message(tenant, "rejected")
	stage := "mail"
	if inData {
		stage = "data"
		if size > 0 {
			m.size.WithLabelValues(tenant).Observe(float64(size))
		}
	}
	m.reject(tenant, stage, reason)
}

// authResult is the metrics' result of a failed AUTH.
func authResult(banned bool) string {
	if banned {
		return "banned"
	}
	return "fail"
}

// attempt counts one upstream attempt: its reply code (0 for none) and
// whether, without a reply, the upstream may have the message. The sync
// relay calls it for each upstream it tries; a delivery that sends later
// (queue workers) calls it, and failover, the same way.
func (m *gwMetrics) attempt(upstream string, code int, unknown bool, d time.Duration) {
	if m == nil {
		return
	}
	class := 3 // network
	switch {
	case code >= 200 && code < 300:
		class = 0
	case code >= 400 && code < 500:
		class = 1
	case code >= 500 && code < 600:
		class = 2
	case unknown:
		class = 4
	}
	if us := m.upHot(upstream); us != nil {
		us.classes[class].Inc()
		us.duration.Observe(d.Seconds())
		return
	}
	m.upAttempts.WithLabelValues(upstream, attemptClasses[class]).Inc()
	m.upDuration.WithLabelValues(upstream).Observe(d.Seconds())
}

// upstreamAttempt counts an attempt of mailer.Client.SendRaw on upstream
// name that returned err after took.
func (m *gwMetrics) upstreamAttempt(name string, err error, took time.Duration) {
	if m == nil {
		return
	}
	var se *mailer.SendError
	switch outcome := mailer.Classify(err); {
	case err == nil || outcome == mailer.OutcomeDelivered:
		m.attempt(name, 250, false, took)
	case errors.As(err, &se):
		m.attempt(name, se.Code, outcome == mailer.OutcomeUnknown, took)
	default:
		m.attempt(name, 0, outcome == mailer.OutcomeUnknown, took)
	}
}

// failover counts a message passed from one upstream to the next.
func (m *gwMetrics) failover(from, to string) {
	if m == nil {
		return
	}
	m.failovers.WithLabelValues(from, to).Inc()
}

// rateRejected counts a message refused by a tenant's rate limit.
func (m *gwMetrics) rateRejected(scope, name string) {
	if m == nil {
		return
	}
	m.rlRejects.WithLabelValues(scope, name).Inc()
}

// auditError counts an audit line that could not be written, a failed
// reopen or a truncation of the audit file.
func (m *gwMetrics) auditError() {
	if m == nil {
		return
	}
	m.auditErrors.Inc()
}

// reload counts a reload; at is when it succeeded.
func (m *gwMetrics) reload(err error, at time.Time) {
	if m == nil {
		return
	}
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
	m.reloadOKTime.Set(float64(at.UnixNano()) / 1e9)
}

// oneOf returns v if it is in list, or else def.
func oneOf(v string, list []string, def string) string {
	for _, x := range list {
		if x == v {
			return v
		}
	}
	return def
}
