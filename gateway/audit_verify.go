package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// splitHash splits a line into the hashed content (the line without its
// hash field) and the hash.
func splitHash(line []byte) (content []byte, hash string, err error) {
	const key = `,"hash":"`
	i := bytes.LastIndex(line, []byte(key))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, "", errors.New("no hash field at the end")
	}
	hash = string(line[i+len(key) : len(line)-2])
	content = append(append([]byte(nil), line[:i]...), '}')
	return content, hash, nil
}

// Continuation lines: the first line of a file that goes on with the
// chain of lines written before it (elsewhere, or before a truncation).
const (
	auditEventContinue   = "audit"
	auditReasonReopened  = "reopened"  // the path named a new file at a reload
	auditReasonTruncated = "truncated" // the file shrank under the writer (copytruncate)
)

// AuditError says where an audit log's chain breaks.
type AuditError struct {
	File   string // the file, when VerifyAuditFiles checked several; else ""
	Line   int    // from 1
	Reason string
}

// Error says where the chain breaks.
func (e *AuditError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// VerifyAudit reads an audit log and checks its hash chain: every line's
// hash matches its content and its "prev" names the line before. It
// returns the number of lines, or an *AuditError at the first broken
// place: an edited line fails its own hash, a removed or inserted line
// breaks the next line's prev. (A removed last line needs the last hash
// kept elsewhere to be noticed.) The first line's prev is empty, unless
// the line is a continuation line (event "audit", reason "reopened" or
// "truncated"): the file then continues a chain written before it, in a
// rotated file (see AuditSummary and VerifyAuditFiles).
func VerifyAudit(r io.Reader) (int, error) {
	sum, err := VerifyAuditSummary(r)
	return sum.Lines, err
}

// AuditSummary is what VerifyAuditSummary found in an audit log.
type AuditSummary struct {
	// Lines is the number of lines checked.
	Lines int
	// Continues is the prev of the first line when that is a
	// continuation line: the hash the last line of the file written
	// before it (the rotated one) must have. It is "" when the file
	// starts a chain.
	Continues string
	// Reason is the continuation line's reason: "reopened" (written to a
	// new file at a reload) or "truncated" (the file was truncated under
	// the gateway, logrotate's copytruncate); "" without one.
	Reason string
	// Last is the hash of the last line, "" for an empty file.
	Last string
}

// VerifyAuditSummary is VerifyAudit, and says whether the log continues
// an earlier one and how it ends.
func VerifyAuditSummary(r io.Reader) (AuditSummary, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var v chainVerifier
	for sc.Scan() {
		if err := v.next(sc.Bytes()); err != nil {
			return v.summary(), err
		}
	}
	return v.summary(), sc.Err()
}

// VerifyAuditFiles checks the hash chain of audit files written one after
// another, oldest first (audit.jsonl.2, audit.jsonl.1, audit.jsonl), as
// VerifyAudit checks one, and that each file after the first goes on
// from the one before: its first line is a continuation line whose prev
// is the hash of the earlier file's last line. A file that starts a new
// chain instead (the gateway restarted on a fresh file) or continues
// another hash (lines lost between the files, or a file missing or out
// of order) is an *AuditError at its line 1. Empty files are skipped in
// that comparison. The first file may itself continue an older one. It
// returns what it found in each file up to the first that fails.
func VerifyAuditFiles(paths ...string) ([]AuditSummary, error) {
	var (
		out      []AuditSummary
		last     string // the hash of the last line so far
		lastFile string
	)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return out, err
		}
		sum, err := VerifyAuditSummary(f)
		f.Close()
		if err != nil {
			var ae *AuditError
			if errors.As(err, &ae) {
				ae.File = p
				return out, ae
			}
			return out, fmt.Errorf("%s: %w", p, err)
		}
		switch {
		case sum.Lines == 0:
			out = append(out, sum)
			continue
		case lastFile == "":
		case sum.Continues == "":
			return out, &AuditError{File: p, Line: 1, Reason: "starts a new chain: it does not continue " + lastFile}
		case sum.Continues != last:
			return out, &AuditError{File: p, Line: 1, Reason: "continues " + sum.Continues + " but " + lastFile + " ends with " + last + " (lines missing between the files, or not the file after it)"}
		}
		out = append(out, sum)
		last, lastFile = sum.Last, p
	}
	return out, nil
}

// chainVerifier checks an audit log's chain one line at a time.
type chainVerifier struct {
	n         int
	prev      string
	continues string // the first line's prev, when a continuation line
	reason    string // and its reason
}

func (v *chainVerifier) summary() AuditSummary {
	return AuditSummary{Lines: v.n, Continues: v.continues, Reason: v.reason, Last: v.prev}
}

// next checks the next line (without its newline).
func (v *chainVerifier) next(line []byte) error {
	v.n++
	content, hash, err := splitHash(line)
	if err != nil {
		return &AuditError{Line: v.n, Reason: err.Error()}
	}
	sum := sha256.Sum256(content)
	if "sha256:"+hex.EncodeToString(sum[:]) != hash {
		return &AuditError{Line: v.n, Reason: "hash does not match the line (edited)"}
	}
	var p struct {
		Prev   *string `json:"prev"`
		Event  string  `json:"event"`
		Reason string  `json:"reason"`
	}
	if err := json.Unmarshal(content, &p); err != nil || p.Prev == nil {
		return &AuditError{Line: v.n, Reason: "not a JSON audit line with prev"}
	}
	switch {
	case *p.Prev == v.prev:
	case v.n == 1 && p.Event == auditEventContinue && (p.Reason == auditReasonReopened || p.Reason == auditReasonTruncated):
		// The file goes on from a rotated one; VerifyAuditFiles checks
		// that one's last hash.
		v.continues, v.reason = *p.Prev, p.Reason
	case v.n == 1:
		return &AuditError{Line: v.n, Reason: "prev is not empty on the first line, which is no continuation line (the lines before were removed)"}
	default:
		return &AuditError{Line: v.n, Reason: "prev does not match the previous line's hash (a line was removed or inserted)"}
	}
	v.prev = hash
	return nil
}
