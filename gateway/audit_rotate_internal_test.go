package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lines written by many goroutines while the file is renamed away and
// reopened: each line is in exactly one of the two files, whole, and the
// two files are one chain (the new one starts with a continuation line).
func TestAuditReopenConcurrentWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	a, err := openAudit(AuditConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ts := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	const writers = 16
	var (
		written atomic.Int64
		target  atomic.Int64 // the writers signal reached once written is at least this
		reached = make(chan struct{}, 1)
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		ids     [writers]int
	)
	target.Store(2000)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					ids[w] = i
					return
				default:
				}
				a.write(&auditRecord{Event: "message", ID: fmt.Sprintf("w%d-%d", w, i)}, ts)
				if written.Add(1) >= target.Load() {
					select {
					case reached <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	waitFor := func(n int64) {
		target.Store(n)
		for written.Load() < n {
			<-reached // a signal from before the Store only makes the loop check again
		}
	}
	waitFor(2000)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := a.reopen(ts); err != nil {
		t.Fatal(err)
	}
	at := written.Load()
	waitFor(at + 2000)
	close(stop)
	wg.Wait()

	seen := map[string]int{}
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec auditRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("%s: %q: %v", p, sc.Text(), err)
			}
			if rec.Event == "message" {
				seen[rec.ID]++
			}
		}
		f.Close()
	}
	total := 0
	for w := range writers {
		for i := range ids[w] {
			if n := seen[fmt.Sprintf("w%d-%d", w, i)]; n != 1 {
				t.Fatalf("line w%d-%d is in %d files", w, i, n)
			}
			total++
		}
	}
	if total != len(seen) {
		t.Fatalf("%d lines written, %d distinct lines in the files", total, len(seen))
	}
	sums, err := VerifyAuditFiles(path+".1", path)
	if err != nil {
		t.Fatal(err)
	}
	if sums[0].Lines+sums[1].Lines != total+1 || sums[1].Reason != auditReasonReopened || sums[0].Lines < 2000 || sums[1].Lines < 2000 {
		t.Fatalf("%d lines written, files %+v", total, sums)
	}
}

// A reopen that cannot open the path keeps writing to the file held and
// counts the error.
func TestAuditReopenFailureKeepsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	a, err := openAudit(AuditConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	var errs int
	a.onError = func() { errs++ }
	ts := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	a.write(&auditRecord{Event: "message", ID: "before"}, ts)
	// The path now names a directory: it cannot be opened for writing.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := a.reopen(ts); err == nil || errs != 1 {
		t.Fatalf("reopen: %v, %d errors counted", err, errs)
	}
	a.write(&auditRecord{Event: "message", ID: "after"}, ts)
	f, _ := os.Open(path + ".1")
	defer f.Close()
	if n, err := VerifyAudit(f); err != nil || n != 2 || a.healthy() != nil {
		t.Fatalf("%d lines in the file held, %v, healthy %v", n, err, a.healthy())
	}
}

// A file emptied under the writer (": > audit.jsonl", no signal) loses
// its history: the writer goes on with a "truncated" continuation line,
// and logs the truncation at Warn and counts it (onError), so that it is
// seen; the file alone verifies only as continuing an earlier chain.
func TestAuditTruncateToZeroLoggedAndCounted(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	a, err := openAudit(AuditConfig{Path: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	a.log = slog.New(slog.NewTextHandler(&logBuf, nil))
	errs := 0
	a.onError = func() { errs++ }
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for range 5 {
		a.write(&auditRecord{Event: "message", ID: "evidence"}, now)
	}
	last := a.prev
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	a.write(&auditRecord{Event: "session"}, now)
	a.write(&auditRecord{Event: "session"}, now)
	a.close()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := VerifyAuditSummary(f)
	if err != nil || sum.Lines != 3 || sum.Continues != last || sum.Reason != auditReasonTruncated {
		t.Fatalf("after truncation: %+v, %v", sum, err)
	}
	if errs != 1 {
		t.Errorf("the truncation counted %d times, want 1", errs)
	}
	if l := logBuf.String(); strings.Count(l, "level=WARN") != 1 || !strings.Contains(l, "truncated") || !strings.Contains(l, last) {
		t.Errorf("the truncation is not logged once at Warn with the hash the file continues:\n%s", l)
	}
}

// BenchmarkAuditWrite measures a line written to a file with the size
// check before it that notices a truncation (one fstat; "file") and
// without it ("nocheck", the same file as a plain writer), and the fstat
// alone.
func BenchmarkAuditWrite(b *testing.B) {
	rec := auditRecord{Event: "message", ID: "01JDX3K7Q9M2", Session: "s-7f3a", Listener: "submission",
		Client: "10.20.0.15:51234", Tenant: "billing", MessageID: "<0193.8ab@notify.corp.com>", Size: 18211,
		Mode: "sync", Upstream: "ses-prod", Outcome: "delivered", Reply: "250 2.0.0", AcceptMS: 230,
		Rcpt: []string{"h:5e884898da28", "h:a665a45920"}}
	ts := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	b.Run("fstat", func(b *testing.B) { // the check alone
		f, err := os.Create(filepath.Join(b.TempDir(), "audit.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.ReportAllocs()
		for b.Loop() {
			f.Stat()
		}
	})
	for _, check := range []bool{true, false} {
		name := "file"
		if !check {
			name = "nocheck"
		}
		b.Run(name, func(b *testing.B) {
			a, err := openAudit(AuditConfig{Path: filepath.Join(b.TempDir(), "audit.jsonl")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer a.close()
			if !check {
				a.w, a.f = a.f, nil
				defer a.w.(*os.File).Close()
			}
			b.ReportAllocs()
			for b.Loop() {
				r := rec
				a.write(&r, ts)
			}
		})
	}
}
