package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Bounds of GET /api/audit.
const (
	// auditDefaultLimit is the lines answered without a limit parameter,
	// auditMaxLimit the largest limit taken.
	auditDefaultLimit = 1000
	auditMaxLimit     = 100000
	// auditMaxLine is the longest line read (as VerifyAudit); a longer one
	// is skipped and breaks the chain there.
	auditMaxLine = 16 << 20
	// auditMaxAnswer bounds the bytes of lines one answer holds: past it,
	// the oldest matching lines are left out as past the limit are.
	auditMaxAnswer = 64 << 20
	// auditMaxReads is how many calls read the file at once; the others
	// wait for a turn (until their request's context ends), so that the
	// memory of all the answers stays bounded too.
	auditMaxReads = 2
)

// auditQuery is a filter over audit lines (zero fields match anything)
// and the bounds of its answer.
type auditQuery struct {
	tenant, messageID, event string
	since, until             time.Time
	limit                    int // newest matching lines kept
	maxLine                  int // auditMaxLine
	maxBytes                 int // auditMaxAnswer
}

// parseAuditQuery reads tenant, message_id, event, since, until (RFC 3339)
// and limit (default auditDefaultLimit, at most auditMaxLimit) from a GET
// /api/audit URL.
func parseAuditQuery(r *http.Request) (auditQuery, error) {
	v := r.URL.Query()
	q := auditQuery{tenant: v.Get("tenant"), event: v.Get("event"), limit: auditDefaultLimit,
		maxLine: auditMaxLine, maxBytes: auditMaxAnswer,
		messageID: strings.Trim(strings.TrimSpace(v.Get("message_id")), "<>")}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"since", &q.since}, {"until", &q.until}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, errors.New(f.name + ": an RFC 3339 time such as 2026-12-01T08:00:00Z")
			}
			*f.t = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditMaxLimit {
			return q, fmt.Errorf("limit: a number from 1 to %d", auditMaxLimit)
		}
		q.limit = n
	}
	return q, nil
}

// match reports whether an audit line passes q.
func (q *auditQuery) match(line []byte) bool {
	var f struct {
		TS        string `json:"ts"`
		Event     string `json:"event"`
		Tenant    string `json:"tenant"`
		MessageID string `json:"message_id"`
	}
	if json.Unmarshal(line, &f) != nil {
		return false
	}
	if q.tenant != "" && f.Tenant != q.tenant || q.event != "" && f.Event != q.event {
		return false
	}
	if q.messageID != "" && strings.Trim(f.MessageID, "<>") != q.messageID {
		return false
	}
	if !q.since.IsZero() || !q.until.IsZero() {
		ts, err := time.Parse(time.RFC3339Nano, f.TS)
		if err != nil || !q.since.IsZero() && ts.Before(q.since) || !q.until.IsZero() && !ts.Before(q.until) {
			return false
		}
	}
	return true
}

// auditAnswer is what GET /api/audit answers.
type auditAnswer struct {
	lines   [][]byte // the newest matching lines, oldest first, as written
	omitted int      // older matching lines left out (limit, byte bound)
	chain   error    // where the whole file's chain breaks; nil when intact
	checked int      // lines whose hash and prev the scan checked
}

// auditChain is what the GET /api/audit calls of a Gateway know of the
// audit file's hash chain. Its zero value is ready; it is safe for
// concurrent use.
type auditChain struct {
	// checked counts the lines whose hash and prev were checked, so that
	// tests see how much of the file a call verified.
	checked atomic.Int64
}

// filterAudit reads the audit file up to its size when opened (lines
// written meanwhile wait for the next call) with scanAudit.
func filterAudit(ctx context.Context, path string, q auditQuery) (auditAnswer, error) {
	f, err := os.Open(path)
	if err != nil {
		return auditAnswer{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return auditAnswer{}, err
	}
	return scanAudit(ctx, io.LimitReader(f, st.Size()), q)
}

// scanAudit reads audit lines from r one at a time and keeps the last
// q.limit matching ones, exactly as written, so each still carries its
// prev and hash; it holds at most q.maxBytes of them, dropping the oldest
// first. It checks the chain of every line on the way. A line longer than
// q.maxLine is skipped (and breaks the chain); a last line without its
// newline is left out: it may be half written. It stops with ctx's error
// as soon as ctx is done.
func scanAudit(ctx context.Context, r io.Reader, q auditQuery) (auditAnswer, error) {
	var (
		ans  auditAnswer
		v    chainVerifier
		held [][]byte // matching lines; the answer is held[head:]
		head int
		size int // bytes of held[head:], newlines included
		buf  []byte
	)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return auditAnswer{}, err
		}
		line, tooLong, err := readLine(ctx, br, &buf, q.maxLine)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return auditAnswer{}, err
		}
		if tooLong {
			v.n++
			if ans.chain == nil {
				ans.chain = &AuditError{v.n, fmt.Sprintf("longer than %d bytes", q.maxLine)}
			}
			continue
		}
		if ans.chain == nil {
			ans.chain = v.next(line)
			ans.checked++
		}
		if !q.match(line) {
			continue
		}
		held = append(held, bytes.Clone(line))
		size += len(line) + 1
		for len(held)-head > q.limit || size > q.maxBytes {
			size -= len(held[head]) + 1
			held[head] = nil
			head++
			ans.omitted++
		}
		if head > 1024 && 2*head > len(held) {
			n := copy(held, held[head:])
			clear(held[n:])
			held, head = held[:n], 0
		}
	}
	ans.lines = held[head:]
	return ans, nil
}

// readLine reads the next line into *buf (reused) and returns it without
// its newline. A line longer than max is read past and reported tooLong.
// At the end it returns io.EOF, also after a last line without a newline.
// It stops with ctx's error as soon as ctx is done, also within a line:
// the rest of an over-long one may run to the end of the file (a
// zero-filled tail after a crash).
func readLine(ctx context.Context, br *bufio.Reader, buf *[]byte, max int) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong && len(*buf)+len(frag) > max+1 {
			tooLong, *buf = true, (*buf)[:0]
		}
		if !tooLong {
			*buf = append(*buf, frag...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(*buf, []byte("\n")), tooLong, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, false, err
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}

// apiAudit is GET /api/audit?tenant=&since=&until=&message_id=&event=&limit=:
// the newest matching audit lines as JSON lines (application/x-ndjson),
// at most limit (default 1000, at most 100000) and 64 MiB of them. The
// header X-Audit-Chain says whether the whole file's hash chain is
// "intact" or where it is broken; X-Audit-Omitted counts the older
// matching lines left out. The file is read a line at a time, and the
// scan stops when the request's context ends (the caller went away); at
// most auditMaxReads calls read it at once, the others wait their turn.
func (g *Gateway) apiAudit(w http.ResponseWriter, r *http.Request) {
	path := ""
	if g.audit != nil {
		path = g.audit.path
	}
	if path == "" {
		http.Error(w, "the audit log is not a file", http.StatusNotFound)
		return
	}
	q, err := parseAuditQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case g.auditReads <- struct{}{}:
	case <-r.Context().Done():
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
		return
	}
	ans, err := filterAudit(r.Context(), path, q)
	<-g.auditReads
	g.auditChain.checked.Add(int64(ans.checked))
	if err != nil {
		if cerr := r.Context().Err(); cerr != nil && errors.Is(err, cerr) {
			http.Error(w, "request cancelled", http.StatusServiceUnavailable)
			return
		}
		g.log.Error("admin: read audit", "err", err)
		http.Error(w, "cannot read the audit log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if ans.chain != nil {
		w.Header().Set("X-Audit-Chain", "broken at "+ans.chain.Error())
	} else {
		w.Header().Set("X-Audit-Chain", "intact")
	}
	w.Header().Set("X-Audit-Omitted", strconv.Itoa(ans.omitted))
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, l := range ans.lines {
		bw.Write(l)
		bw.WriteByte('\n')
	}
	bw.Flush()
}
