package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

const metricsTenants = `
upstreams:
  primary: {{UP:primary}}, pool: 1}
  backup: {{UP:backup}}, pool: 1}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    recipients: {deny: ["*@competitor.example"]}
    limits: {max_message_bytes: 2000, max_recipients: 2}
    route: {upstreams: [primary, backup]}
  t2:
    credentials: [{username: app2, token_sha256: "{{TOKEN:app2}}"}]
    senders: ["noreply@t2.test"]
    limits: {messages_per_minute: 1}
    route: {upstreams: [primary]}
  t3:
    credentials: [{username: app3, token_sha256: "{{TOKEN:app3}}"}]
    senders: ["@t3.test"]
    limits: {messages_per_day: 1}
    route: {upstreams: [primary]}
`

// upBlock writes the upstream block that {{UP:name}} expanded to, so that
// a reload names the same servers (and keeps their clients).
func (e *env) upBlock(name string) string {
	srv := e.ups[name]
	return fmt.Sprintf("{url: \"smtp://relay@%s\", password_file: %s, ca_file: %s", srv.Addr(),
		filepath.Join(e.dir, "up-"+name+"-pw"), filepath.Join(e.dir, "up-"+name+"-ca.pem"))
}

// failTLS opens a connection to listener whose TLS handshake fails after
// the ClientHello: the client does not trust the gateway's certificate.
func (e *env) failTLS(listener string) {
	e.t.Helper()
	var conn net.Conn
	if listener == "submissions" {
		var err error
		if conn, err = dialQuiet(e.addr(listener)); err != nil {
			e.t.Fatal(err)
		}
	} else {
		c := e.dialRaw(listener)
		e.greet(c)
		c.expect("250", "EHLO client.test")
		c.expect("220", "STARTTLS")
		conn = c.conn
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: "localhost"}) // no RootCAs: unknown authority
	if err := tc.Handshake(); err == nil {
		e.t.Fatal("TLS handshake succeeded")
	}
}

// swaks runs the swaks client against the STARTTLS listener; it returns
// swaks' exit error (nil for a 250).
func (e *env) swaks(user, pass, from string) error {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swaks", "--server", e.addr("submission"), "--tls",
		"--auth", "LOGIN", "--auth-user", user, "--auth-password", pass,
		"--from", from, "--to", "r@ext.example", "--header", "Subject: swaks", "--silent", "2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Logf("swaks: %v\n%s", err, out)
	}
	return err
}

// TestMetricsScrape drives the gateway with real SMTP clients through a
// known sequence, then scrapes /metrics over HTTP, parses it with
// Prometheus' text parser and checks every counter against what it did.
func TestMetricsScrape(t *testing.T) {
	e := start(t, setup{yaml: baseServer + metricsTenants, upstreams: map[string][]mailertest.Option{
		"primary": {mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepMAIL, On: 1, Reply: "451 4.3.0 Busy, try later"},
			mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "554 5.6.0 Content rejected"},
		)},
	}})
	before := time.Now()
	send := func(c *rawClient, want string, subject string) {
		t.Helper()
		if got := c.data(msg("a@t1.test", "r@ext.example", subject)); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %s, want %s", subject, got, want)
		}
	}

	// t1 on the STARTTLS listener, AUTH PLAIN.
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r1@ext.example>")
	c.expect("550 5.7.1", "RCPT TO:<x@competitor.example>")
	c.expect("250", "RCPT TO:<r2@ext.example>")
	c.expect("452 4.5.3", "RCPT TO:<r3@ext.example>")
	send(c, "250 2.0.0 OK id=", "A") // primary: 451 at MAIL; backup takes it
	c.expect("553 5.7.1", "MAIL FROM:<evil@other.test>")
	c.expect("552 5.3.4", "MAIL FROM:<a@t1.test> SIZE=5000")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data("From: a@t1.test\r\nSubject: B\r\n\r\nbare\nLF\r\n"); !strings.HasPrefix(got, "550 5.6.0") {
		t.Fatalf("bare LF: %s", got)
	}
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	send(c, "554 5.6.0", "C") // primary refuses the content
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	send(c, "250", "D")
	c.expect("221", "QUIT")

	// swaks: AUTH LOGIN over STARTTLS, once right, once wrong.
	if err := e.swaks("app1", e.tokens["app1"], "a@t1.test"); err != nil {
		t.Fatal("swaks with the right token failed")
	}
	if err := e.swaks("app1", "wrong-token", "a@t1.test"); err == nil {
		t.Fatal("swaks with a wrong token succeeded")
	}

	// t2 on the implicit TLS listener: two failed logins, then one that
	// works; one message, then the minute's rate is spent.
	c2 := e.dialRaw("submissions")
	e.greet(c2)
	c2.expect("250", "EHLO client.test")
	c2.expect("535 5.7.8", "AUTH PLAIN %s", plain("mallory", "guess"))
	c2.expect("334", "AUTH LOGIN")
	c2.expect("334", "%s", encode("app2"))
	c2.expect("535 5.7.8", "%s", encode("guess"))
	c2.expect("235", "AUTH PLAIN %s", plain("app2", e.tokens["app2"]))
	c2.expect("250", "MAIL FROM:<noreply@t2.test>")
	c2.expect("250", "RCPT TO:<r@ext.example>")
	if got := c2.data(msg("noreply@t2.test", "r@ext.example", "F")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	c2.expect("451 4.7.1", "MAIL FROM:<noreply@t2.test>")
	c2.expect("221", "QUIT")

	// t3: its day's quota is one message.
	c3 := e.session("app3")
	c3.expect("250", "MAIL FROM:<a@t3.test>")
	c3.expect("250", "RCPT TO:<r@ext.example>")
	if got := c3.data(msg("a@t3.test", "r@ext.example", "G")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	c3.expect("451 4.7.1", "MAIL FROM:<a@t3.test>")
	c3.expect("221", "QUIT")

	// No AUTH at all, on the clear-text listener.
	c4 := e.dialRaw("local")
	e.greet(c4)
	c4.expect("250", "EHLO client.test")
	c4.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")
	c4.expect("221", "QUIT")

	// TLS handshakes that fail, one per TLS listener.
	e.failTLS("submission")
	e.failTLS("submissions")

	// One reload that works (the same configuration), one that does not.
	same := strings.NewReplacer("{{UP:primary}}", e.upBlock("primary"), "{{UP:backup}}", e.upBlock("backup")).Replace(metricsTenants)
	if err := e.reload(baseServer + same); err != nil {
		t.Fatal(err)
	}
	reloaded := time.Now()
	if err := e.reload(baseServer + strings.Replace(same, `senders: ["@t3.test"]`, "senders: []", 1)); err == nil {
		t.Fatal("a broken configuration loaded")
	}

	f := e.waitClosed()
	f.expectExactly(t, "mailgate_connections_total", map[string]float64{
		"listener=submission,result=accepted":  5, // app1, swaks twice, app3, failed STARTTLS
		"listener=submissions,result=accepted": 2, // app2, failed handshake
		"listener=local,result=accepted":       1,
	})
	f.expectExactly(t, "mailgate_connections_active", map[string]float64{})
	f.expectExactly(t, "mailgate_tls_handshake_failures_total", map[string]float64{
		"listener=submission": 1, "listener=submissions": 1,
	})
	f.expectExactly(t, "mailgate_auth_total", map[string]float64{
		"listener=submission,mechanism=PLAIN,result=ok":    2,
		"listener=submission,mechanism=LOGIN,result=ok":    1,
		"listener=submission,mechanism=LOGIN,result=fail":  1,
		"listener=submissions,mechanism=PLAIN,result=fail": 1,
		"listener=submissions,mechanism=LOGIN,result=fail": 1,
		"listener=submissions,mechanism=PLAIN,result=ok":   1,
	})
	f.expectExactly(t, "mailgate_auth_bans_active", map[string]float64{})
	f.expectExactly(t, "mailgate_messages_total", map[string]float64{
		"outcome=delivered,tenant=t1": 3, // A, D, swaks
		"outcome=rejected,tenant=t1":  4, // sender, SIZE, bare LF, upstream 554
		"outcome=delivered,tenant=t2": 1,
		"outcome=rejected,tenant=t2":  1,
		"outcome=delivered,tenant=t3": 1,
		"outcome=rejected,tenant=t3":  1,
	})
	f.expectExactly(t, "mailgate_rejections_total", map[string]float64{
		"reason=recipient_denied,stage=rcpt,tenant=t1":   1,
		"reason=too_many_rcpts,stage=rcpt,tenant=t1":     1,
		"reason=sender_not_allowed,stage=mail,tenant=t1": 1,
		"reason=too_large,stage=mail,tenant=t1":          1,
		"reason=bare_lf,stage=data,tenant=t1":            1,
		"reason=upstream_permanent,stage=data,tenant=t1": 1,
		"reason=rate_limited,stage=mail,tenant=t2":       1,
		"reason=quota,stage=mail,tenant=t3":              1,
		"reason=auth_required,stage=mail,tenant=":        1,
	})
	f.expectExactly(t, "mailgate_recipients_total", map[string]float64{
		"result=accepted,tenant=t1": 6, // A twice, B, C, D, swaks
		"result=denied,tenant=t1":   1,
		"result=too_many,tenant=t1": 1,
		"result=accepted,tenant=t2": 1,
		"result=accepted,tenant=t3": 1,
	})
	f.expectExactly(t, "mailgate_message_size_bytes", map[string]float64{"tenant=t1": 5, "tenant=t2": 1, "tenant=t3": 1})
	f.expectExactly(t, "mailgate_accept_duration_seconds", map[string]float64{
		"mode=sync,tenant=t1": 4, "mode=sync,tenant=t2": 1, "mode=sync,tenant=t3": 1,
	})
	f.expectExactly(t, "mailgate_upstream_attempts_total", map[string]float64{
		"class=4xx,upstream=primary": 1, // A's MAIL
		"class=5xx,upstream=primary": 1, // C's end of data
		"class=2xx,upstream=primary": 4, // D, swaks, F, G
		"class=2xx,upstream=backup":  1, // A
	})
	f.expectExactly(t, "mailgate_upstream_duration_seconds", map[string]float64{"upstream=primary": 6, "upstream=backup": 1})
	f.expectExactly(t, "mailgate_upstream_failovers_total", map[string]float64{"from=primary,to=backup": 1})
	f.expectExactly(t, "mailgate_upstream_pool_connections", map[string]float64{
		"state=idle,upstream=primary": 1, "state=idle,upstream=backup": 1,
	})
	f.expectExactly(t, "mailgate_ratelimit_rejects_total", map[string]float64{"name=t2,scope=tenant": 1})
	f.expectExactly(t, "mailgate_ratelimit_waits_total", map[string]float64{})
	f.expectExactly(t, "mailgate_quota_used_ratio", map[string]float64{"tenant=t3,window=day": 1})
	f.expectExactly(t, "mailgate_config_reloads_total", map[string]float64{"result=ok": 1, "result=error": 1})
	f.expectExactly(t, "mailgate_build_info", map[string]float64{fmt.Sprintf("go_version=%s,version=(devel)", runtime.Version()): 1})
	if _, ok := f["mailgate_audit_write_errors_total"]; !ok {
		t.Error("mailgate_audit_write_errors_total: not exposed")
	}
	f.expectExactly(t, "mailgate_audit_write_errors_total", map[string]float64{})
	if ts := f.sum("mailgate_config_last_reload_success_timestamp_seconds", nil); ts < float64(before.Unix()) || ts > float64(reloaded.Unix()+1) {
		t.Errorf("last reload success at %v, want between %v and %v", ts, before.Unix(), reloaded.Unix())
	}
	if _, ok := f["mailgate_queue_jobs"]; ok {
		t.Error("queue metrics without a queue")
	}

	noPersonalLabels(t, f, []string{"app1", "app2", "app3", "mallory", "relay", e.tokens["app1"], e.tokens["app2"],
		"127.0.0.1", "ext.example", "competitor", "t1.test", "other.test"})
}

// noPersonalLabels checks every label of every family: no value holds an
// address (an "@"), a user name, a token or a client address.
func noPersonalLabels(t *testing.T, f families, forbidden []string) {
	t.Helper()
	n := 0
	for name, mf := range f {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				n++
				v := l.GetValue()
				if strings.Contains(v, "@") {
					t.Errorf("%s{%s=%q}: an address in a label", name, l.GetName(), v)
				}
				for _, bad := range forbidden {
					if bad != "" && strings.Contains(v, bad) {
						t.Errorf("%s{%s=%q}: holds %q", name, l.GetName(), v, bad)
					}
				}
			}
		}
	}
	if n < 50 { // a scrape of a configured gateway has many more
		t.Errorf("only %d labels checked", n)
	}
}

// statsQueue is a Queue with fixed figures (the admin tests have a fuller fake).
type statsQueue struct {
	discard
	stats gateway.QueueStats
}

func (q *statsQueue) Stats(context.Context) (gateway.QueueStats, error) { return q.stats, nil }
func (q *statsQueue) List(context.Context, string, int) ([]gateway.QueueItem, error) {
	return nil, nil
}
func (q *statsQueue) Retry(context.Context, string) error  { return gateway.ErrNotQueued }
func (q *statsQueue) Cancel(context.Context, string) error { return gateway.ErrNotQueued }
func (q *statsQueue) Writable(context.Context) error       { return nil }

// TestMetricsQueue reads the queue's depth and oldest age from the Queue
// behind the "queue" delivery at each scrape.
func TestMetricsQueue(t *testing.T) {
	q := &statsQueue{stats: gateway.QueueStats{Available: 3, Retryable: 2, Running: 1, Held: 4, Oldest: 90 * time.Second}}
	e := start(t, setup{yaml: baseServer + policyTenants, opts: []gateway.Option{gateway.WithDelivery("queue", q)}})
	f := e.scrapeHTTP()
	f.expectExactly(t, "mailgate_queue_jobs", map[string]float64{
		"state=available": 3, "state=retryable": 2, "state=running": 1, "state=held": 4,
	})
	f.expectExactly(t, "mailgate_queue_oldest_seconds", map[string]float64{"": 90})
}

// TestWithoutMetrics: no registry, no /metrics.
func TestWithoutMetrics(t *testing.T) {
	e := start(t, setup{yaml: baseServer + policyTenants, opts: []gateway.Option{gateway.WithoutMetrics()}})
	if e.g.Registry() != nil {
		t.Fatal("a registry without metrics")
	}
	resp, err := httpGet("http://" + e.g.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
}
