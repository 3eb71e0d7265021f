package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
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
	// continues is the prev of the file's first line when that is a
	// continuation line (the file goes on from a rotated one), else "".
	continues string
	checked   int // lines whose hash and prev the scan checked
}

// auditChain is what the GET /api/audit calls of a Gateway know of the
// audit file's hash chain, so that a call checks the hash and prev of the
// lines appended since an earlier call rather than of every line again.
// Its zero value is ready; it is safe for concurrent use.
//
// It remembers the state after the latest complete read (auditVerified):
// which file (device and inode), how many bytes were read and their
// SHA-256, where the last whole line ended, and the chain there (line
// count, last hash, first break). A later call continues from that state
// only on the same file, at least that long, whose first bytes are still
// the same: each call still reads every line, since the filters and
// X-Audit-Omitted need them all (time stamps are taken before the
// writer's lock and follow the wall clock, so they are not in file order
// and no part of the file can be skipped for a time window), and it
// hashes the bytes it reads on the way. If the digest of the first bytes
// differs (a line edited in place, even at the same size and with the
// modification time put back; the file truncated and written again; a
// new file on a reused inode), the call reads the file again and checks
// every line, as without the state. The whole prefix is compared, not
// only its last line or its size and time: an edit in place keeps the
// size, the time can be put back, and every append changes it anyway.
//
// What is saved is the chain's work per line of the prefix (copying the
// line, hashing it alone, hex, parsing it for prev): about half the time
// and allocations of a call on production-shaped lines
// (BenchmarkAuditRead); hashing the bytes read costs about 5%, and the
// filter still parses every line. The residual risks: a prefix changed
// to other bytes with the same SHA-256 (a collision), and bytes changed
// while a call reads them, which a call checking every line in one read
// does not see either. The state is in memory only: a new process, or a
// new Gateway, starts over.
type auditChain struct {
	// checked counts the lines whose hash and prev were checked, so that
	// tests see how much of the file a call verified.
	checked atomic.Int64

	mu     sync.Mutex
	last   *auditVerified // the state after the latest complete read; never changed once stored
	opened uint64         // reads started
}

// auditVerified is the chain state after the first size bytes of an
// audit file, as one complete read of them found it.
type auditVerified struct {
	file    os.FileInfo       // which file: os.SameFile compares device and inode
	read    uint64            // which read (auditChain.opened): the latest started wins
	maxLine int               // the line bound it was read with (a longer line breaks the chain)
	size    int64             // the bytes read: [0, size)
	digest  [sha256.Size]byte // their SHA-256
	end     int64             // where the last whole line ends (<= size); a last line without its newline is not in the chain yet
	lines   int               // the chain's line count at end
	prev    string            // and the hash of its last line
	cont    string            // the first line's prev if a continuation line (chainVerifier.continues)
	reason  string            // and its reason
	broken  error             // the first break before end (*AuditError); nil when intact
}

// from starts a read of the file st with the line bound maxLine: it
// returns the read's number and the state to continue from, or nil to
// check every line: none is known, it is another file (rotated away,
// replaced), or one shorter than the bytes read before (truncated).
func (c *auditChain) from(st os.FileInfo, maxLine int) (uint64, *auditVerified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened++
	v := c.last
	if v == nil || !os.SameFile(v.file, st) || st.Size() < v.size || v.maxLine != maxLine {
		return c.opened, nil
	}
	return c.opened, v
}

// store remembers v, unless a read started later has stored its state
// already (it saw the file as it is more recently).
func (c *auditChain) store(v *auditVerified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || v.read > c.last.read {
		c.last = v
	}
}

// filterAudit reads the audit file up to its size when opened (lines
// written meanwhile wait for the next call) with scanAudit, continuing
// the chain from what c knows of the file; if the file's first bytes
// are no longer those c remembers, it reads the file again and checks
// every line.
func (c *auditChain) filterAudit(ctx context.Context, path string, q auditQuery) (auditAnswer, error) {
	f, err := os.Open(path)
	if err != nil {
		return auditAnswer{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return auditAnswer{}, err
	}
	read, from := c.from(st, q.maxLine)
	ans, to, err := scanAuditFrom(ctx, io.LimitReader(f, st.Size()), q, from)
	c.checked.Add(int64(ans.checked))
	if err == nil && to == nil { // the bytes before from.size changed
		if _, err = f.Seek(0, io.SeekStart); err == nil {
			ans, to, err = scanAuditFrom(ctx, io.LimitReader(f, st.Size()), q, nil)
			c.checked.Add(int64(ans.checked))
		}
	}
	if err != nil {
		return auditAnswer{}, err
	}
	to.file, to.read = st, read
	c.store(to)
	return ans, nil
}

// scanAudit is scanAuditFrom checking every line.
func scanAudit(ctx context.Context, r io.Reader, q auditQuery) (auditAnswer, error) {
	ans, _, err := scanAuditFrom(ctx, r, q, nil)
	return ans, err
}

// scanAuditFrom reads audit lines from r one at a time and keeps the last
// q.limit matching ones, exactly as written, so each still carries its
// prev and hash; it holds at most q.maxBytes of them, dropping the oldest
// first. It checks the chain of every line on the way, or, with from,
// of the lines after from.end only, continuing from.lines, from.prev and
// from.broken: the lines before were checked by an earlier read, as long
// as r starts with the same from.size bytes. A line longer than q.maxLine
// is skipped (and breaks the chain); a last line without its newline is
// left out: it may be half written. It stops with ctx's error as soon as
// ctx is done.
//
// It returns the chain state after what it read (without file and read),
// or no answer and a nil state as soon as it finds that r does not start
// with from's bytes (their SHA-256 differs, or r is shorter): then the
// caller reads again without from. It finds that at the latest with the
// first line after from.end: in from's bytes no line ends after
// from.end, so that line ends past from.size, and the digest of the
// first from.size bytes is known once it is read.
func scanAuditFrom(ctx context.Context, r io.Reader, q auditQuery, from *auditVerified) (auditAnswer, *auditVerified, error) {
	var (
		ans  auditAnswer
		v    chainVerifier
		held [][]byte // matching lines; the answer is held[head:]
		head int
		size int // bytes of held[head:], newlines included
		buf  []byte
		pos  int64 // where the line read ends
		done int64 // the lines ending up to here were checked before
		d    = &digestReader{r: r, h: sha256.New(), check: -1, matched: true}
	)
	if from != nil {
		v = chainVerifier{n: from.lines, prev: from.prev, continues: from.cont, reason: from.reason}
		ans.chain, done = from.broken, from.end
		d.check, d.want = from.size, from.digest
	}
	br := bufio.NewReaderSize(d, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return auditAnswer{}, nil, err
		}
		line, n, tooLong, err := readLine(ctx, br, &buf, q.maxLine)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return auditAnswer{}, nil, err
		}
		pos += int64(n)
		if pos > done && !d.same() {
			return auditAnswer{}, nil, nil
		}
		if tooLong {
			if pos > done {
				v.n++
				if ans.chain == nil {
					ans.chain = &AuditError{Line: v.n, Reason: fmt.Sprintf("longer than %d bytes", q.maxLine)}
				}
			}
			continue
		}
		if pos > done && ans.chain == nil {
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
	if !d.same() {
		return auditAnswer{}, nil, nil
	}
	ans.continues = v.continues
	to := &auditVerified{maxLine: q.maxLine, size: d.n, end: pos, lines: v.n, prev: v.prev, cont: v.continues, reason: v.reason, broken: ans.chain}
	d.h.Sum(to.digest[:0])
	return ans, to, nil
}

// digestReader reads from r and hashes all it reads with h; on the way,
// once it has read check bytes (check >= 0), it notes whether they hash to
// want.
type digestReader struct {
	r       io.Reader
	h       hash.Hash
	n       int64 // bytes read
	check   int64 // -1 when checked or nothing to check
	want    [sha256.Size]byte
	matched bool // the first check bytes hashed to want (true with nothing to check)
}

// same reports whether the first check bytes were read and hashed to want.
func (d *digestReader) same() bool { return d.check < 0 && d.matched }

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	b := p[:n]
	if d.check >= d.n && d.check <= d.n+int64(n) {
		k := d.check - d.n
		d.h.Write(b[:k])
		b, d.n = b[k:], d.check
		var sum [sha256.Size]byte
		d.matched, d.check = [sha256.Size]byte(d.h.Sum(sum[:0])) == d.want, -1
	}
	d.h.Write(b)
	d.n += int64(len(b))
	return n, err
}

// readLine reads the next line into *buf (reused) and returns it without
// its newline, and the bytes it took from br (newline included). A line
// longer than max is read past and reported tooLong. At the end it
// returns io.EOF, also after a last line without a newline. It stops with
// ctx's error as soon as ctx is done, also within a line: the rest of an
// over-long one may run to the end of the file (a zero-filled tail after
// a crash).
func readLine(ctx context.Context, br *bufio.Reader, buf *[]byte, max int) (line []byte, n int, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		frag, err := br.ReadSlice('\n')
		n += len(frag)
		if !tooLong && len(*buf)+len(frag) > max+1 {
			tooLong, *buf = true, (*buf)[:0]
		}
		if !tooLong {
			*buf = append(*buf, frag...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(*buf, []byte("\n")), n, tooLong, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, 0, false, err
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, false, err
		}
	}
}

// apiAudit is GET /api/audit?tenant=&since=&until=&message_id=&event=&limit=:
// the newest matching audit lines as JSON lines (application/x-ndjson),
// at most limit (default 1000, at most 100000) and 64 MiB of them. The
// header X-Audit-Chain says whether the whole file's hash chain is
// "intact", where it is broken, or, for a file whose first line is a
// continuation line (the file goes on from one logrotate rotated away,
// or it was truncated under the gateway), "continues": intact from that
// line on, with a start the file alone cannot prove. X-Audit-Continues
// is then that line's prev: the hash the earlier file's last line must
// have (mailgate audit verify OLD NEW checks it). X-Audit-Omitted counts
// the older matching lines left out. The file is read a
// line at a time, and the scan stops when the request's context ends
// (the caller went away); at most auditMaxReads calls read it at once,
// the others wait their turn.
// The chain of the lines an earlier call checked is not checked again
// as long as the file still starts with the same bytes (see auditChain).
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
	ans, err := g.auditChain.filterAudit(r.Context(), path, q)
	<-g.auditReads
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
	switch {
	case ans.chain != nil:
		w.Header().Set("X-Audit-Chain", "broken at "+ans.chain.Error())
	case ans.continues != "":
		// Intact from its first line on, which continues an earlier
		// chain: the file alone cannot show that nothing was lost before
		// it (a rotation, or the file emptied under the gateway).
		w.Header().Set("X-Audit-Chain", "continues")
	default:
		w.Header().Set("X-Audit-Chain", "intact")
	}
	if ans.continues != "" {
		w.Header().Set("X-Audit-Continues", ans.continues)
	}
	w.Header().Set("X-Audit-Omitted", strconv.Itoa(ans.omitted))
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, l := range ans.lines {
		bw.Write(l)
		bw.WriteByte('\n')
	}
	bw.Flush()
}
