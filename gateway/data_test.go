package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/gateway"
)

// messageAudit returns the message audit line whose id is id.
func (e *env) messageAudit(id string) map[string]any {
	e.t.Helper()
	for _, l := range e.auditLines() {
		var r map[string]any
		json.Unmarshal([]byte(l), &r)
		if r["event"] == "message" && r["id"] == id {
			return r
		}
	}
	e.t.Fatalf("no message audit line with id %s", id)
	return nil
}

// A message without a Message-ID gets one, <transaction id@hostname>,
// right under the gateway's Received: line; the audit line and the
// upstream see the same one. A message that has one keeps its bytes.
func TestMessageIDAddedWhenMissing(t *testing.T) {
	t.Parallel()
	e := relayEnv(t, nil, nil)
	c := e.client("app1")
	raw := []byte("From: app@t1.test\r\nTo: r@ext.example\r\nSubject: no id\r\n\r\nbody\r\n")
	rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.example"}}, raw)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(rc.Response, "250 2.0.0 OK id="), " ")
	want := "<" + id + "@mailgate.test>"
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages upstream", len(msgs))
	}
	_, rest := stripReceived(t, msgs[0].Data)
	if got := string(rest); got != "Message-ID: "+want+"\r\n"+string(raw) {
		t.Fatalf("upstream got %q, want the Message-ID %s on top of the client's bytes", got, want)
	}
	if got := e.messageAudit(id)["message_id"]; got != want {
		t.Fatalf("audit message_id %v, want %s", got, want)
	}

	// With a Message-ID (any case of the name): untouched.
	raw = []byte("From: app@t1.test\r\nTo: r@ext.example\r\nmessage-id: <mine@t1.test>\r\n\r\nbody\r\n")
	rc, err = c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.example"}}, raw)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ = strings.Cut(strings.TrimPrefix(rc.Response, "250 2.0.0 OK id="), " ")
	if _, rest := stripReceived(t, e.ups["a"].Messages()[1].Data); !bytes.Equal(rest, raw) {
		t.Fatalf("bytes changed: %q", rest)
	}
	if got := e.messageAudit(id)["message_id"]; got != "<mine@t1.test>" {
		t.Fatalf("audit message_id %v", got)
	}
}

// In queue mode the queue record carries the added Message-ID, and the
// message the worker sends has it.
func TestMessageIDAddedQueueMode(t *testing.T) {
	t.Parallel()
	e := queueEnv(t, "", 0, nil, nil)
	c := e.client("app1")
	raw := []byte("From: app@t1.test\r\nTo: r@ext.test\r\nSubject: no id\r\n\r\nqueued\r\n")
	rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, raw)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(rc.Response, "250 2.0.0 queued as ")
	want := "<" + id + "@mailgate.test>"
	q := e.g.Queue()
	waitQueue(t, q)
	items, err := q.List(context.Background(), "t1", 10)
	if err != nil || len(items) != 1 || items[0].MessageID != want {
		t.Fatalf("queue items %+v, %v; want message_id %s", items, err, want)
	}
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages upstream", len(msgs))
	}
	if _, rest := stripReceived(t, msgs[0].Data); string(rest) != "Message-ID: "+want+"\r\n"+string(raw) {
		t.Fatalf("upstream got %q", rest)
	}
	if got := e.messageAudit(id)["message_id"]; got != want {
		t.Fatalf("audit message_id %v, want %s", got, want)
	}
}

// headerOf returns a header section of exactly n bytes (ending in CRLF,
// the blank line not counted), with a Message-ID.
func headerOf(t *testing.T, n int) string {
	t.Helper()
	h := "From: app@t1.test\r\nTo: r@ext.example\r\nMessage-ID: <big@t1.test>\r\n"
	for len(h) < n {
		left := n - len(h)
		line := min(left, 900)
		if left-line > 0 && left-line < 10 {
			line -= 10 // leave room for a last, short line
		}
		h += "X-Pad: " + strings.Repeat("p", line-9) + "\r\n"
	}
	if len(h) != n {
		t.Fatalf("header of %d bytes, want %d", len(h), n)
	}
	return h
}

// A header section over 64 KiB is refused with 552 5.3.4 (a size limit,
// permanent) whatever the body's size; the connection goes on, and a
// header of exactly 64 KiB with a large body is relayed.
func TestHeaderOver64KiBRefused(t *testing.T) {
	t.Parallel()
	e := relayEnv(t, nil, nil)
	c := e.session("app1")
	body := strings.Repeat(strings.Repeat("b", 76)+"\r\n", 4000) // 312,000 bytes
	c.expect("250", "MAIL FROM:<app@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(headerOf(t, 64<<10+1) + "\r\n" + body); !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("header of 64 KiB + 1: %q, want 552 5.3.4", got)
	}
	c.expect("250", "MAIL FROM:<app@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(headerOf(t, 64<<10) + "\r\n" + body); !strings.HasPrefix(got, "250") {
		t.Fatalf("header of 64 KiB: %q, want 250", got)
	}
	if n := len(e.ups["a"].Messages()); n != 1 {
		t.Fatalf("%d messages upstream, want 1", n)
	}
	var out string
	for _, l := range e.auditLines() {
		if strings.Contains(l, `"event":"message"`) && strings.Contains(l, "rejected:") {
			out = l
		}
	}
	if !strings.Contains(out, `"outcome":"rejected:header_too_large"`) {
		t.Fatalf("audit of the refusal: %s", out)
	}
}

// A failed login does the same password work whether the user exists or
// not (A2, no user enumeration by timing): an unknown user, an expired
// credential and a wrong password each cost one comparison of the
// configuration's password scheme and cost. Counted, not timed.
func TestLoginSameWorkUnknownUser(t *testing.T) {
	t.Parallel()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost+1)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	y := baseServer + `
upstreams:
  up: {url: "smtp://127.0.0.1:9?tls=none"}
tenants:
  t1:
    credentials:
      - {username: human, bcrypt: "` + hash("right") + `"}
      - {username: gone, bcrypt: "` + hash("right") + `", expires: 2020-01-01}
      - {username: cheap, bcrypt: "$2a$04$nOUIs5kJ7naTuTFkBy1veuK0kSxUFXfuaOKdOKf9xYT0KKIGSJwFa"}
    senders: ["@t1.test"]
    route: {upstreams: [up]}
`
	e := start(t, setup{yaml: y, opts: []gateway.Option{gateway.WithDelivery("sync", &recorder{})}})
	take := gateway.CountPasswordChecks(e.g)
	c := e.dialRaw("submissions")
	e.greet(c)
	c.expect("250", "EHLO x")
	want := map[string]int{"bcrypt/5": 1} // the decoy has the users' cost
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "human", "wrong"},
		{"unknown user", "nobody", "wrong"},
		{"expired", "gone", "right"},
		{"authorization identity", "human\x00x", "right"},
	} {
		user, pass := tc.user, tc.pass
		resp := plain(user, pass)
		if authz, u, ok := strings.Cut(user, "\x00"); ok {
			resp = encode(u + "\x00" + authz + "\x00" + pass)
		}
		c.expect("535 5.7.8", "AUTH PLAIN %s", resp)
		if got := take(); !maps.Equal(got, want) {
			t.Errorf("%s: password checks %v, want %v", tc.name, got, want)
		}
	}
	c.expect("235", "AUTH PLAIN %s", plain("human", "right"))

	// Tokens only: an unknown user costs one SHA-256 comparison, as a
	// wrong token does.
	e, _ = policyEnv(t)
	take = gateway.CountPasswordChecks(e.g)
	c = e.dialRaw("submissions")
	e.greet(c)
	c.expect("250", "EHLO x")
	for _, user := range []string{"app1", "nobody", "old"} {
		c.expect("535 5.7.8", "AUTH PLAIN %s", plain(user, "wrong"))
		if got, want := take(), map[string]int{"sha256": 1}; !maps.Equal(got, want) {
			t.Errorf("%s: password checks %v, want %v", user, got, want)
		}
	}
}
