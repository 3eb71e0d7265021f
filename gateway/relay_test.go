package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

const relayTenants = `
upstreams:
  a: {{UP:a}}, senders: ["@t1.test"]}
  b: {{UP:b}}}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    route: {upstreams: [a, b]}
`

func relayEnv(t *testing.T, a, b []mailertest.Option) *env {
	return start(t, setup{yaml: baseServer + relayTenants, upstreams: map[string][]mailertest.Option{"a": a, "b": b}})
}

// client is this library's Client, submitting to the gateway as app1.
func (e *env) client(user string) *mailer.Client {
	e.t.Helper()
	c, err := mailer.New(mailer.WithURL("smtp://"+user+":"+e.tokens[user]+"@"+e.addr("submission")),
		mailer.WithRootCAs(e.pki.pool), mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// stripReceived removes the first header field and returns it and the rest.
func stripReceived(t *testing.T, data []byte) (string, []byte) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("Received: ")) {
		t.Fatalf("no Received: on top: %q", data[:min(len(data), 80)])
	}
	i := 0
	for {
		j := bytes.Index(data[i:], []byte("\r\n"))
		i += j + 2
		if data[i] != ' ' && data[i] != '\t' {
			return string(data[:i]), data[i:]
		}
	}
}

func TestRelayByteExact(t *testing.T) {
	e := relayEnv(t, []mailertest.Option{mailertest.WithSMTPUTF8()}, nil)
	c := e.client("app1")
	raw := []byte("From: App <app@t1.test>\r\nTo: r@ext.example\r\nSubject: =?UTF-8?B?w6k=?=\r\nMessage-ID: <exact@t1.test>\r\n" +
		"X-Odd:   spacing\t kept \r\n\r\n.leading dot\r\n..two dots\r\nline\r\n\r\n\r\ntrailing blank lines\r\n")
	rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.example", "bcc@ext.example"}}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rc.Response, "upstream=a") {
		t.Fatalf("response %q", rc.Response)
	}
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages upstream", len(msgs))
	}
	m := msgs[0]
	recv, rest := stripReceived(t, m.Data)
	if !bytes.Equal(rest, raw) {
		t.Fatalf("bytes changed:\n got %q\nwant %q", rest, raw)
	}
	if !strings.Contains(recv, "(tenant t1)") || !strings.Contains(recv, "by mailgate.test") || strings.Count(string(m.Data), "Received:") != 1 {
		t.Fatalf("Received line %q", recv)
	}
	if strings.Join(m.To, ",") != "r@ext.example,bcc@ext.example" || bytes.Contains(m.Data, []byte("bcc@")) {
		t.Fatalf("envelope %v", m.To)
	}
	if !m.TLS || m.AuthUser != "relay" {
		t.Fatalf("upstream leg: TLS %v auth %q", m.TLS, m.AuthUser)
	}

	// Bcc through Send: only in the envelope.
	msg, err := mailer.NewMessage().From("app@t1.test").To("to@ext.example").Bcc("hidden@ext.example").
		Subject("bcc").Text("hi").Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	m = e.ups["a"].Messages()[1]
	if !strings.Contains(strings.Join(m.To, ","), "hidden@ext.example") || bytes.Contains(m.Data, []byte("hidden@")) {
		t.Fatalf("Bcc: envelope %v", m.To)
	}

	// SMTPUTF8 passes through.
	utf := []byte("From: josé@t1.test\r\nTo: 用户@ext.example\r\nSubject: utf8\r\n\r\nhi\r\n")
	if _, err := c.SendRaw(context.Background(), mailer.Envelope{From: "josé@t1.test", To: []string{"用户@ext.example"}, SMTPUTF8: true}, utf); err != nil {
		t.Fatal(err)
	}
	m = e.ups["a"].Messages()[2]
	if m.From != "josé@t1.test" || m.To[0] != "用户@ext.example" {
		t.Fatalf("utf8 envelope %q %v", m.From, m.To)
	}
	// It has no Message-ID: the gateway's comes first, then the bytes.
	if _, rest := stripReceived(t, m.Data); !bytes.HasPrefix(rest, []byte("Message-ID: <")) ||
		!bytes.Equal(rest[bytes.Index(rest, []byte("\r\n"))+2:], utf) {
		t.Fatalf("utf8 bytes %q", rest)
	}
	if !strings.Contains(string(m.Data), "UTF8SMTPSA") {
		t.Fatalf("Received protocol: %q", m.Data[:200])
	}
}

func TestRelayUpstreamFaults(t *testing.T) {
	t.Parallel()
	send := func(e *env, subject string) (string, error) {
		c := e.dialRaw("submissions")
		e.greet(c)
		c.expect("250", "EHLO x")
		c.expect("235", "AUTH PLAIN %s", plain("app1", e.tokens["app1"]))
		c.expect("250", "MAIL FROM:<a@t1.test>")
		c.expect("250", "RCPT TO:<r@ext.example>")
		return c.data(msg("a@t1.test", "r@ext.example", subject)), nil
	}
	t.Run("451 at MAIL on both", func(t *testing.T) {
		f := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepMAIL, Reply: "451 4.3.0 try later, host 10.1.2.3"})
		e := relayEnv(t, []mailertest.Option{f}, []mailertest.Option{f})
		got, _ := send(e, "m")
		if !strings.HasPrefix(got, "451 4.4.1") || strings.Contains(got, "10.1.2.3") {
			t.Fatal(got)
		}
	})
	t.Run("550 after data", func(t *testing.T) {
		f := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Reply: "550 5.7.1 spam detected by filter.internal 10.1.2.3"})
		e := relayEnv(t, []mailertest.Option{f}, nil)
		got, _ := send(e, "m")
		if !strings.HasPrefix(got, "550 5.7.1 Rejected by upstream (ref ") || strings.Contains(got, "10.1.2.3") || strings.Contains(got, "spam") {
			t.Fatal(got)
		}
		if e.ups["b"].Connections() != 0 {
			t.Fatal("failed over after a permanent refusal")
		}
	})
	t.Run("connection refused fails over", func(t *testing.T) {
		e := relayEnv(t, nil, nil)
		e.ups["a"].Close()
		got, _ := send(e, "m")
		if !strings.HasPrefix(got, "250 2.0.0 OK id=") || !strings.Contains(got, "upstream=b") || len(e.ups["b"].Messages()) != 1 {
			t.Fatal(got)
		}
		lines := e.auditLines()
		var last string
		for _, l := range lines {
			if strings.Contains(l, `"event":"message"`) {
				last = l
			}
		}
		if !strings.Contains(last, `"upstream":"b"`) || strings.Count(last, `"upstream":`) != 3 || !strings.Contains(last, `"outcome":"delivered"`) {
			t.Fatalf("audit: %s", last)
		}
	})
	t.Run("535 at upstream AUTH fails over", func(t *testing.T) {
		f := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepAUTH, Reply: "535 5.7.8 bad credentials"})
		e := relayEnv(t, []mailertest.Option{f}, nil)
		got, _ := send(e, "m")
		if !strings.HasPrefix(got, "250") || len(e.ups["b"].Messages()) != 1 {
			t.Fatal(got)
		}
	})
	t.Run("drop after the dot", func(t *testing.T) {
		f := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Drop: true})
		e := relayEnv(t, []mailertest.Option{f}, nil)
		got, _ := send(e, "m")
		if !strings.HasPrefix(got, "451 4.4.2") {
			t.Fatal(got)
		}
		if e.ups["b"].Connections() != 0 {
			t.Fatal("upstream 2 was tried after an unknown outcome")
		}
		if len(e.ups["a"].Messages()) != 1 {
			t.Fatal("upstream 1 should hold the one copy")
		}
	})
	t.Run("larger than every upstream's SIZE", func(t *testing.T) {
		small := mailertest.WithMaxMessageBytes(100)
		e := relayEnv(t, []mailertest.Option{small}, []mailertest.Option{small})
		got, _ := send(e, "m")
		if !strings.HasPrefix(got, "552 5.3.4") || len(e.ups["a"].Messages())+len(e.ups["b"].Messages()) != 0 {
			t.Fatal(got)
		}
	})
}

// Real clients as applications use them: Python's smtplib and swaks.
func TestRelayPythonAndSwaks(t *testing.T) {
	t.Parallel()
	e := relayEnv(t, nil, nil)
	py := pythonPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // bounds python and swaks
	defer cancel()
	script := filepath.Join(e.dir, "send.py")
	os.WriteFile(script, []byte(`
import smtplib, ssl, sys
host, port, user, token, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
msg = "From: py@t1.test\r\nTo: r@ext.example\r\nSubject: python\r\n\r\nfrom smtplib\r\n"
with smtplib.SMTP(host, port, timeout=20) as s:
    s.starttls(context=ctx)
    s.login(user, token)
    s.sendmail("py@t1.test", ["r@ext.example"], msg)
try:
    with smtplib.SMTP(host, port, timeout=20) as s:
        s.sendmail("py@t1.test", ["r@ext.example"], msg)
    print("UNAUTHENTICATED SEND ACCEPTED")
except smtplib.SMTPSenderRefused as e:
    print("refused", e.smtp_code)
`), 0o600)
	host, port, _ := strings.Cut(e.addr("submission"), ":")
	out, err := exec.CommandContext(ctx, py, script, host, port, "app1", e.tokens["app1"], filepath.Join(e.dir, "ca.pem")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "refused 530" {
		t.Fatalf("python: %v\n%s", err, out)
	}

	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (apt-get install swaks); .ci/run installs it")
	}
	if exec.Command("perl", "-MNet::SSLeay", "-MIO::Socket::SSL", "-e1").Run() != nil {
		t.Skip("swaks cannot speak TLS: apt-get install libnet-ssleay-perl libio-socket-ssl-perl (.ci/run does)")
	}
	// The three swaks runs go at once: each is a Perl start-up and a TLS
	// handshake, most of this test's time.
	type result struct {
		name string
		out  []byte
		err  error
	}
	runs := map[string][]string{
		"PLAIN": {"--server", e.addr("submission"), "-tls", "--auth", "PLAIN", "--auth-user", "app1", "--auth-password", e.tokens["app1"],
			"-f", "swaks@t1.test", "-t", "r@ext.example", "--h-Subject", "swaks PLAIN"},
		"LOGIN": {"--server", e.addr("submission"), "-tls", "--auth", "LOGIN", "--auth-user", "app1", "--auth-password", e.tokens["app1"],
			"-f", "swaks@t1.test", "-t", "r@ext.example", "--h-Subject", "swaks LOGIN"},
		"foreign": {"--server", e.addr("submissions"), "--tls-on-connect", "--auth", "PLAIN", "--auth-user", "app1",
			"--auth-password", e.tokens["app1"], "-f", "ceo@t2.test", "-t", "r@ext.example"},
	}
	results := make(chan result, len(runs))
	for name, args := range runs {
		go func() {
			out, err := exec.CommandContext(ctx, swaks, args...).CombinedOutput()
			results <- result{name, out, err}
		}()
	}
	for range runs {
		r := <-results
		if r.name == "foreign" {
			if !strings.Contains(string(r.out), "<~* 553 5.7.1") {
				t.Fatalf("swaks foreign sender:\n%s", r.out)
			}
			continue
		}
		if r.err != nil || !strings.Contains(string(r.out), "<~  235") || !strings.Contains(string(r.out), "<~  250 2.0.0 OK id=") {
			t.Fatalf("swaks %s: %v\n%s", r.name, r.err, r.out)
		}
	}
	if n := len(e.ups["a"].Messages()); n != 3 {
		t.Fatalf("%d messages upstream, want 3", n)
	}
}

func pythonPath(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} { // pyenv's shim starts in seconds
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("python3 is not installed")
	return ""
}

// Sent through this library's Client, an unknown outcome at the gateway
// is a temporary error the caller sees as such.
func TestRelayClientSeesTemporary(t *testing.T) {
	f := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepMAIL, Reply: "421 4.7.0 throttled"})
	e := relayEnv(t, []mailertest.Option{f}, []mailertest.Option{f})
	c := e.client("app1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.SendRaw(ctx, mailer.Envelope{From: "a@t1.test", To: []string{"r@ext.example"}}, []byte(msg("a@t1.test", "r@ext.example", "x")))
	var se *mailer.SendError
	if !errors.As(err, &se) || se.Code != 451 || mailer.Classify(err) != mailer.OutcomeTemporary {
		t.Fatalf("got %v", err)
	}
}

// BDAT (CHUNKING, which go-smtp always offers): the chunks are relayed as
// one message, a line starting with "." arrives intact, RSET between
// chunks discards it.
func TestRelayBDAT(t *testing.T) {
	e := relayEnv(t, nil, nil)
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	part1 := "From: a@t1.test\r\nSubject: bdat\r\nMessage-ID: <bdat@t1.test>\r\n\r\n.dot line\r\n"
	part2 := "..two\r\nend\r\n"
	c.conn.Write([]byte(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1)))
	if code, msg := c.read(); code != 250 {
		t.Fatalf("BDAT 1: %d %s", code, msg)
	}
	c.conn.Write([]byte(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2)))
	if code, msg := c.read(); code != 250 {
		t.Fatalf("BDAT LAST: %d %s", code, msg)
	}
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if _, rest := stripReceived(t, msgs[0].Data); string(rest) != part1+part2 {
		t.Fatalf("got %q", rest)
	}
	// RSET in the middle of a chunked message.
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	c.conn.Write([]byte(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1)))
	c.read()
	c.expect("250", "RSET")
	c.expect("250", "NOOP")
	if n := len(e.ups["a"].Messages()); n != 1 {
		t.Fatalf("%d messages after RSET", n)
	}
}

// A reload that replaces an upstream's Client while a message is about to
// go through the old one: nothing was sent, so the new Client takes it.
// The old one answered ErrClientClosed, which the relay took for the
// upstream's permanent refusal: 554 for a reload of ours.
func TestRelayAcrossReload(t *testing.T) {
	t.Parallel()
	e := relayEnv(t, nil, nil)
	changed := strings.Replace(e.yaml, `senders: ["@t1.test"]}`, `senders: ["@t1.test"], pool: 3}`, 1)
	if changed == e.yaml {
		t.Fatal("the upstream's configuration did not change")
	}
	var once sync.Once
	gateway.SetSendHook(e.g, func() {
		once.Do(func() {
			cfg, err := gateway.ParseConfig([]byte(changed))
			if err != nil {
				t.Error(err)
				return
			}
			cfg.SetDir(e.dir)
			if err := e.g.Reload(cfg); err != nil {
				t.Error(err)
			}
			gateway.WaitRetiredUpstreams(e.g) // the Client taken is closed now
		})
	})
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "reload")); !strings.HasPrefix(got, "250 2.0.0 OK") || !strings.Contains(got, "upstream=a") {
		t.Fatalf("message sent across a reload: %s", got)
	}
	if n := len(e.ups["a"].Messages()); n != 1 {
		t.Fatalf("%d messages at upstream a", n)
	}
	// A reload that removes the upstream: the next one in the chain.
	i := strings.Index(changed, "\n  a: ")
	j := strings.Index(changed[i+1:], "\n") + i + 1
	changed = strings.Replace(changed[:i]+changed[j:], "upstreams: [a, b]", "upstreams: [b]", 1)
	once = sync.Once{}
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "removed")); !strings.HasPrefix(got, "250 2.0.0 OK") || !strings.Contains(got, "upstream=b") {
		t.Fatalf("message sent across a reload that removed its upstream: %s", got)
	}
}
