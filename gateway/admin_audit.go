package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// auditQuery is a filter over audit lines; zero fields match anything.
type auditQuery struct {
	tenant, messageID, event string
	since, until             time.Time
	limit                    int
}

// parseAuditQuery reads tenant, message_id, event, since, until (RFC 3339)
// and limit (default 1000) from a GET /api/audit URL.
func parseAuditQuery(r *http.Request) (auditQuery, error) {
	v := r.URL.Query()
	q := auditQuery{tenant: v.Get("tenant"), event: v.Get("event"), limit: 1000,
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
		if err != nil || n < 1 || n > 100000 {
			return q, errors.New("limit: a number from 1 to 100000")
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

// filterAudit reads the audit file up to its size when opened (lines
// written meanwhile wait for the next call; a half-written last line is
// left out) and returns the last q.limit matching lines, oldest first,
// exactly as written, so each still carries its prev and hash. It checks
// the whole file's chain on the way: chain is nil when it is intact.
func filterAudit(path string, q auditQuery) (lines [][]byte, chain error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	var v chainVerifier
	br := bufio.NewReaderSize(io.LimitReader(f, st.Size()), 64<<10)
	ring := make([][]byte, 0, min(q.limit, 1024))
	next := 0
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, err
		}
		line = bytes.TrimRight(line, "\n")
		if chain == nil {
			chain = v.next(line)
		}
		if !q.match(line) {
			continue
		}
		if len(ring) < q.limit {
			ring = append(ring, line)
			continue
		}
		ring[next] = line
		next = (next + 1) % q.limit
	}
	return append(ring[next:], ring[:next]...), chain, nil
}

// apiAudit is GET /api/audit?tenant=&since=&until=&message_id=&event=&limit=:
// matching audit lines as JSON lines (application/x-ndjson). The header
// X-Audit-Chain says whether the whole file's hash chain is "intact" or
// where it is broken.
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
	lines, chain, err := filterAudit(path, q)
	if err != nil {
		g.log.Error("admin: read audit", "err", err)
		http.Error(w, "cannot read the audit log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if chain != nil {
		w.Header().Set("X-Audit-Chain", "broken at "+chain.Error())
	} else {
		w.Header().Set("X-Audit-Chain", "intact")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, l := range lines {
		bw.Write(l)
		bw.WriteByte('\n')
	}
	bw.Flush()
}
