package gateway_test

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/postkit/mailer/gateway"
)

func TestConnectionLimits(t *testing.T) {
	rec := &recorder{}
	y := strings.Replace(baseServer, "limits: {data_idle_timeout: 20s}", "limits: {data_idle_timeout: 20s, max_connections_per_ip: 3}", 1) + policyTenants + `
  capped:
    credentials: [{username: capped, token_sha256: "{{TOKEN:capped}}"}]
    senders: ["@capped.test"]
    limits: {max_connections: 1}
    route: {upstreams: [up]}
`
	e := start(t, setup{yaml: y, opts: []gateway.Option{gateway.WithDelivery("sync", rec)}})
	var open []*rawClient
	for range 3 {
		c := e.dialRaw("submission")
		e.greet(c)
		open = append(open, c)
	}
	c := e.dialRaw("submission")
	if code, msg := c.read(); code != 421 || !strings.HasPrefix(msg, "4.7.0") {
		t.Fatalf("4th connection from one IP: %d %s", code, msg)
	}
	// Another address is not affected.
	c = e.dialRawFrom("submissions", "127.0.0.3")
	e.greet(c)
	for _, o := range open {
		o.conn.Close()
	}

	// A tenant's own cap: the second session of "capped" is refused.
	first := e.dialRawFrom("submissions", "127.0.0.4")
	e.greet(first)
	first.expect("250", "EHLO x")
	first.expect("235", "AUTH PLAIN %s", plain("capped", e.tokens["capped"]))
	second := e.dialRawFrom("submissions", "127.0.0.5")
	e.greet(second)
	second.expect("250", "EHLO x")
	second.expect("421 4.7.0", "AUTH PLAIN %s", plain("capped", e.tokens["capped"]))
	first.expect("250", "MAIL FROM:<a@capped.test>")
}

func TestPasswordHashes(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	y := baseServer + policyTenants + `
  humans:
    credentials:
      - {username: alice, bcrypt: "` + string(bc) + `"}
      - {username: bob, argon2id: "` + cheapArgon2id("battery staple") + `"}
    senders: ["@humans.test"]
    route: {upstreams: [up]}
`
	e := start(t, setup{yaml: y, opts: []gateway.Option{gateway.WithDelivery("sync", &recorder{})}})
	for _, tc := range []struct{ user, pass, want string }{
		{"alice", "correct horse", "235"},
		{"alice", "correct horse", "235"}, // from the verify cache
		{"alice", "wrong", "535 5.7.8"},
		{"bob", "battery staple", "235"},
		{"bob", "battery", "535 5.7.8"},
		{"nobody", "x", "535 5.7.8"},
	} {
		c := e.dialRaw("submissions")
		e.greet(c)
		c.expect("250", "EHLO x")
		c.expect(tc.want, "AUTH PLAIN %s", plain(tc.user, tc.pass))
	}
}

// The certificate is read again on reload: new handshakes get the new one.
func TestCertificateReload(t *testing.T) {
	e, _ := policyEnv(t)
	serial := func() string {
		c, err := tls.Dial("tcp", e.addr("submissions"), &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	e.pki.issue(t, "server", "mailgate.test", []string{"localhost"}, true)
	if err := e.reload(baseServer + policyTenants); err != nil {
		t.Fatal(err)
	}
	if after := serial(); after == before {
		t.Fatal("the old certificate is still served")
	}
}

// cheapArgon2id hashes with small parameters (1 MiB, 1 pass) so the test
// stays fast under -race; the gateway reads the parameters from the hash.
func cheapArgon2id(pw string) string {
	salt := []byte("0123456789abcdef")
	h := argon2.IDKey([]byte(pw), salt, 1, 1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h))
}

// A tenant's own timeouts apply once it has authenticated (the server's
// are 5 minutes and 20 s here): an idle session gets 421, a client that
// stops sending in DATA gets 451 4.4.2 and the connection is closed.
func TestTenantTimeouts(t *testing.T) {
	t.Parallel()
	y := baseServer + policyTenants + `
  brisk:
    credentials: [{username: brisk, token_sha256: "{{TOKEN:brisk}}"}]
    senders: ["@brisk.test"]
    limits: {command_timeout: 1s, data_idle_timeout: 500ms}
    route: {upstreams: [up]}
`
	e := start(t, setup{yaml: y, opts: []gateway.Option{gateway.WithDelivery("sync", &recorder{})}})
	c := e.session("brisk")
	c.expect("250", "MAIL FROM:<a@brisk.test>")
	if code, msg := c.read(); code != 421 || !strings.HasPrefix(msg, "4.4.2") {
		t.Fatalf("idle tenant session: %d %s", code, msg)
	}
	c = e.session("brisk")
	c.expect("250", "MAIL FROM:<a@brisk.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	c.expect("354", "DATA")
	c.conn.Write([]byte("From: a@brisk.test\r\n"))
	if code, msg := c.read(); code != 451 || !strings.HasPrefix(msg, "4.4.2") {
		t.Fatalf("idle DATA: %d %s", code, msg)
	}
	if code, _ := c.cmd("NOOP"); code == 250 {
		t.Fatal("connection still open after the DATA timeout")
	}
}

// L7: the DATA deadline slides. A client that keeps sending, a line every
// 100 ms for 2.5 s, is delivered although its tenant's command timeout (1
// s, go-smtp's ReadTimeout, set once before DATA) and data idle timeout
// (1 s) are both shorter than the whole body. X2: a 3,000-byte command
// line is 500 5.4.0 and the connection closes.
func TestSlowDataAndLongLine(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	y := baseServer + policyTenants + `
  slow:
    credentials: [{username: slow, token_sha256: "{{TOKEN:slow}}"}]
    senders: ["@slow.test"]
    limits: {command_timeout: 1s, data_idle_timeout: 1s}
    route: {upstreams: [up]}
`
	e := start(t, setup{yaml: y, opts: []gateway.Option{gateway.WithDelivery("sync", rec)}})
	c := e.session("slow")
	c.expect("250", "MAIL FROM:<a@slow.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	c.expect("354", "DATA")
	c.conn.Write([]byte("From: a@slow.test\r\n\r\n"))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range 25 {
		<-tick.C
		c.conn.Write([]byte("line " + itoa(i) + "\r\n"))
	}
	c.conn.Write([]byte(".\r\n"))
	if code, msg := c.read(); code != 250 {
		t.Fatalf("slow but steady DATA: %d %s", code, msg)
	}
	if rec.count() != 1 {
		t.Fatalf("%d delivered", rec.count())
	}

	c = e.session("slow")
	c.expect("500 5.4.0", "MAIL FROM:<%s@slow.test>", strings.Repeat("a", 3000))
	if code, msg := c.cmd("NOOP"); code != 0 {
		t.Fatalf("connection open after a too long line: %d %s", code, msg)
	}
}
