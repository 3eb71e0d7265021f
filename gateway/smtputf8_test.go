package gateway_test

import (
	"strings"
	"testing"
)

// Go's net/smtp says SMTPUTF8 at MAIL whenever the server offers it. An
// ASCII message relays to an upstream without the extension; UTF-8 in
// the header still needs it and is refused.
func TestSMTPUTF8OnlyWhenNeeded(t *testing.T) {
	e := relayEnv(t, nil, nil) // upstreams without SMTPUTF8
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test> SMTPUTF8")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "ascii")); !strings.HasPrefix(got, "250") {
		t.Fatalf("ASCII message with SMTPUTF8: %s", got)
	}
	c.expect("250", "MAIL FROM:<a@t1.test> SMTPUTF8")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data("From: a@t1.test\r\nSubject: caf\xc3\xa9\r\n\r\nhi\r\n"); strings.HasPrefix(got, "250") {
		t.Fatalf("UTF-8 header relayed to an upstream without SMTPUTF8: %s", got)
	}
	if n := len(e.ups["a"].Messages()) + len(e.ups["b"].Messages()); n != 1 {
		t.Fatalf("%d messages upstream, want 1", n)
	}
}
