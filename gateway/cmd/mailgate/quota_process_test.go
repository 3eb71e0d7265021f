package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// L5 on the real binary: t1 (2 messages a day) reaches its quota; after a
// SIGTERM and a new start on the same file the quota still holds
// (451 4.7.1 at MAIL), kept in limits_state.path.
func TestProcessQuotaSurvivesRestart(t *testing.T) {
	longTest(t)
	if now := time.Now().UTC(); now.Hour() == 23 && now.Minute() >= 58 {
		t.Skip("too close to the end of the UTC day")
	}
	bin := buildMailgate(t)
	dir := t.TempDir()
	pool := writeCert(t, dir)
	sink := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	tok, hash := gateway.NewToken()
	cfgPath := filepath.Join(dir, "mailgate.yaml")
	y := strings.Replace(fmt.Sprintf(procConfig, sink.Addr(), hash), `senders: ["@t1.test"]`,
		`senders: ["@t1.test"]`+"\n    limits: {messages_per_day: 2}", 1) + "limits_state: {path: state/limits.json}\n"
	os.Mkdir(filepath.Join(dir, "state"), 0o700)
	os.WriteFile(cfgPath, []byte(y), 0o600)

	p := startProc(t, bin, "-config", cfgPath)
	addr := p.stderr.waitFor(t, `msg=listening listener=submissions addr=(\S+)`)[1]
	s := dialSubmission(t, addr, pool, "app1", tok)
	for i := range 2 {
		s.expect(250, "MAIL FROM:<a@t1.test>")
		s.expect(250, "RCPT TO:<r@ext.example>")
		s.expect(354, "DATA")
		s.tp.PrintfLine("From: a@t1.test\r\nSubject: q%d\r\n\r\nhello\r\n.", i)
		s.expect(250, "")
	}
	s.expect(451, "MAIL FROM:<a@t1.test>")
	s.expect(221, "QUIT")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state", "limits.json")); err != nil || !strings.Contains(string(b), `"count":2`) {
		t.Fatalf("state file: %v %s", err, b)
	}

	p = startProc(t, bin, "-config", cfgPath)
	addr = p.stderr.waitFor(t, `msg=listening listener=submissions addr=(\S+)`)[1]
	s = dialSubmission(t, addr, pool, "app1", tok)
	if msg := s.expect(451, "MAIL FROM:<a@t1.test>"); !strings.HasPrefix(msg, "4.7.1") {
		t.Fatalf("after the restart: 451 %s, want 451 4.7.1", msg)
	}
	s.expect(221, "QUIT")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("%d messages at the sink, want 2", n)
	}
}
