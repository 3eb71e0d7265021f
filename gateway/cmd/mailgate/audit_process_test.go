package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// logrotate's rename rotation and its postrotate SIGHUP on the real
// binary: the sessions after the signal are audited in the new file, the
// rotated one keeps the lines before, and "mailgate audit verify OLD
// NEW" finds one chain.
func TestProcessAuditRotateSIGHUP(t *testing.T) {
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

	send := func(subject string) {
		s := dialSubmission(t, addr, pool, "app1", tok)
		s.expect(250, "MAIL FROM:<a@t1.test>")
		s.expect(250, "RCPT TO:<r@ext.example>")
		s.expect(354, "DATA")
		s.tp.PrintfLine("From: a@t1.test\r\nSubject: %s\r\nMessage-ID: <%s@t1.test>\r\n\r\nhello\r\n.", subject, subject)
		s.expect(250, "")
		s.expect(221, "QUIT")
	}
	send("before")
	audit := filepath.Join(dir, "audit.jsonl")
	if err := os.Rename(audit, audit+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.waitFor(t, `configuration reloaded`)
	send("after")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	old, _ := os.ReadFile(audit + ".1")
	cur, err := os.ReadFile(audit)
	if err != nil {
		t.Fatalf("no new audit file: %v", err)
	}
	if !strings.Contains(string(old), "<before@t1.test>") || strings.Contains(string(old), "<after@t1.test>") ||
		!strings.Contains(string(cur), "<after@t1.test>") || !strings.HasPrefix(string(cur), `{"ts":`) ||
		!strings.Contains(strings.SplitN(string(cur), "\n", 2)[0], `"event":"audit","reason":"reopened"`) {
		t.Fatalf("rotated file:\n%s\nnew file:\n%s", old, cur)
	}
	out, err := exec.Command(bin, "audit", "verify", audit+".1", audit).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 files, one chain") {
		t.Fatalf("audit verify: %v %s", err, out)
	}
}
