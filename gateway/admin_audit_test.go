package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// writeTestAudit writes n chained audit lines, message events of tenants
// t1 and t2 in turn with Message-IDs <m0@t> … <m(n-1)@t>, and returns the
// file's path.
func writeTestAudit(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a, err := openAudit(AuditConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ts := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		a.write(&auditRecord{Event: "message", Tenant: fmt.Sprintf("t%d", i%2+1), MessageID: fmt.Sprintf("<m%d@t>", i)}, ts.Add(time.Duration(i)*time.Second))
	}
	return path
}

// getAudit calls GET /api/audit?query on a gateway with the audit file
// path, under ctx.
func getAudit(ctx context.Context, path, query string) *httptest.ResponseRecorder {
	g := &Gateway{audit: &auditLog{path: path}, log: slog.New(slog.DiscardHandler), auditReads: make(chan struct{}, auditMaxReads)}
	return getAuditFrom(ctx, g, query)
}

func getAuditFrom(ctx context.Context, g *Gateway, query string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	g.apiAudit(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/audit?"+query, nil))
	return w
}

// A large audit file is answered with the newest lines, at most limit
// (1000 without one), and X-Audit-Omitted counts the matching lines left
// out; a limit past the maximum is refused.
func TestAPIAuditLimit(t *testing.T) {
	path := writeTestAudit(t, 3000)
	for _, tc := range []struct {
		query          string
		lines, omitted int
		newest         string
	}{
		{"", 1000, 2000, "<m2999@t>"},
		{"limit=10", 10, 2990, "<m2999@t>"},
		{"tenant=t1&limit=10", 10, 1490, "<m2998@t>"},
		{"tenant=t2&since=2026-12-01T08:49:50Z", 5, 0, "<m2999@t>"}, // lines 2990-2999
	} {
		w := getAudit(context.Background(), path, tc.query)
		body := w.Body.String()
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if w.Code != 200 || len(lines) != tc.lines || !strings.Contains(lines[len(lines)-1], tc.newest) {
			t.Fatalf("%q: %d, %d lines, the newest %.120s", tc.query, w.Code, len(lines), lines[len(lines)-1])
		}
		if got := w.Header().Get("X-Audit-Omitted"); got != fmt.Sprint(tc.omitted) {
			t.Fatalf("%q: X-Audit-Omitted %q, want %d", tc.query, got, tc.omitted)
		}
		if got := w.Header().Get("X-Audit-Chain"); got != "intact" {
			t.Fatalf("%q: X-Audit-Chain %q", tc.query, got)
		}
	}
	for _, q := range []string{"limit=0", "limit=100001", "limit=x"} {
		if w := getAudit(context.Background(), path, q); w.Code != 400 || w.Body.String() != "limit: a number from 1 to 100000\n" {
			t.Fatalf("%s: %d %q", q, w.Code, w.Body.String())
		}
	}
}

// A request whose context is done gets no lines: the scan does not run.
func TestAPIAuditCancelledRequest(t *testing.T) {
	path := writeTestAudit(t, 100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if w := getAudit(ctx, path, ""); w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "m0@t") {
		t.Fatalf("cancelled request: %d %q", w.Code, w.Body.String())
	}
}

// cancelReader reads from r and cancels its context on the first read.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
	n      int // bytes read
}

func (c *cancelReader) Read(p []byte) (int, error) {
	c.cancel()
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// The scan stops when the context ends mid-file, within the buffer it
// has read.
func TestScanAuditStopsWhenContextDone(t *testing.T) {
	var b bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&b, `{"ts":"2026-12-01T08:00:00.000Z","event":"message","id":"%d","prev":"","hash":""}`+"\n", i)
	}
	total := b.Len()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{r: &b, cancel: cancel}
	ans, err := scanAudit(ctx, r, auditQuery{limit: auditDefaultLimit, maxLine: auditMaxLine, maxBytes: auditMaxAnswer})
	if !errors.Is(err, context.Canceled) || len(ans.lines) != 0 {
		t.Fatalf("scan after cancel: %d lines, %v", len(ans.lines), err)
	}
	if r.n > 64<<10 || r.n >= total {
		t.Fatalf("read %d of %d bytes after the context ended", r.n, total)
	}
}

// The scan also stops when the context ends within a line longer than
// maxLine (such as a zero-filled tail after a crash), not only between
// lines: it used to read such a line to its end, possibly gigabytes, and
// then answer as if the context were still there.
func TestScanAuditStopsWithinLongLine(t *testing.T) {
	const total = 64 << 20 // no newline at all
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{r: io.LimitReader(sameByte('x'), total), cancel: cancel}
	_, err := scanAudit(ctx, r, auditQuery{limit: auditDefaultLimit, maxLine: auditMaxLine, maxBytes: auditMaxAnswer})
	if !errors.Is(err, context.Canceled) || r.n > 1<<20 {
		t.Fatalf("scan after cancel: read %d of %d bytes, err %v", r.n, total, err)
	}
}

// sameByte reads as an endless run of itself.
type sameByte byte

func (b sameByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// The lines held are bounded in bytes as well as by limit (the oldest
// leave first), and a line longer than maxLine is skipped and breaks the
// chain where it is.
func TestScanAuditBounds(t *testing.T) {
	b, err := os.ReadFile(writeTestAudit(t, 10))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lineLen := len(lines[5])
	long := `{"event":"message","tenant":"t1","pad":"` + strings.Repeat("x", 4*lineLen) + `"}` + "\n"
	in := strings.Join(lines[:4], "") + long + strings.Join(lines[4:], "")
	q := auditQuery{limit: 100, maxLine: 2 * lineLen, maxBytes: 3*lineLen + 3}
	ans, err := scanAudit(context.Background(), strings.NewReader(in), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.lines) != 3 || ans.omitted != 7 || string(ans.lines[2])+"\n" != lines[9] {
		t.Fatalf("%d lines, %d omitted, the newest %s", len(ans.lines), ans.omitted, ans.lines[len(ans.lines)-1])
	}
	var ae *AuditError
	if !errors.As(ans.chain, &ae) || ae.Line != 5 || !strings.Contains(ae.Reason, "longer than") {
		t.Fatalf("chain: %v", ans.chain)
	}
}

// At most auditMaxReads calls read the file at once: another waits for a
// turn, and gives up when its request's context ends.
func TestAPIAuditReadsAtOnce(t *testing.T) {
	path := writeTestAudit(t, 10)
	synctest.Test(t, func(t *testing.T) {
		g := &Gateway{audit: &auditLog{path: path}, log: slog.New(slog.DiscardHandler), auditReads: make(chan struct{}, auditMaxReads)}
		for range auditMaxReads {
			g.auditReads <- struct{}{} // calls reading now
		}
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- getAuditFrom(context.Background(), g, "") }()
		synctest.Wait()
		select {
		case w := <-done:
			t.Fatalf("a call answered (%d) while %d others read the file", w.Code, auditMaxReads)
		default:
		}
		<-g.auditReads // one call ends
		if w := <-done; w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "m9@t") {
			t.Fatalf("the waiting call, once a turn is free: %d", w.Code)
		}
		if n := len(g.auditReads); n != auditMaxReads-1 {
			t.Fatalf("%d turns taken after the call, want %d", n, auditMaxReads-1)
		}

		ctx, cancel := context.WithCancel(context.Background())
		g.auditReads <- struct{}{}
		go func() { done <- getAuditFrom(ctx, g, "") }()
		synctest.Wait()
		cancel()
		if w := <-done; w.Code != http.StatusServiceUnavailable {
			t.Fatalf("a call waiting for a turn, cancelled: %d %q", w.Code, w.Body.String())
		}
	})
}

// writeBenchAudit writes a chained audit file of about size bytes of
// message lines shaped like production ones (§c.8), tenants t1 … t4.
func writeBenchAudit(b *testing.B, size int64) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	a, err := openAudit(AuditConfig{Path: path}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	ts := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	from := "noreply@notify.corp.com"
	for i := 0; ; i++ {
		a.write(&auditRecord{Event: "message", ID: fmt.Sprintf("01JDX3K7Q9M2%06d", i), Session: fmt.Sprintf("s-%06x", i/3),
			Listener: "submission", Client: "10.20.0.15:51234", HELO: "billing-7d9f", TLS: "1.3 TLS_AES_128_GCM_SHA256",
			Mech: "PLAIN", User: "billing-svc", Tenant: fmt.Sprintf("t%d", i%4+1), MailFrom: &from, RcptCount: 2,
			Rcpt:      []string{"h:5e884898da28047151d0e56f", "h:a665a45920422f9d417e4867"},
			MessageID: fmt.Sprintf("<%d.8ab@notify.corp.com>", i), Size: 18211, Mode: "sync", Upstream: "ses-prod",
			Attempts: []Attempt{{Upstream: "ses-prod", Code: 250, Enhanced: "2.0.0", Reply: "Ok 0102019375abcdef", Outcome: "delivered", MS: 212}},
			Outcome:  "delivered", Reply: "250 2.0.0", AcceptMS: 230}, ts.Add(time.Duration(i)*time.Millisecond))
		if i%1000 == 0 {
			if st, err := os.Stat(path); err != nil {
				b.Fatal(err)
			} else if st.Size() >= size {
				return path
			}
		}
	}
}

// BenchmarkAuditRead is GET /api/audit (newest 1000 lines) over a 50 MB
// audit file: "first" is a call on a fresh gateway, "second" a later
// call of the same gateway on the same file, the auditor's poll.
func BenchmarkAuditRead(b *testing.B) {
	path := writeBenchAudit(b, 50<<20)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	newGateway := func() *Gateway {
		return &Gateway{audit: &auditLog{path: path}, log: slog.New(slog.DiscardHandler), auditReads: make(chan struct{}, auditMaxReads)}
	}
	call := func(b *testing.B, g *Gateway) {
		if w := getAuditFrom(context.Background(), g, ""); w.Code != http.StatusOK || w.Header().Get("X-Audit-Chain") != "intact" {
			b.Fatalf("%d %q", w.Code, w.Header().Get("X-Audit-Chain"))
		}
	}
	b.Run("first", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			call(b, newGateway())
		}
	})
	b.Run("second", func(b *testing.B) {
		b.SetBytes(st.Size())
		g := newGateway()
		call(b, g)
		for b.Loop() {
			call(b, g)
		}
	})
}
