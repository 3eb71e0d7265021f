package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

// t2 of the acceptance setup: 5 messages a minute, no daily quota.
const windowTenants = `
upstreams:
  up: {url: "smtp://127.0.0.1:9?tls=none"}
tenants:
  t2:
    credentials: [{username: app2, token_sha256: "{{TOKEN:app2}}"}]
    senders: ["noreply@t2.test"]
    limits: {messages_per_minute: 5}
    route: {upstreams: [up]}
`

// sendOne sends one message from noreply@t2.test and returns the reply
// to MAIL when it is not 250, else the reply to the final dot.
func sendOne(c *rawClient, subject string) string {
	c.t.Helper()
	code, text := c.cmd("MAIL FROM:<noreply@t2.test>")
	if code != 250 {
		return itoa(code) + " " + text
	}
	c.expect("250", "RCPT TO:<r@ext.example>")
	return c.data(msg("noreply@t2.test", "r@ext.example", subject))
}

// L4: messages_per_minute holds over any 60 s, not per calendar minute.
// One message at :55 and four at :59.5, then a sixth at :00.5 of the next
// minute: it is 451 4.7.1 at MAIL (a calendar minute let it through: ten
// in two seconds), and ratelimit_rejects_total{scope="tenant",name="t2"}
// counts it. 60 s after the first message one more goes, and the window
// slides: the next is refused until the four of :59.5 have left it. The
// clock is frozen, so each message's time is exact.
func TestRatePerMinuteSlides(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	e := start(t, setup{yaml: baseServer + windowTenants, opts: []gateway.Option{gateway.WithDelivery("sync", rec)}})
	// Minute M starts at m; the day does not change before M+2.
	m := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	if m.Hour() == 23 && m.Minute() >= 58 {
		m = m.Add(5 * time.Minute)
	}
	e.clock.freezeAt(m.Add(55 * time.Second))
	c := e.session("app2")
	want := func(subject, prefix, why string) {
		t.Helper()
		if got := sendOne(c, subject); !strings.HasPrefix(got, prefix) {
			t.Fatalf("%s at %s: %s, want %s", why, e.clock.now().Format("15:04:05.0"), got, prefix)
		}
	}
	want("m0", "250", "1st message")
	e.clock.advance(4500 * time.Millisecond) // M:59.5
	for i := range 4 {
		want("m"+itoa(i+1), "250", "message "+itoa(i+2))
	}
	e.clock.advance(time.Second) // M+1:00.5
	want("m5", "451 4.7.1", "6th message within a minute")
	f := e.scrapeHTTP()
	if got := f.series("mailgate_ratelimit_rejects_total"); len(got) != 1 || got["name=t2,scope=tenant"] != 1 {
		t.Fatalf("mailgate_ratelimit_rejects_total %v, want name=t2,scope=tenant 1", got)
	}
	e.clock.advance(54400 * time.Millisecond) // M+1:54.9, 59.9 s after the first
	want("m6", "451 4.7.1", "59.9 s after the first")
	e.clock.advance(100 * time.Millisecond) // M+1:55.0, 60 s after the first
	want("m7", "250", "60 s after the first")
	want("m8", "451 4.7.1", "the window slides: the four of M:59.5 are still in it")
	e.clock.advance(4500 * time.Millisecond) // M+1:59.5: they have left it
	for i := range 4 {
		want("n"+itoa(i), "250", "after the four left the window, message "+itoa(i+1))
	}
	want("n4", "451 4.7.1", "5 in the window again")
	if rec.count() != 10 {
		t.Fatalf("%d messages delivered, want 10", rec.count())
	}
}

// A reservation given back (the message was not accepted) frees its place
// in the window at once.
func TestRateReleaseOnFailure(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	e := start(t, setup{yaml: baseServer + windowTenants, opts: []gateway.Option{gateway.WithDelivery("sync", rec)}})
	c := e.session("app2")
	for i := range 4 {
		if got := sendOne(c, "m"+itoa(i)); !strings.HasPrefix(got, "250") {
			t.Fatalf("message %d: %s", i+1, got)
		}
	}
	// The fifth place is taken by MAIL and given back by RSET, three times.
	for range 3 {
		c.expect("250", "MAIL FROM:<noreply@t2.test>")
		c.expect("250", "RSET")
	}
	// A refused DATA gives it back too (bare LF).
	c.expect("250", "MAIL FROM:<noreply@t2.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data("From: noreply@t2.test\nSubject: x\r\n\r\nbad\r\n"); !strings.HasPrefix(got, "550 5.6.0") {
		t.Fatalf("bare LF: %s", got)
	}
	if got := sendOne(c, "m4"); !strings.HasPrefix(got, "250") {
		t.Fatalf("5th message: %s", got)
	}
	if got := sendOne(c, "m5"); !strings.HasPrefix(got, "451 4.7.1") {
		t.Fatalf("6th message: %s", got)
	}
}
