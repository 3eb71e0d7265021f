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
	"sync"
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

// auditFixture is a gateway whose audit log is a file written by the
// audit writer, its GET /api/audit on a real HTTP server.
type auditFixture struct {
	t    *testing.T
	path string
	a    *auditLog
	g    *Gateway
	url  string
	n    int // message lines written, <m0@t> …
}

// newAuditFixture writes n message lines and serves GET /api/audit.
func newAuditFixture(t *testing.T, n int) *auditFixture {
	t.Helper()
	f := &auditFixture{t: t, path: filepath.Join(t.TempDir(), "audit.jsonl")}
	f.a = f.openWriter()
	f.g = &Gateway{audit: &auditLog{path: f.path}, log: slog.New(slog.DiscardHandler), auditReads: make(chan struct{}, auditMaxReads)}
	srv := httptest.NewServer(http.HandlerFunc(f.g.apiAudit))
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/api/audit"
	f.write(n)
	return f
}

// openWriter opens the audit writer on f.path, as the gateway does at
// start (continuing the chain of what the file holds).
func (f *auditFixture) openWriter() *auditLog {
	f.t.Helper()
	a, err := openAudit(AuditConfig{Path: f.path}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(a.close)
	return a
}

// record is the next message line, of tenant t1 or t2 in turn.
func (f *auditFixture) record() (*auditRecord, time.Time) {
	i := f.n
	f.n++
	return &auditRecord{Event: "message", Tenant: fmt.Sprintf("t%d", i%2+1), MessageID: fmt.Sprintf("<m%d@t>", i)},
		time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}

// write appends n message lines with f.a.
func (f *auditFixture) write(n int) {
	for range n {
		f.a.write(f.record())
	}
	if err := f.a.healthy(); err != nil {
		f.t.Fatal(err)
	}
}

// auditReply is an answer of GET /api/audit.
type auditReply struct {
	chain, omitted string
	lines          []string
	checked        int64 // lines whose chain the call checked
}

func (r auditReply) newest() string {
	if len(r.lines) == 0 {
		return ""
	}
	return r.lines[len(r.lines)-1]
}

// get calls GET /api/audit?query.
func (f *auditFixture) get(query string) auditReply {
	f.t.Helper()
	before := f.g.auditChain.checked.Load()
	resp, err := http.Get(f.url + "?" + query)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET /api/audit?%s: %d %q %v", query, resp.StatusCode, b, err)
	}
	r := auditReply{chain: resp.Header.Get("X-Audit-Chain"), omitted: resp.Header.Get("X-Audit-Omitted"),
		checked: f.g.auditChain.checked.Load() - before}
	if len(b) > 0 {
		r.lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	return r
}

// lineAt returns where line i (from 1) of the file starts and the line
// with its newline.
func (f *auditFixture) lineAt(i int) (int64, []byte) {
	f.t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	var off int64
	for n := 1; ; n++ {
		j := bytes.IndexByte(b, '\n')
		if j < 0 {
			f.t.Fatalf("no line %d", i)
		}
		if n == i {
			return off, b[:j+1]
		}
		off += int64(j + 1)
		b = b[j+1:]
	}
}

// overwrite writes b at off in place (the file keeps its size) and puts
// its modification time back.
func (f *auditFixture) overwrite(off int64, b []byte) {
	f.t.Helper()
	st, err := os.Stat(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	w, err := os.OpenFile(f.path, os.O_WRONLY, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := w.WriteAt(b, off); err != nil {
		f.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chtimes(f.path, st.ModTime(), st.ModTime()); err != nil {
		f.t.Fatal(err)
	}
	if st2, err := os.Stat(f.path); err != nil || st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		f.t.Fatalf("overwrite changed the size or time: %v", err)
	}
}

// A later call checks the chain of the lines appended since the earlier
// one only, and answers as a call checking every line: the same lines,
// filters and counts; a half-written last line is left out and checked
// once it is whole.
func TestAPIAuditChainIncremental(t *testing.T) {
	t.Parallel()
	f := newAuditFixture(t, 500)
	if r := f.get(""); r.chain != "intact" || len(r.lines) != 500 || r.checked != 500 {
		t.Fatalf("first call: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
	}
	if r := f.get(""); r.chain != "intact" || len(r.lines) != 500 || r.checked != 0 {
		t.Fatalf("same file again: %q, %d lines, %d checked, want 0", r.chain, len(r.lines), r.checked)
	}
	f.write(7)
	if r := f.get("limit=10"); r.chain != "intact" || len(r.lines) != 10 || r.omitted != "497" ||
		!strings.Contains(r.newest(), "<m506@t>") || r.checked != 7 {
		t.Fatalf("7 lines appended: %q, %d lines, %s omitted, %d checked, the newest %.80s", r.chain, len(r.lines), r.omitted, r.checked, r.newest())
	}
	if r := f.get("tenant=t2&since=2026-12-01T08:08:00Z&limit=5"); r.chain != "intact" || len(r.lines) != 5 ||
		r.omitted != "8" || !strings.Contains(r.newest(), "<m505@t>") || r.checked != 0 {
		t.Fatalf("filtered: %q, %d lines, %s omitted, %d checked, the newest %.80s", r.chain, len(r.lines), r.omitted, r.checked, r.newest())
	}
	if r := f.get("message_id=m3@t"); len(r.lines) != 1 || !strings.Contains(r.lines[0], `"<m3@t>"`) {
		t.Fatalf("by Message-ID: %q", r.lines)
	}

	// The next line is written in two parts, as a reader may see it.
	var whole bytes.Buffer
	w := &auditLog{w: &whole, prev: f.a.prev}
	w.write(f.record())
	line := whole.Bytes()
	appendRaw(t, f.path, line[:len(line)/2])
	if r := f.get(""); r.chain != "intact" || len(r.lines) != 507 || r.checked != 0 {
		t.Fatalf("half a line appended: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
	}
	appendRaw(t, f.path, line[len(line)/2:])
	f.a.prev = w.prev
	if r := f.get(""); r.chain != "intact" || len(r.lines) != 508 || r.newest()+"\n" != string(line) || r.checked != 1 {
		t.Fatalf("the line completed: %q, %d lines, %d checked, the newest %.80s", r.chain, len(r.lines), r.checked, r.newest())
	}
	f.write(1)
	if r := f.get(""); r.chain != "intact" || len(r.lines) != 509 || r.checked != 1 {
		t.Fatalf("the writer goes on: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
	}
}

func appendRaw(t *testing.T, path string, b []byte) {
	t.Helper()
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A line edited in place after a call checked it, at the same size and
// with the modification time put back, is still reported: the first, one
// in the middle or the last line checked, with or without lines appended
// since; once it is put back the chain is intact again.
func TestAPIAuditChainEditedInPlace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		line   int
		append int
	}{
		{"first line", 1, 0},
		{"middle", 100, 0},
		{"last line checked", 200, 0},
		{"middle, lines appended since", 100, 3},
		{"last line checked, lines appended since", 200, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuditFixture(t, 200)
			if r := f.get(""); r.chain != "intact" || r.checked != 200 {
				t.Fatalf("first call: %q, %d checked", r.chain, r.checked)
			}
			off, orig := f.lineAt(tc.line)
			id := fmt.Sprintf(`"<m%d@t>"`, tc.line-1)
			edited := bytes.Replace(orig, []byte(id), []byte(strings.Replace(id, "@t", "@x", 1)), 1)
			if bytes.Equal(edited, orig) || len(edited) != len(orig) {
				t.Fatalf("line %d: %s", tc.line, orig)
			}
			f.overwrite(off, edited)
			f.write(tc.append)
			want := fmt.Sprintf("broken at line %d: hash does not match the line (edited)", tc.line)
			if r := f.get(""); r.chain != want || len(r.lines) != 200+tc.append || !strings.Contains(r.lines[tc.line-1], "@x>") {
				t.Fatalf("line %d edited: %q, %d lines, want %q", tc.line, r.chain, len(r.lines), want)
			}
			if r := f.get(""); r.chain != want || r.checked != 0 {
				t.Fatalf("again: %q, %d checked", r.chain, r.checked)
			}
			f.write(2)
			if r := f.get(""); r.chain != want || r.checked != 0 {
				t.Fatalf("lines appended after the break: %q, %d checked", r.chain, r.checked)
			}
			f.overwrite(off, orig)
			if r := f.get(""); r.chain != "intact" || len(r.lines) != 202+tc.append || r.checked != int64(202+tc.append) {
				t.Fatalf("line put back: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
			}
		})
	}
}

// A file truncated, rewritten, rotated away or replaced is checked from
// its first line again.
func TestAPIAuditChainStartsOver(t *testing.T) {
	t.Parallel()
	warm := func(t *testing.T) *auditFixture {
		f := newAuditFixture(t, 300)
		if r := f.get(""); r.chain != "intact" || r.checked != 300 {
			t.Fatalf("first call: %q, %d checked", r.chain, r.checked)
		}
		return f
	}
	t.Run("truncated", func(t *testing.T) {
		f := warm(t)
		off, _ := f.lineAt(101)
		if err := os.Truncate(f.path, off); err != nil {
			t.Fatal(err)
		}
		if r := f.get(""); r.chain != "intact" || len(r.lines) != 100 || r.checked != 100 {
			t.Fatalf("truncated to 100 lines: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
		}
		f.write(1) // the writer goes on from line 300's hash
		want := "broken at line 101: prev does not match the previous line's hash (a line was removed or inserted)"
		if r := f.get(""); r.chain != want || r.checked != 1 {
			t.Fatalf("a line written after: %q, %d checked, want %q", r.chain, r.checked, want)
		}
	})
	t.Run("truncated and written again past the size checked", func(t *testing.T) {
		f := warm(t)
		if err := os.Truncate(f.path, 0); err != nil {
			t.Fatal(err)
		}
		f.n = 1000
		f.a = f.openWriter() // a new chain, same file
		f.write(400)
		if r := f.get(""); r.chain != "intact" || len(r.lines) != 400 || r.checked != 400 || !strings.Contains(r.lines[0], "<m1000@t>") {
			t.Fatalf("rewritten: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
		}
	})
	t.Run("rotated", func(t *testing.T) {
		f := warm(t)
		if err := os.Rename(f.path, f.path+".1"); err != nil {
			t.Fatal(err)
		}
		f.write(5) // the old writer goes on in the renamed file
		f.n = 1000
		f.a = f.openWriter()
		f.write(400)
		if r := f.get(""); r.chain != "intact" || len(r.lines) != 400 || r.checked != 400 || !strings.Contains(r.lines[0], "<m1000@t>") {
			t.Fatalf("rotated: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
		}
	})
	t.Run("replaced by a copy", func(t *testing.T) {
		f := warm(t)
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
		if r := f.get(""); r.chain != "intact" || len(r.lines) != 300 || r.checked != 300 {
			t.Fatalf("another file (inode), same bytes: %q, %d lines, %d checked", r.chain, len(r.lines), r.checked)
		}
	})
}

// Calls at the same time, with lines appended meanwhile, all answer an
// intact chain (run with -race).
func TestAPIAuditChainConcurrent(t *testing.T) {
	t.Parallel()
	f := newAuditFixture(t, 200)
	const callers, calls = 6, 8
	errs := make(chan string, callers*calls)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			f.a.write(&auditRecord{Event: "message", Tenant: "t3"}, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
		}
	}()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				resp, err := http.Get(f.url + "?limit=100000")
				if err != nil {
					errs <- err.Error()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if c := resp.Header.Get("X-Audit-Chain"); resp.StatusCode != 200 || c != "intact" || bytes.Count(b, []byte("\n")) < 200 {
					errs <- fmt.Sprintf("%d %q, %d lines", resp.StatusCode, c, bytes.Count(b, []byte("\n")))
				}
			}
		})
	}
	wg.Wait()
	<-done
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if r := f.get("limit=100000"); r.chain != "intact" || len(r.lines) != 250 {
		t.Fatalf("at the end: %q, %d lines", r.chain, len(r.lines))
	}
}
