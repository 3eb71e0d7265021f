package gateway_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/postkit/mailer/gateway"
)

// A recipient deny rule holds for every spelling of the address that the
// upstream would deliver to the same mailbox: a local part with "/"
// (atext, but path.Match's "*" stopped at it), and domains that IDNA maps
// onto the denied one (full-width letters, the ideographic full stop,
// upper case, the punycode of a denied Unicode domain), which the mailer
// sends upstream in their ASCII form.
func TestRecipientDenyEverySpelling(t *testing.T) {
	t.Parallel()
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

// A glob rule whose domain is Unicode ("*@*.bücher.example",
// "*@bücher.*") holds for the Unicode and the punycode spelling of a
// recipient, as a rule without a glob does: its labels without a glob
// are compared in IDNA ASCII form (the form every recipient is compared
// in), its glob labels as written. The glob's domain was left Unicode,
// so a deny rule matched nothing and an allow rule refused everything.
func TestRecipientGlobUnicodeDomain(t *testing.T) {
	t.Parallel()
	e := start(t, setup{yaml: baseServer + `
upstreams:
  a: {{UP:a}}}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    recipients: {deny: ["*@*.bücher.example", "*@bücher.*", "*@*.ｒival。example"]}
    route: {upstreams: [a]}
  t2:
    credentials: [{username: app2, token_sha256: "{{TOKEN:app2}}"}]
    senders: ["@t2.test"]
    recipients: {allow: ["*@*.bücher.example", "*@BÜCHER.*"]}
    route: {upstreams: [a]}
`})
	matching := []string{
		"x@shop.b\u00fccher.example",
		"x@shop.xn--bcher-kva.example",
		"x@SHOP.B\u00dcCHER.EXAMPLE",
		"x@shop.b\u00fccher\u3002example",
		"x@b\u00fccher.example",
		"x@xn--bcher-kva.test",
		"x@b\u00fccher.test",
	}
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	for _, r := range append(matching, "x@mail.rival.example", "x@mail.\uff52ival.example") {
		c.expect("550 5.7.1", "RCPT TO:<%s>", r)
	}
	c.expect("250", "RCPT TO:<r@buecher.example>")
	c.expect("250", "RCPT TO:<r@shop.bucher.example>")
	c.expect("221", "QUIT")

	c = e.session("app2")
	c.expect("250", "MAIL FROM:<a@t2.test>")
	for _, r := range matching {
		c.expect("250", "RCPT TO:<%s>", r)
	}
	c.expect("550 5.7.1", "RCPT TO:<r@buecher.example>")
	c.expect("550 5.7.1", "RCPT TO:<r@shop.bucher.example>")
	c.expect("221", "QUIT")
}

// A glob label with non-ASCII letters ("bü*") cannot match reliably:
// recipients are compared in punycode, where "bü*" has no spelling (the
// punycode of "bücher" does not start with that of "bü"). Such a rule is
// a configuration error that names the tenant and the pattern.
func TestRecipientGlobNonASCIILabelRefused(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	cfg, err := gateway.ParseConfig([]byte(baseServer + `
upstreams:
  up: {url: "smtp://127.0.0.1:9?tls=none"}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "` + strings.Repeat("ab", 32) + `"}]
    senders: ["@t1.test"]
    recipients: {allow: ["*@*.bücher.example"], deny: ["*@bü*.example", "*@x.Ｃ*.example"]}
    route: {upstreams: [up]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(pki.dir)
	_, err = gateway.Compile(cfg)
	var ce *gateway.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	want := []string{
		`tenants.t1.recipients.deny[0]: pattern "*@bü*.example": label "bü*" mixes glob characters with non-ASCII ones`,
		`tenants.t1.recipients.deny[1]: pattern "*@x.Ｃ*.example": label "ｃ*" mixes glob characters with non-ASCII ones`,
	}
	if len(ce.Errors) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(ce.Errors), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
}

// An envelope address the mailer would not send (an IP literal, a quoted
// local part, a trailing dot) is refused at MAIL or RCPT with 501, and
// the message goes to the other recipients. Accepted there, it made the
// upstream Client refuse the whole message after DATA, answered as
// "554 Rejected by upstream" although no upstream had seen it.
func TestEnvelopeSyntaxAtMailAndRcpt(t *testing.T) {
	t.Parallel()
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
