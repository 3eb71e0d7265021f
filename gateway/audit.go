package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// auditRecord is one audit line. It never holds a password, token, AUTH
// payload, message body or key: only who, what envelope, which upstream,
// what happened and what was answered.
type auditRecord struct {
	TS           string    `json:"ts"`
	Event        string    `json:"event"` // session, auth, message, reload, admin, audit
	ID           string    `json:"id,omitempty"`
	Session      string    `json:"session,omitempty"`
	Listener     string    `json:"listener,omitempty"`
	Client       string    `json:"client,omitempty"`
	HELO         string    `json:"helo,omitempty"`
	TLS          string    `json:"tls,omitempty"`
	ClientCert   string    `json:"client_cert,omitempty"`
	Mech         string    `json:"mech,omitempty"`
	User         string    `json:"user,omitempty"`
	Tenant       string    `json:"tenant,omitempty"`
	MailFrom     *string   `json:"mail_from,omitempty"`
	RcptCount    int       `json:"rcpt_count,omitempty"`
	Rcpt         []string  `json:"rcpt,omitempty"`
	RcptDenied   []string  `json:"rcpt_denied,omitempty"`
	RcptFailed   []string  `json:"rcpt_failed,omitempty"`
	MessageID    string    `json:"message_id,omitempty"`
	Size         int       `json:"size,omitempty"`
	Mode         string    `json:"mode,omitempty"`
	Upstream     string    `json:"upstream,omitempty"`
	Attempts     []Attempt `json:"attempts,omitempty"`
	Outcome      string    `json:"outcome,omitempty"`
	Reply        string    `json:"reply,omitempty"`
	Result       string    `json:"result,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	Banned       bool      `json:"banned,omitempty"`
	DelayMS      int64     `json:"delay_ms,omitempty"` // wait before a failed AUTH's reply
	Error        string    `json:"error,omitempty"`
	AuditError   string    `json:"audit_error,omitempty"` // a reload's failed reopen of the audit file
	Tenants      int       `json:"tenants,omitempty"`
	Messages     int       `json:"messages,omitempty"`
	AuthFailures int       `json:"auth_failures,omitempty"`
	AcceptMS     int64     `json:"accept_ms,omitempty"`
	DurationMS   int64     `json:"duration_ms,omitempty"`
	// An admin API call: who (never a token), what, and its status code.
	Principal string `json:"principal,omitempty"`
	Role      string `json:"role,omitempty"`
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
}

// auditLog writes hash-chained JSON lines: each line's "prev" is the
// previous line's "hash", and "hash" is the SHA-256 of the line without
// its hash field, so an edited, inserted or removed line breaks the chain
// (VerifyAudit finds where).
//
// The chain goes on across files. reopen (on every reload) opens the path
// again and, when it names another file than the one held (logrotate
// renamed the old one away), writes the rest of the lines there; and
// before each line, write checks that the file held has not shrunk below
// what was written into it (logrotate's copytruncate). In both cases the
// first line of the new file (or of the truncated one) is a continuation
// line, {"event":"audit","reason":"reopened"|"truncated",...}, whose prev
// is the hash of the last line written before; VerifyAudit accepts a
// non-empty prev on a file's first line only on such a line. Both are
// logged at Warn; a truncation is also counted (onError): the history
// the file held is gone from it, rotated away or erased.
type auditLog struct {
	mu     sync.Mutex
	w      io.Writer
	f      *os.File
	path   string // the file, for GET /api/audit and reopen; "" when not a regular file
	end    int64  // the size f should have: its size when opened plus what was written since
	prev   string
	key    []byte
	hashed bool
	err    error
	// onError, if set, counts a line that could not be written, a failed
	// reopen and a truncation of the file under the writer.
	onError func()
	// log gets the Warn lines of a truncation and of a reopen onto a new
	// file; it discards them unless the gateway sets it.
	log *slog.Logger
}

func openAudit(cfg AuditConfig, key []byte) (*auditLog, error) {
	a := &auditLog{key: key, hashed: cfg.Recipients == "hash", log: slog.New(slog.DiscardHandler)}
	switch cfg.Path {
	case "":
		return a, nil
	case "-":
		a.w = os.Stdout
		return a, nil
	}
	// A path that is no regular file (/dev/stdout, a pipe, a FIFO) is
	// only written: reading it for the last hash would take a reader's
	// lines or wait for a writer, and its size says nothing.
	prev := ""
	if st, err := os.Stat(cfg.Path); err != nil || st.Mode().IsRegular() {
		if prev, err = lastHash(cfg.Path); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	a.f, a.w, a.prev, a.end = f, f, prev, st.Size()
	if st.Mode().IsRegular() {
		a.path = cfg.Path
	}
	return a, nil
}

// lastHash reads the hash of a log's last line, to continue its chain.
func lastHash(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return "", err
	}
	n := min(st.Size(), 64<<10)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, st.Size()-n); err != nil {
		return "", err
	}
	buf = bytes.TrimRight(buf, "\n")
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	}
	_, h, err := splitHash(buf)
	if err != nil {
		return "", fmt.Errorf("%s: last line: %w", path, err)
	}
	return h, nil
}

// write appends rec. Errors are kept for /readyz. A file that shrank
// below what was written into it (truncated under the writer) gets a
// continuation line first; that is logged at Warn and counted.
func (a *auditLog) write(rec *auditRecord, now time.Time) {
	if a == nil {
		return
	}
	b, ok := a.encode(rec, now)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil {
		return
	}
	if a.f != nil && a.path != "" {
		// copytruncate: the file shrank under us (a regular file: any
		// other has size 0). One fstat a line
		// (BenchmarkAuditWrite/fstat: 1.3 to 2.9 µs here, next to 15
		// to 30 µs for the line's write).
		if st, err := a.f.Stat(); err == nil && st.Size() < a.end {
			a.log.Warn("audit: the file was truncated under the gateway; the lines it held are gone from it, "+
				"and its next line continues their chain", "path", a.path, "size", st.Size(), "written", a.end, "continues", a.prev)
			if a.onError != nil {
				a.onError()
			}
			a.end = st.Size()
			if tb, ok := a.encode(&auditRecord{Event: auditEventContinue, Reason: auditReasonTruncated}, now); ok {
				a.writeLine(tb)
			}
		}
	}
	a.writeLine(b)
}

// encode renders rec as JSON without the closing brace's prev and hash.
func (a *auditLog) encode(rec *auditRecord, now time.Time) ([]byte, bool) {
	rec.TS = now.UTC().Format("2006-01-02T15:04:05.000Z")
	var jb bytes.Buffer
	enc := json.NewEncoder(&jb)
	enc.SetEscapeHTML(false) // Message-IDs keep their <>
	if err := enc.Encode(rec); err != nil {
		if a.onError != nil {
			a.onError()
		}
		return nil, false
	}
	return bytes.TrimRight(jb.Bytes(), "\n"), true
}

// chain returns the line b (from encode) with prev and hash, and its hash.
func (a *auditLog) chain(b []byte) (line []byte, hash string) {
	line = make([]byte, 0, len(b)+150)
	line = append(line, b[:len(b)-1]...)
	line = append(line, `,"prev":"`...)
	line = append(line, a.prev...)
	line = append(line, `"}`...)
	sum := sha256.Sum256(line)
	h := "sha256:" + hex.EncodeToString(sum[:])
	line = append(line[:len(line)-1], `,"hash":"`...)
	line = append(line, h...)
	line = append(line, "\"}\n"...)
	return line, h
}

// writeLine writes the line b (from encode), chained; a.mu is held.
func (a *auditLog) writeLine(b []byte) error {
	line, h := a.chain(b)
	n, err := a.w.Write(line)
	a.end += int64(n)
	if err != nil {
		a.err = err
		if a.onError != nil {
			a.onError()
		}
		return err
	}
	a.prev = h
	return nil
}

// reopen opens the audit path again (mailgate does on every reload, so
// that logrotate's rename and SIGHUP move the writing to the new file).
// If the path names the file held, nothing changes; if it names another,
// reopen writes a continuation line (reason "reopened") there, under the
// writer's lock so that no line goes between, then writes every later
// line there and closes the old file. On an error the old file stays in
// use, the error is counted and returned. It does nothing for standard
// output or another path that is no regular file (a pipe, a FIFO: to
// open a FIFO again could wait for ever for a reader), without an audit,
// or once closed.
func (a *auditLog) reopen(now time.Time) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil || a.w == nil || a.path == "" {
		return nil
	}
	err := a.reopenLocked(now)
	if err != nil && a.onError != nil {
		a.onError()
	}
	return err
}

func (a *auditLog) reopenLocked(now time.Time) error {
	old, err := a.f.Stat()
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reopen: %w", err)
	}
	if os.SameFile(old, st) {
		return f.Close()
	}
	b, ok := a.encode(&auditRecord{Event: auditEventContinue, Reason: auditReasonReopened}, now)
	if !ok {
		f.Close()
		return errors.New("reopen: cannot encode the continuation line")
	}
	line, h := a.chain(b)
	n, err := f.Write(line)
	if err != nil {
		f.Close()
		return fmt.Errorf("reopen: %w", err)
	}
	a.log.Warn("audit: reopened: the path names a new file (rotated); the audit goes on there, its first line continuing the chain",
		"path", a.path, "continues", a.prev)
	a.f.Close()
	a.f, a.w, a.prev, a.end, a.err = f, f, h, st.Size()+int64(n), nil
	return nil
}

// rcpts returns recipients as the audit shows them: plain, or keyed
// hashes "h:…" that match the same address across lines.
func (a *auditLog) rcpts(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	if a == nil || !a.hashed {
		return list
	}
	out := make([]string, len(list))
	for i, r := range list {
		m := hmac.New(sha256.New, a.key)
		m.Write([]byte(strings.ToLower(r)))
		out[i] = "h:" + hex.EncodeToString(m.Sum(nil))[:24]
	}
	return out
}

func (a *auditLog) healthy() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *auditLog) close() {
	if a == nil {
		return
	}
	a.mu.Lock() // before reading a.f, which reopen changes
	defer a.mu.Unlock()
	if a.f == nil {
		return
	}
	a.f.Close()
	a.w = nil
}
