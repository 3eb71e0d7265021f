package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An audit path that is no regular file (a pipe reached through
// /proc/self/fd/N, a FIFO, /dev/stdout, /dev/null) always has size 0:
// the writer took every line for a truncation and wrote a "truncated"
// line before it (and now would log and count each). Such a file gets
// the lines alone, nothing is counted or logged, reopen leaves it, and
// GET /api/audit does not read it (path "").
func TestAuditNotRegularFile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	// open opens path as the audit and watches its errors and log.
	open := func(t *testing.T, path string) (*auditLog, *int, *bytes.Buffer) {
		t.Helper()
		a, err := openAudit(AuditConfig{Path: path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		errs, logBuf := new(int), new(bytes.Buffer)
		a.onError = func() { *errs++ }
		a.log = slog.New(slog.NewTextHandler(logBuf, nil))
		if a.path != "" {
			t.Errorf("path %q: GET /api/audit would read %s", a.path, path)
		}
		return a, errs, logBuf
	}
	// check reads n lines from r: one chain, message lines only.
	check := func(t *testing.T, r *bufio.Reader, n int) {
		t.Helper()
		var buf bytes.Buffer
		for range n {
			line, err := r.ReadBytes('\n')
			if err != nil {
				t.Fatalf("after %q: %v", buf.String(), err)
			}
			buf.Write(line)
		}
		sum, err := VerifyAuditSummary(&buf)
		if err != nil || sum.Lines != n || sum.Continues != "" || strings.Contains(buf.String(), `"reason":"truncated"`) {
			t.Fatalf("%+v %v:\n%s", sum, err, buf.String())
		}
	}
	t.Run("pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		a, errs, logBuf := open(t, fmt.Sprintf("/proc/self/fd/%d", w.Fd()))
		for range 3 {
			a.write(&auditRecord{Event: "message", ID: "m"}, now)
		}
		if err := a.reopen(now); err != nil {
			t.Fatal(err)
		}
		a.write(&auditRecord{Event: "message", ID: "m"}, now)
		a.close()
		w.Close()
		br := bufio.NewReader(r)
		check(t, br, 4)
		if rest, _ := br.ReadString(0); rest != "" {
			t.Fatalf("more lines: %q", rest)
		}
		if *errs != 0 || logBuf.Len() != 0 {
			t.Fatalf("%d errors counted, log:\n%s", *errs, logBuf)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		path := t.TempDir() + "/audit.fifo"
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		// Read and write: open does not wait for a writer, and the
		// gateway's open does not wait for a reader.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		a, errs, logBuf := open(t, path)
		for range 3 {
			a.write(&auditRecord{Event: "message", ID: "m"}, now)
		}
		a.close()
		// The test's own end marks where the gateway's lines end.
		f.WriteString("end\n")
		br := bufio.NewReader(f)
		check(t, br, 3)
		if end, err := br.ReadString('\n'); end != "end\n" {
			t.Fatalf("after the 3 lines: %q %v", end, err)
		}
		if *errs != 0 || logBuf.Len() != 0 {
			t.Fatalf("%d errors counted, log:\n%s", *errs, logBuf)
		}
	})
	t.Run("dev null", func(t *testing.T) {
		a, errs, logBuf := open(t, os.DevNull)
		for range 3 {
			a.write(&auditRecord{Event: "message", ID: "m"}, now)
		}
		a.close()
		if *errs != 0 || logBuf.Len() != 0 || a.healthy() != nil {
			t.Fatalf("%d errors counted, healthy %v, log:\n%s", *errs, a.healthy(), logBuf)
		}
	})
}
