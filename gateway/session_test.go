package gateway_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postkit/mailer/gateway"
)

// recorder is a Delivery that keeps what it is given and accepts it.
type recorder struct {
	mu  sync.Mutex
	txs []gateway.Transaction
}

func (r *recorder) Deliver(_ context.Context, tx *gateway.Transaction) gateway.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *tx
	c.Message = append([]byte(nil), tx.Message...)
	r.txs = append(r.txs, c)
	return gateway.Result{Reply: &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK"}, Outcome: "delivered"}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.txs)
}

const policyTenants = `
upstreams:
  up: {url: "smtp://127.0.0.1:9?tls=none"}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    recipients: {deny: ["*@competitor.example"]}
    limits: {max_message_bytes: 2000, max_recipients: 3}
    route: {upstreams: [up]}
  t2:
    credentials: [{username: app2, token_sha256: "{{TOKEN:app2}}"}]
    senders: ["noreply@t2.test"]
    limits: {messages_per_minute: 2, messages_per_day: 3}
    route: {upstreams: [up]}
  old:
    credentials: [{username: old, token_sha256: "{{TOKEN:old}}", expires: 2020-01-01}]
    senders: ["@old.test"]
    route: {upstreams: [up]}
`

func policyEnv(t *testing.T) (*env, *recorder) {
	rec := &recorder{}
	e := start(t, setup{yaml: baseServer + policyTenants, opts: []gateway.Option{gateway.WithDelivery("sync", rec)}})
	return e, rec
}

func TestNoOpenRelay(t *testing.T) {
	e, rec := policyEnv(t)
	for _, l := range []string{"submission", "submissions", "local"} {
		c := e.dialRaw(l)
		e.greet(c)
		ehlo := c.expect("250", "EHLO client.test")
		if l != "submissions" && strings.Contains(ehlo, "AUTH") {
			t.Errorf("%s: AUTH offered before TLS: %q", l, ehlo)
		}
		if l == "submissions" && !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
			t.Errorf("%s: AUTH PLAIN LOGIN not offered over TLS: %q", l, ehlo)
		}
		c.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")
		c.expect("5", "RCPT TO:<r@ext.example>")
		if l != "submissions" {
			c.expect("523 5.7.10", "AUTH PLAIN %s", plain("app1", e.tokens["app1"]))
			c.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")
		}
	}
	if rec.count() != 0 {
		t.Fatal("a message went upstream")
	}
}

// AUTH before TLS (T2): 523 5.7.10, never a login, and an audit line (one
// a connection), so that whoever reads the audit knows a credential
// crossed the network in clear text and should be rotated. go-smtp
// refused it without telling the backend, so nothing was audited.
func TestAuthBeforeTLSAudited(t *testing.T) {
	t.Parallel()
	e, _ := policyEnv(t)
	for _, l := range []string{"submission", "local"} {
		c := e.dialRaw(l)
		e.greet(c)
		if ehlo := c.expect("250", "EHLO client.test"); strings.Contains(ehlo, "AUTH") {
			t.Fatalf("%s: AUTH offered before TLS: %q", l, ehlo)
		}
		c.expect("523 5.7.10", "AUTH PLAIN %s", plain("app1", e.tokens["app1"]))
		c.expect("523 5.7.10", "AUTH LOGIN")
		c.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")
	}
	var refused int
	for _, l := range e.auditLines() {
		if !strings.Contains(l, `"event":"auth"`) {
			continue
		}
		if !strings.Contains(l, `"result":"refused"`) || !strings.Contains(l, `"reason":"no_tls"`) {
			t.Fatalf("auth line: %s", l)
		}
		refused++
	}
	if refused != 2 { // one a connection
		t.Fatalf("%d auth lines refused for no TLS, want 2", refused)
	}
}

func TestAuthMechanisms(t *testing.T) {
	e, _ := policyEnv(t)
	tok := e.tokens["app1"]
	b64 := func(s string) string { return plain("", "")[:0] + encode(s) }

	c := e.dialRaw("submission")
	e.greet(c)
	c.starttls(e.pki.pool)
	c.expect("250", "EHLO x")
	c.expect("504 5.7.4", "AUTH CRAM-MD5")
	c.expect("334", "AUTH LOGIN")
	c.expect("334", "%s", b64("app1"))
	c.expect("235", "%s", b64(tok))
	c.expect("503 5.5.1", "AUTH PLAIN %s", plain("app1", tok))
	c.expect("250", "MAIL FROM:<a@t1.test>")

	c = e.dialRaw("submissions")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("334", "AUTH LOGIN %s", b64("app1")) // initial-response form
	c.expect("235", "%s", b64(tok))
	c.expect("250", "EHLO again") // still authenticated after EHLO
	c.expect("250", "MAIL FROM:<a@t1.test>")

	c = e.dialRaw("submissions")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("501 5.5.2", "AUTH PLAIN %s", b64("no-nuls-here"))
	c.expect("535 5.7.8", "AUTH PLAIN %s", plain("old", e.tokens["old"])) // expired
	c.expect("334", "AUTH PLAIN")
	c.expect("235", "%s", plain("app1", tok))
}

func TestBruteForce(t *testing.T) {
	e, rec := policyEnv(t)
	c := e.dialRaw("submissions")
	e.greet(c)
	c.expect("250", "EHLO x")
	for i := 1; i <= 20; i++ {
		c.expect("535 5.7.8", "AUTH PLAIN %s", plain("app1", "wrong-password-"+itoa(i)))
	}
	// Banned: the connection is closed, and new ones are refused.
	if code, msg := c.cmd("NOOP"); code != 0 {
		t.Fatalf("connection still open after the ban: %d %s", code, msg)
	}
	c = e.dialRaw("submission")
	if code, msg := c.read(); code != 421 {
		t.Fatalf("banned IP: got %d %s, want 421", code, msg)
	}
	// The user is not locked out: from another address it works.
	c = e.dialRawFrom("submissions", "127.0.0.2")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("235", "AUTH PLAIN %s", plain("app1", e.tokens["app1"]))
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "m1")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	lines := e.auditLines()
	fails := 0
	lastDelay := int64(0)
	for _, l := range lines {
		if strings.Contains(l, `"event":"auth"`) && strings.Contains(l, `"result":"fail"`) {
			fails++
			// The wait before each 535 grows (1 ms a failure here, up to max_delay 20 ms).
			var rec struct {
				DelayMS int64 `json:"delay_ms"`
				Banned  bool  `json:"banned"`
				User    string
			}
			json.Unmarshal([]byte(l), &rec)
			if rec.DelayMS <= lastDelay && rec.DelayMS < 20 || rec.User != "app1" || rec.Banned != (fails == 20) {
				t.Fatalf("failure %d: delay %d ms after %d, banned %v: %s", fails, rec.DelayMS, lastDelay, rec.Banned, l)
			}
			lastDelay = rec.DelayMS
		}
		if strings.Contains(l, "wrong-password") || strings.Contains(l, e.tokens["app1"]) || strings.Contains(l, plain("app1", "wrong-password-1")) {
			t.Fatalf("a secret in the audit: %s", l)
		}
	}
	if fails != 20 || rec.count() != 1 {
		t.Fatalf("%d failed auth lines, %d messages", fails, rec.count())
	}
}

// A ban also holds on the banned address's connections that were open
// before it: no more guesses there, not even the right password (A6). The
// listener alone refused only new connections, so an attacker with 50
// connections open had 50 times the per-IP allowance.
func TestBanHoldsOnOpenConnections(t *testing.T) {
	t.Parallel()
	e, _ := policyEnv(t)
	open := func() *rawClient {
		c := e.dialRaw("submissions")
		e.greet(c)
		c.expect("250", "EHLO x")
		return c
	}
	guess, right, login := open(), open(), open()
	c := open()
	for i := 1; i <= 20; i++ {
		c.expect("535 5.7.8", "AUTH PLAIN %s", plain("app1", "wrong-password-"+itoa(i)))
	}
	guess.expect("421 4.7.0", "AUTH PLAIN %s", plain("app1", "wrong-password-21"))
	right.expect("421 4.7.0", "AUTH PLAIN %s", plain("app1", e.tokens["app1"]))
	login.expect("421 4.7.0", "AUTH LOGIN")
	for _, c := range []*rawClient{guess, right, login} {
		if code, msg := c.cmd("NOOP"); code != 0 {
			t.Fatalf("connection of a banned address still open: %d %s", code, msg)
		}
	}
	if n := strings.Count(strings.Join(e.auditLines(), "\n"), `"reason":"banned"`); n != 3 {
		t.Fatalf("%d auth lines with reason banned, want 3", n)
	}
}

func TestSenderAndRecipientRules(t *testing.T) {
	e, rec := policyEnv(t)
	c := e.session("app1")
	c.expect("553 5.7.1", "MAIL FROM:<ceo@t2.test>")
	c.expect("553 5.7.1", "MAIL FROM:<>")
	c.expect("250", "MAIL FROM:<a@t1.test> AUTH=admin@t2.test")
	c.expect("550 5.7.1", "RCPT TO:<boss@competitor.example>")
	c.expect("250", "RCPT TO:<r1@ext.example>")
	c.expect("250", "RCPT TO:<r2@ext.example>")
	c.expect("250", "RCPT TO:<r3@ext.example>")
	c.expect("452 4.5.3", "RCPT TO:<r4@ext.example>")
	if got := c.data(msg("ceo@t2.test", "r1@ext.example", "m1")); !strings.HasPrefix(got, "550 5.7.1") {
		t.Fatalf("header From not owned: %s", got)
	}
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r1@ext.example>")
	if got := c.data("From: a@t1.test\r\nSender: x@t2.test\r\n\r\nhi\r\n"); !strings.HasPrefix(got, "550 5.7.1") {
		t.Fatalf("Sender not owned: %s", got)
	}
	c.expect("552 5.3.4", "MAIL FROM:<a@t1.test> SIZE=999999")
	c.expect("250", "MAIL FROM:<a@t1.test> SIZE=100")
	c.expect("250", "RCPT TO:<r1@ext.example>")
	big := msg("a@t1.test", "r1@ext.example", "big") + strings.Repeat("x", 78) + strings.Repeat("\r\n"+strings.Repeat("x", 78), 40)
	if got := c.data(big); !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("too large: %s", got)
	}
	// The next transaction on the same connection works.
	c.expect("250", "MAIL FROM:<A@T1.TEST>")
	c.expect("250", "RCPT TO:<r1@ext.example>")
	if got := c.data(msg("Someone <a@t1.test>", "r1@ext.example", "ok")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	loop := strings.Repeat("Received: x\r\n", 50) + msg("a@t1.test", "r@x", "loop")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r1@ext.example>")
	if got := c.data(loop); !strings.HasPrefix(got, "554 5.4.6") {
		t.Fatalf("loop: %s", got)
	}
	if rec.count() != 1 {
		t.Fatalf("%d messages delivered, want 1", rec.count())
	}
}

func TestRateAndQuota(t *testing.T) {
	e, rec := policyEnv(t)
	send := func(c *rawClient, want string) {
		t.Helper()
		code, text := c.cmd("MAIL FROM:<noreply@t2.test>")
		if code != 250 {
			if !strings.HasPrefix(itoa(code)+" "+text, want) {
				t.Fatalf("MAIL: %d %s, want %s", code, text, want)
			}
			return
		}
		c.expect("250", "RCPT TO:<r@ext.example>")
		if got := c.data(msg("noreply@t2.test", "r@ext.example", "rate")); !strings.HasPrefix(got, want) {
			t.Fatalf("got %s want %s", got, want)
		}
	}
	// Start just after a minute boundary so the two windows are clear.
	now := e.clock.now()
	e.clock.advance(now.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(now))
	if e.clock.now().Hour() == 23 && e.clock.now().Minute() >= 55 {
		e.clock.advance(10 * time.Minute) // keep the day window for the test
	}
	c := e.session("app2")
	send(c, "250")
	send(c, "250")
	send(c, "451 4.7.1") // minute limit
	e.clock.advance(time.Minute)
	send(c, "250")
	send(c, "451 4.7.1") // day quota (3)
	e.clock.advance(24 * time.Hour)
	send(c, "250")
	if rec.count() != 4 {
		t.Fatalf("%d delivered", rec.count())
	}
}

func TestSmugglingNeverEndsData(t *testing.T) {
	e, rec := policyEnv(t)
	c := e.session("app1")
	accepted := 0
	smuggled := "\r\nMAIL FROM:<a@t1.test>\r\nRCPT TO:<victim@ext.example>\r\nDATA\r\nFrom: a@t1.test\r\n\r\nsmuggled\r\n"
	for name, eod := range map[string]string{
		"LF.LF":     "\n.\n",
		"CR.CR":     "\r.\r",
		"LF.CRLF":   "\n.\r\n",
		"CR.CRLF":   "\r.\r\n",
		"CRLF.LF":   "\r\n.\n",
		"CRLF.CR":   "\r\n.\r",
		"bare CR":   "\r",
		"bare LF":   "\n",
		"CR LF.CR ": "\r\n.\r ",
	} {
		c.expect("250", "MAIL FROM:<a@t1.test>")
		c.expect("250", "RCPT TO:<r@ext.example>")
		body := msg("a@t1.test", "r@ext.example", "smug") + "line" + eod + smuggled
		// Refused for its bare CR or LF, or (where go-smtp's reader has
		// already folded ".\r\r\n" into a line end) relayed as one message.
		got := c.data(body)
		switch {
		case strings.HasPrefix(got, "550 5.6.0"):
		case strings.HasPrefix(got, "250"):
			accepted++
		default:
			t.Fatalf("%s: %s", name, got)
		}
	}
	c.expect("250", "NOOP") // still in step: nothing was read as commands
	if rec.count() != accepted {
		t.Fatalf("%d messages went upstream for %d accepted", rec.count(), accepted)
	}
	for _, tx := range rec.txs {
		if len(tx.To) != 1 || tx.To[0] != "r@ext.example" || !strings.Contains(string(tx.Message), "smuggled") {
			t.Fatalf("smuggled text not inside the one message: %+v", tx.To)
		}
	}
}

// No password, token or AUTH payload (base64 included) in the audit or
// the operational log.
func TestNoSecretsInLogs(t *testing.T) {
	var logBuf syncBuffer
	e := start(t, setup{yaml: baseServer + policyTenants, opts: []gateway.Option{
		gateway.WithDelivery("sync", &recorder{}),
		gateway.WithLogger(slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}})
	tok := e.tokens["app1"]
	c := e.dialRaw("submissions")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("535", "AUTH PLAIN %s", plain("app1", "hunter2-wrong"))
	c.expect("334", "AUTH LOGIN")
	c.expect("334", "%s", encode("app1"))
	c.expect("535", "%s", encode("hunter3-wrong"))
	c.expect("235", "AUTH PLAIN %s", plain("app1", tok))
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.cmd("QUIT")
	shutdownBounded(t, e.g)
	all := logBuf.String() + strings.Join(e.auditLines(), "\n")
	for _, secret := range []string{tok, "hunter2", "hunter3", plain("app1", tok), plain("app1", "hunter2-wrong"), encode("hunter3-wrong"), encode(tok)} {
		if strings.Contains(all, secret) {
			t.Fatalf("%q found in the logs", secret)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// T6 (CVE-2011-0411 class): commands pipelined after STARTTLS in the same
// packet are discarded, not run inside the TLS session.
func TestSTARTTLSDropsPipelinedCommands(t *testing.T) {
	t.Parallel()
	e, _ := policyEnv(t)
	c := e.dialRaw("submission")
	e.greet(c)
	c.expect("250", "EHLO client.test")
	c.conn.Write([]byte("STARTTLS\r\nRSET\r\nMAIL FROM:<a@t1.test>\r\n"))
	if code, msg := c.read(); code != 220 {
		t.Fatalf("STARTTLS: %d %s", code, msg)
	}
	tc := tls.Client(c.conn, &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.tp = tc, newTP(tc)
	// The first reply in TLS is EHLO's, and no MAIL is in progress.
	if got := c.expect("250", "EHLO client.test"); !strings.Contains(got, "AUTH PLAIN") {
		t.Fatalf("EHLO after STARTTLS: %q", got)
	}
	c.expect("250", "NOOP")
	c.expect("502 5.5.1", "RCPT TO:<r@ext.example>")
}
