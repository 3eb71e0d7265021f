package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
)

// mailqFunc runs mailq with args and checks its exit status.
type mailqFunc func(wantCode int, args ...string) (stdout, stderr string)

// TestMailqEndToEnd builds the binary and runs every command against a
// SQLite file and a test server, checking exit codes and -json output.
// Linking the binary takes several seconds here, so it is a long test;
// TestMailqInProcess runs the same session through run.
func TestMailqEndToEnd(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("MAILER_TEST_LONG is not set: skipping the build of the binary (TestMailqInProcess runs the same session)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mailq")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "q.db")
	testMailq(t, dir, func(wantCode int, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"-db", db}, args...)...)
		cmd.Env = append(os.Environ(), "MAILER_URL=", "MAILQ_DB=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("mailq %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	})
}

func TestMailqInProcess(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	t.Setenv("MAILER_URL", "")
	t.Setenv("MAILQ_DB", "")
	testMailq(t, dir, func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"-db", db}, args...), &stdout, &stderr)
		if code != wantCode {
			t.Fatalf("mailq %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	})
}

func testMailq(t *testing.T, dir string, mailq mailqFunc) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	records := func(out string) []outbox.Record {
		t.Helper()
		var recs []outbox.Record
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			t.Fatalf("list -json: %v\n%s", err, out)
		}
		return recs
	}

	// Usage errors: 2.
	mailq(2, "frobnicate")
	mailq(2, "enqueue", "-subject", "no sender")
	mailq(2, "list", "-status", "DONE")
	mailq(2, "show")
	// Not migrated: work fails (1) naming the migrations.
	if _, errOut := mailq(1, "work", "-exit-when-idle"); !strings.Contains(errOut, "mail_outbox: versions 1") {
		t.Fatalf("work before migrate: %s", errOut)
	}
	if out, _ := mailq(0, "migrate"); !strings.Contains(out, "migrated") {
		t.Fatalf("migrate: %q", out)
	}

	out, _ := mailq(0, "enqueue", "-from", "app@example.com", "-to", "bob@example.com", "-bcc", "audit@example.com",
		"-subject", "Report", "-text", "hello", "-n", "2")
	ids := strings.Fields(out)
	if len(ids) != 2 {
		t.Fatalf("enqueue -n 2 printed %q", out)
	}
	eml := filepath.Join(dir, "m.eml")
	os.WriteFile(eml, []byte("From: App <app@example.com>\r\nTo: carol@example.com\r\nSubject: eml\r\nMessage-ID: <fixed-1@example.com>\r\n\r\nbody\r\n"), 0o600)
	if out, _ := mailq(0, "enqueue", "-eml", eml); strings.TrimSpace(out) != "fixed-1@example.com" {
		t.Fatalf("enqueue -eml printed %q", out)
	}
	if _, errOut := mailq(1, "enqueue", "-eml", eml); !strings.Contains(errOut, "already enqueued") {
		t.Fatalf("second enqueue of the same file: %s", errOut)
	}
	out, _ = mailq(0, "list", "-json")
	if recs := records(out); len(recs) != 3 || recs[0].Status != outbox.StatusPending {
		t.Fatalf("list -json = %+v", recs)
	}

	mailq(0, "cancel", ids[0])
	mailq(1, "cancel", ids[0]) // already CANCELLED
	out, _ = mailq(0, "show", "-json", ids[0])
	var r outbox.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != outbox.StatusCancelled {
		t.Fatalf("show -json = %s (%v)", out, err)
	}
	mailq(0, "retry", ids[0])
	mailq(1, "retry", ids[1]) // PENDING: nothing to retry
	mailq(1, "show", "nobody@example.com")

	// Without -url: the in-process test server, and it says so.
	if _, errOut := mailq(0, "work", "-exit-when-idle", "-url", ""); !strings.Contains(errOut, "in-process test server") {
		t.Fatalf("work without a server did not say where mail goes: %s", errOut)
	}
	out, _ = mailq(0, "list", "-status", "sent", "-json")
	if recs := records(out); len(recs) != 3 {
		t.Fatalf("after work: %d SENT records, want 3", len(recs))
	}

	// With -url: a real delivery to srv.
	out, _ = mailq(0, "enqueue", "-from", "app@example.com", "-to", "dave@example.com", "-subject", "x", "-text", "y")
	id := strings.TrimSpace(out)
	out, _ = mailq(0, "work", "-exit-when-idle", "-url", srv.URL())
	if !strings.Contains(out, "sent") || !strings.Contains(out, id) {
		t.Fatalf("work printed %q", out)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Header.Get("Message-Id") != "<"+id+">" {
		t.Fatalf("server got %d messages", len(msgs))
	}
	out, _ = mailq(0, "show", id)
	if !strings.Contains(out, "SENT") || !strings.Contains(out, "250") {
		t.Fatalf("show: %s", out)
	}
	out, _ = mailq(0, "list")
	if strings.Count(out, "SENT") != 4 {
		t.Fatalf("list:\n%s", out)
	}
}

// Flags may follow a command's argument, as the README's
// "mailq show ID -json" and the package doc ("Flags may come before or
// after the command") have them; "--" still ends the flags.
func TestFlagsAfterArgument(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	t.Setenv("MAILER_URL", "")
	t.Setenv("MAILQ_DB", "")
	mailq := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != wantCode {
			t.Fatalf("mailq %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	mailq(0, "-db", db, "migrate")
	out, _ := mailq(0, "-db", db, "enqueue", "-from", "app@example.com", "-to", "bob@example.com", "-subject", "s", "-text", "t")
	id := strings.TrimSpace(out)

	out, _ = mailq(0, "show", id, "-json", "-db", db)
	var r outbox.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.MessageID != id || r.Status != outbox.StatusPending {
		t.Fatalf("show ID -json = %s (%v)", out, err)
	}
	if out, _ := mailq(0, "cancel", id, "-db", db); !strings.Contains(out, "CANCELLED") {
		t.Fatalf("cancel ID -db: %q", out)
	}
	if out, _ := mailq(0, "-db", db, "retry", id); !strings.Contains(out, "PENDING") {
		t.Fatalf("retry: %q", out)
	}
	// Still exactly one argument, and a flag error is still a usage error.
	if _, errOut := mailq(2, "-db", db, "show", id, "-json", "other"); !strings.Contains(errOut, "exactly one Message-ID") {
		t.Fatalf("two arguments: %s", errOut)
	}
	mailq(2, "-db", db, "show", id, "-bogus")
	mailq(2, "-db", db, "migrate", "extra", "-db", db)
	// After "--" a dash is an argument: the ID "-json" is looked up (and
	// not found), not taken for the flag.
	if _, errOut := mailq(1, "-db", db, "show", "--", "-json"); strings.Contains(errOut, "exactly one") {
		t.Fatalf(`show -- -json: %s`, errOut)
	}
}

// The LAST column of list is cut at 60 characters, never inside a
// character: a server's reply in Chinese stays valid UTF-8.
func TestListCutsLastAtACharacter(t *testing.T) {
	// Three replies, padded by 0, 1 and 2 octets: one of them puts a
	// 3-octet character across the cut, whatever the error's prefix.
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithFaultFunc(
		func(step mailertest.Step, n int) *mailertest.Fault {
			if step != mailertest.StepRCPT {
				return nil
			}
			return &mailertest.Fault{Reply: "550 5.1.1 " + strings.Repeat("A", n%3) + "收件人不存在，请检查地址是否正确，或者联系管理员获取帮助信息"}
		}))
	db := filepath.Join(t.TempDir(), "q.db")
	t.Setenv("MAILER_URL", "")
	t.Setenv("MAILQ_DB", "")
	mailq := func(wantCode int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"-db", db}, args...), &stdout, &stderr); code != wantCode {
			t.Fatalf("mailq %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	mailq(0, "migrate")
	mailq(0, "enqueue", "-from", "app@example.com", "-to", "bob@example.com", "-subject", "s", "-text", "t", "-n", "3")
	mailq(0, "work", "-exit-when-idle", "-url", srv.URL())
	out := mailq(0, "list", "-status", "FAILED")
	if !strings.Contains(out, "收件人") {
		t.Fatalf("list does not show the reply:\n%s", out)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("list cut a character in two:\n%q", out)
	}
}

// An -eml file whose From, To and Cc carry display names in GB2312 (as
// Chinese mail systems write them) gets its envelope from those headers:
// net/mail knows no GB2312, so the sender became the null reverse-path
// <> and the To recipients were dropped, silently.
func TestEnqueueEMLForeignCharsetNames(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	t.Setenv("MAILER_URL", "")
	t.Setenv("MAILQ_DB", "")
	mailq := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"-db", db}, args...), &stdout, &stderr); code != wantCode {
			t.Fatalf("mailq %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	mailq(0, "migrate")
	eml := filepath.Join(dir, "gb.eml")
	// 系统 and 张伟 in GB2312.
	os.WriteFile(eml, []byte("From: =?GB2312?B?z7XNsw==?= <sys@example.com>\r\nTo: =?GB2312?B?1cXOsA==?= <zhang@example.com>\r\n"+
		"Cc: ops@example.com\r\nSubject: hi\r\n\r\nbody\r\n"), 0o600)
	out, _ := mailq(0, "enqueue", "-eml", eml)
	out, _ = mailq(0, "show", "-json", strings.TrimSpace(out))
	var r outbox.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Envelope.From != "sys@example.com" || strings.Join(r.Envelope.To, ",") != "zhang@example.com,ops@example.com" {
		t.Fatalf("envelope = %+v, want from sys@example.com to zhang@example.com and ops@example.com", r.Envelope)
	}

	// A From that is no address at all is a usage error, not <>.
	os.WriteFile(eml, []byte("From: nobody\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nbody\r\n"), 0o600)
	if _, errOut := mailq(2, "enqueue", "-eml", eml); !strings.Contains(errOut, "From") || !strings.Contains(errOut, "-from") {
		t.Fatalf("unparsable From: %s", errOut)
	}
	mailq(0, "enqueue", "-eml", eml, "-from", "app@example.com")
}

// A second SIGINT or SIGTERM while work drains cancels the sends still in
// flight (one stuck before the final dot goes back to PENDING) instead of
// being ignored for the 30 s of the drain.
func TestWorkSecondSignalCutsTheDrain(t *testing.T) {
	reached := make(chan struct{}, 1)
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithFaultFunc(
		func(step mailertest.Step, _ int) *mailertest.Fault {
			if step != mailertest.StepDATA {
				return nil
			}
			select {
			case reached <- struct{}{}:
			default:
			}
			return &mailertest.Fault{Delay: time.Minute} // the send hangs before the final dot
		}))
	db := filepath.Join(t.TempDir(), "q.db")
	t.Setenv("MAILER_URL", "")
	t.Setenv("MAILQ_DB", "")
	mailq := func(wantCode int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"-db", db}, args...), &stdout, &stderr); code != wantCode {
			t.Fatalf("mailq %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	mailq(0, "migrate")
	id := strings.TrimSpace(mailq(0, "enqueue", "-from", "app@example.com", "-to", "bob@example.com", "-subject", "s", "-text", "t"))

	ctx, interrupt := context.WithCancel(context.Background())
	force, interruptAgain := context.WithCancel(context.Background())
	defer interrupt()
	defer interruptAgain()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runForce(ctx, force, []string{"-db", db, "work", "-url", srv.URL()}, &stdout, &stderr)
	}()
	select {
	case <-reached:
	case <-time.After(15 * time.Second):
		t.Fatal("the send never reached DATA")
	}
	interrupt()
	interruptAgain()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(stderr.String(), "cancel") {
			t.Fatalf("work: exit %d, want 1\nstderr: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the second signal did not cut the drain short")
	}
	var r outbox.Record
	if err := json.Unmarshal([]byte(mailq(0, "show", "-json", id)), &r); err != nil || r.Status != outbox.StatusPending {
		t.Fatalf("after the cut drain: %+v (%v), want PENDING", r, err)
	}
}
