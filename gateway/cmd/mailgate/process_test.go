package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

func longTest(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("builds and runs the mailgate binary; set MAILER_TEST_LONG=1")
	}
}

func buildMailgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mailgate")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running mailgate with its output.
type proc struct {
	cmd    *exec.Cmd
	stdout *lineReader
	stderr *lineReader
}

type lineReader struct {
	lines chan string
}

func readLines(r io.Reader) *lineReader {
	l := &lineReader{lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	return l
}

// waitFor returns the first submatch of re in the next lines.
func (l *lineReader) waitFor(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("output ended before %q", re)
			}
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q within 30s", re)
		}
	}
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	so, _ := cmd.StdoutPipe()
	se, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &proc{cmd: cmd, stdout: readLines(so), stderr: readLines(se)}
}

// wait waits for the process to exit; if it has not within 60 s it kills
// it and fails the test instead of hanging it.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-done
		t.Fatal("mailgate did not exit within 60s")
		return nil
	}
}

func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	if err := writeSelfSigned(dir); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

type smtpConn struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dialSubmission(t *testing.T, addr string, pool *x509.CertPool, user, token string) *smtpConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second)) // a stuck reply fails the test, not the go test timeout
	s := &smtpConn{t: t, conn: c, tp: textproto.NewConn(c)}
	s.expect(220, "")
	s.expect(250, "EHLO x")
	s.expect(235, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+token)))
	return s
}

func (s *smtpConn) expect(code int, line string) string {
	s.t.Helper()
	if line != "" {
		s.tp.PrintfLine("%s", line)
	}
	got, msg, err := s.tp.ReadResponse(0)
	if got != code {
		s.t.Fatalf("%q: got %d %s %v, want %d", line, got, msg, err, code)
	}
	return msg
}

const procConfig = `
server:
  hostname: mailgate.test
  listeners: [{name: submissions, addr: "127.0.0.1:0", tls: implicit}]
  tls: {cert_file: cert.pem, key_file: key.pem}
  drain_timeout: 60s
upstreams:
  sink: {url: "smtp://%s?tls=none"}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "%s"}]
    senders: ["@t1.test"]
    route: {upstreams: [sink]}
audit: {path: audit.jsonl}
`

// SIGTERM during a 10 MiB DATA: that message completes and is relayed,
// an idle session is closed, the process exits 0; SIGHUP with a broken
// file keeps the old configuration, with a good one revokes a token.
func TestProcessSignals(t *testing.T) {
	longTest(t)
	bin := buildMailgate(t)
	dir := t.TempDir()
	pool := writeCert(t, dir)
	sink := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	tok, hash := gateway.NewToken()
	cfgPath := filepath.Join(dir, "mailgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(procConfig, sink.Addr(), hash)), 0o600)

	p := startProc(t, bin, "-config", cfgPath)
	addr := p.stderr.waitFor(t, `msg=listening listener=submissions addr=(\S+)`)[1]

	// SIGHUP: a broken file keeps the running configuration.
	os.WriteFile(cfgPath, []byte("server: [broken"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.waitFor(t, `reload failed; the running configuration stays`)
	idle := dialSubmission(t, addr, pool, "app1", tok)

	busy := dialSubmission(t, addr, pool, "app1", tok)
	busy.expect(250, "MAIL FROM:<a@t1.test>")
	busy.expect(250, "RCPT TO:<r@ext.example>")
	busy.expect(354, "DATA")
	w := bufio.NewWriterSize(busy.conn, 64<<10)
	w.WriteString("From: a@t1.test\r\nTo: r@ext.example\r\nSubject: big\r\n\r\n")
	line := strings.Repeat("y", 998) + "\r\n"
	const lines = 10<<20/1000 + 1
	for range lines / 2 {
		w.WriteString(line)
	}
	w.Flush()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.stderr.waitFor(t, `msg=draining`)
	if code, _, _ := idle.tp.ReadResponse(0); code != 421 {
		t.Fatalf("idle session got %d, want 421", code)
	}
	for range lines - lines/2 {
		w.WriteString(line)
	}
	w.WriteString(".\r\n")
	w.Flush()
	busy.expect(250, "")
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || len(msgs[0].Data) < 10<<20 {
		t.Fatalf("%d messages at the sink", len(msgs))
	}
	out, err := exec.Command(bin, "audit", "verify", filepath.Join(dir, "audit.jsonl")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Fatalf("audit verify: %v %s", err, out)
	}
}

func TestProcessReloadRevokes(t *testing.T) {
	longTest(t)
	bin := buildMailgate(t)
	dir := t.TempDir()
	pool := writeCert(t, dir)
	sink := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	tok, hash := gateway.NewToken()
	cfgPath := filepath.Join(dir, "mailgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(procConfig, sink.Addr(), hash)), 0o600)
	p := startProc(t, bin, "-config", cfgPath)
	addr := p.stderr.waitFor(t, `msg=listening listener=submissions addr=(\S+)`)[1]
	s := dialSubmission(t, addr, pool, "app1", tok)
	s.expect(250, "MAIL FROM:<a@t1.test>")
	s.expect(250, "RSET")
	_, other := gateway.NewToken()
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(procConfig, sink.Addr(), other)), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.waitFor(t, `configuration reloaded`)
	s.expect(530, "MAIL FROM:<a@t1.test>")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// -dev prints what to try; the printed token works.
func TestProcessDev(t *testing.T) {
	longTest(t)
	bin := buildMailgate(t)
	p := startProc(t, bin, "-dev")
	addr := p.stdout.waitFor(t, `submission \(STARTTLS\): (\S+)`)[1]
	user := p.stdout.waitFor(t, `user: +(\S+)`)[1]
	token := p.stdout.waitFor(t, `token \(password\): +(\S+)`)[1]
	sender := p.stdout.waitFor(t, `allowed sender: +(\S+)`)[1]
	swaksLine := p.stdout.waitFor(t, `^  (swaks .*)$`)[1]
	if !strings.Contains(swaksLine, token) || !strings.Contains(swaksLine, addr) {
		t.Fatalf("swaks line %q", swaksLine)
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	tp := textproto.NewConn(c)
	tp.ReadResponse(220)
	tp.PrintfLine("EHLO x")
	tp.ReadResponse(250)
	tp.PrintfLine("STARTTLS")
	tp.ReadResponse(220)
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // -dev's certificate is self-signed
	s := &smtpConn{t: t, conn: tc, tp: textproto.NewConn(tc)}
	s.expect(250, "EHLO x")
	s.expect(235, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+token)))
	s.expect(250, "MAIL FROM:<"+sender+">")
	s.expect(250, "RCPT TO:<someone@example.com>")
	s.expect(354, "DATA")
	s.tp.PrintfLine("From: %s\r\nSubject: dev\r\n\r\nhello\r\n.", sender)
	s.expect(250, "")
	p.stdout.waitFor(t, `"event":"message".*"outcome":"delivered"`)
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
