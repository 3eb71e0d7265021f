package gateway_test

import (
	"slices"
	"strings"
	"testing"
)

// A recipient deny rule holds for every spelling of the address that the
// upstream would deliver to the same mailbox: a local part with "/"
// (atext, but path.Match's "*" stopped at it), and domains that IDNA maps
// onto the denied one (full-width letters, the ideographic full stop,
// upper case, the punycode of a denied Unicode domain), which the mailer
// sends upstream in their ASCII form.
func TestRecipientDenyEverySpelling(t *testing.T) {
	e := start(t, setup{yaml: baseServer + `
upstreams:
  a: {{UP:a}}}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    recipients: {deny: ["*@competitor.example", "@bücher.example", "*.rival.example"]}
    route: {upstreams: [a]}
`})
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	for _, r := range []string{
		"a/b@competitor.example",
		"x@competitor\u3002example",
		"x@\uff43\uff4f\uff4d\uff50\uff45\uff54\uff49\uff54\uff4f\uff52.example",
		"x@COMPETITOR.EXAMPLE",
		"x@xn--bcher-kva.example",
		"x@B\u00dcCHER.example",
		"x@mail.RIVAL\uff0eexample",
	} {
		c.expect("550 5.7.1", "RCPT TO:<%s>", r)
	}
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "deny")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"r@ext.example"}) {
		for _, m := range msgs {
			t.Logf("upstream got RCPT %q", m.To)
		}
		t.Fatalf("%d messages upstream, want 1 to r@ext.example only", len(msgs))
	}
}

// An envelope address the mailer would not send (an IP literal, a quoted
// local part, a trailing dot) is refused at MAIL or RCPT with 501, and
// the message goes to the other recipients. Accepted there, it made the
// upstream Client refuse the whole message after DATA, answered as
// "554 Rejected by upstream" although no upstream had seen it.
func TestEnvelopeSyntaxAtMailAndRcpt(t *testing.T) {
	e := relayEnv(t, nil, nil)
	c := e.session("app1")
	c.expect("501 5.1.7", `MAIL FROM:<"ceo@t2.test"@t1.test>`)
	c.expect("501 5.1.7", `MAIL FROM:<a@[10.0.0.1]>`)
	c.expect("250", "MAIL FROM:<a@t1.test>")
	for _, r := range []string{"x@[10.0.0.1]", `"a b"@ext.example`, `"x@competitor.example"@ext.example`, "x@ext.example.", "x@-bad.example"} {
		c.expect("501 5.1.3", "RCPT TO:<%s>", r)
	}
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "syntax")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"r@ext.example"}) {
		t.Fatalf("%d messages upstream, want 1 to r@ext.example", len(msgs))
	}
}
