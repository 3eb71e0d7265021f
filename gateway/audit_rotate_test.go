package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

// verifyFile is VerifyAuditSummary on a file.
func verifyFile(t *testing.T, path string) (gateway.AuditSummary, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return gateway.VerifyAuditSummary(f)
}

// firstLine decodes a file's first audit line.
func firstLine(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	line, _, _ := strings.Cut(string(b), "\n")
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("first line %q: %v", line, err)
	}
	return m
}

// getAuditAPI is GET /api/audit as the auditor: the chain headers and
// the number of lines answered.
func (e *env) getAuditAPI() (chain, continues string, lines int) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.g.AdminAddr()+"/api/audit?limit=100000", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["audit-team"])
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, b)
	}
	return resp.Header.Get("X-Audit-Chain"), resp.Header.Get("X-Audit-Continues"), strings.Count(string(b), "\n")
}

// logrotate's rename rotation and a reload (POST /api/reload, as a
// postrotate script sends; SIGHUP is the same code path): the lines
// after it are in the new file, which starts with a "reopened" line
// continuing the old file's chain; each file is intact, the two in order
// are one chain, and GET /api/audit reads the new file intact, checking
// it from its first line (another inode: what it knew of the old file
// does not apply).
//
// The switch is logged at Warn with the hash the new file continues; it
// is no error, so mailgate_audit_write_errors_total stays 0.
func TestAuditRenameRotateReload(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	e, _ := adminEnv(t, adminServer+policyTenants, gateway.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	for range 3 {
		e.call("GET", "/api/tenants", e.tokens["ops"])
	}
	if chain, cont, _ := e.getAuditAPI(); chain != "intact" || cont != "" {
		t.Fatalf("before rotation: X-Audit-Chain %q, X-Audit-Continues %q", chain, cont)
	}
	old := e.audit + ".1"
	if err := os.Rename(e.audit, old); err != nil {
		t.Fatal(err)
	}
	if code, body := e.call("POST", "/api/reload", e.tokens["ops"]); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	for range 3 {
		e.call("GET", "/api/tenants", e.tokens["ops"])
	}
	oldSum, err := verifyFile(t, old)
	if err != nil {
		t.Fatalf("rotated file: %v", err)
	}
	if _, err := os.Stat(e.audit); err != nil {
		t.Fatalf("no new audit file after the reload: %v", err)
	}
	newSum, err := verifyFile(t, e.audit)
	if err != nil {
		t.Fatalf("new file: %v", err)
	}
	first := firstLine(t, e.audit)
	if first["event"] != "audit" || first["reason"] != "reopened" || first["prev"] != oldSum.Last || newSum.Continues != oldSum.Last {
		t.Fatalf("new file's first line %v; the old file ends with %s", first, oldSum.Last)
	}
	reloads := e.auditOf("reload")
	if len(reloads) != 1 || reloads[0]["result"] != "ok" || reloads[0]["audit_error"] != nil {
		t.Fatalf("reload lines in the new file: %v", reloads)
	}
	if len(e.auditOf("admin")) < 4 {
		t.Fatalf("admin lines in the new file: %v", e.auditLines())
	}
	if _, err := gateway.VerifyAuditFiles(old, e.audit); err != nil {
		t.Fatalf("both files in order: %v", err)
	}
	if _, err := gateway.VerifyAuditFiles(e.audit, old); err == nil {
		t.Fatal("the files in the wrong order verified as one chain")
	}
	checked := gateway.AuditLinesChecked(e.g)
	chain, cont, _ := e.getAuditAPI()
	if chain != "continues" || cont != oldSum.Last {
		t.Fatalf("after rotation: X-Audit-Chain %q, X-Audit-Continues %q (want %s)", chain, cont, oldSum.Last)
	}
	// Every line of the new file as it was when read was checked (the
	// GET's own admin line comes after).
	if got := gateway.AuditLinesChecked(e.g) - checked; got != int64(newSum.Lines) {
		t.Fatalf("the call checked %d lines of the new file's %d", got, newSum.Lines)
	}
	if !logged(logBuf.String(), "level=WARN", "reopened", oldSum.Last) {
		t.Fatalf("the switch to the new file is not logged at Warn with the hash it continues:\n%s", logBuf.String())
	}
	if _, body := e.call("GET", "/metrics", e.tokens["ops"]); !strings.Contains(body, "mailgate_audit_write_errors_total 0") {
		t.Fatalf("a rotation counted as an audit error:\n%s", body)
	}
	// A second reload with no rotation keeps the file.
	before := len(e.auditLines())
	if code, body := e.call("POST", "/api/reload", e.tokens["ops"]); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if got := e.auditLines(); len(got) != before+2 || len(e.auditOf("audit")) != 1 {
		t.Fatalf("a reload without rotation: %d lines, was %d", len(got), before)
	}
}

// A reload whose reopen fails (the path is now a directory) reloads the
// configuration, writes on to the file held and says so in its audit
// line; /metrics counts it.
func TestAuditReopenFailsOnReload(t *testing.T) {
	t.Parallel()
	e, _ := adminEnv(t, adminServer+policyTenants)
	old := e.audit + ".1"
	if err := os.Rename(e.audit, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.audit, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, body := e.call("POST", "/api/reload", e.tokens["ops"]); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	e.audit = old
	reloads := e.auditOf("reload")
	if len(reloads) != 1 || reloads[0]["result"] != "ok" || !strings.Contains(fmt.Sprint(reloads[0]["audit_error"]), "reopen") {
		t.Fatalf("reload lines: %v", reloads)
	}
	e.verifyAudit()
	if _, body := e.call("GET", "/metrics", e.tokens["ops"]); !strings.Contains(body, "mailgate_audit_write_errors_total 1") {
		t.Fatalf("metrics:\n%s", body)
	}
}

// logged reports whether one line of log holds every part.
func logged(log string, parts ...string) bool {
	for _, l := range strings.Split(log, "\n") {
		n := 0
		for _, p := range parts {
			if strings.Contains(l, p) {
				n++
			}
		}
		if n == len(parts) {
			return true
		}
	}
	return false
}

// logrotate's copytruncate: the file is copied and truncated to nothing
// under the running gateway. The next line goes after a "truncated"
// line continuing the chain, and the copy and the file in order are one
// chain. The truncated file alone cannot show its start: GET /api/audit
// says "X-Audit-Chain: continues" (not intact) with the hash, and the
// truncation is logged at Warn and counted in
// mailgate_audit_write_errors_total (the history it held is gone from
// the file, whoever emptied it).
func TestAuditCopytruncate(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	e, _ := adminEnv(t, adminServer+policyTenants, gateway.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	for range 3 {
		e.call("GET", "/api/tenants", e.tokens["ops"])
	}
	if chain, _, _ := e.getAuditAPI(); chain != "intact" {
		t.Fatal(chain)
	}
	b, err := os.ReadFile(e.audit)
	if err != nil {
		t.Fatal(err)
	}
	copied := e.audit + ".1"
	if err := os.WriteFile(copied, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(e.audit, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.call("GET", "/api/tenants", e.tokens["ops"])
	}
	sum, err := verifyFile(t, e.audit)
	if err != nil {
		t.Fatalf("truncated file: %v\n%s", err, strings.Join(e.auditLines(), "\n"))
	}
	if first := firstLine(t, e.audit); first["event"] != "audit" || first["reason"] != "truncated" || sum.Reason != "truncated" || sum.Lines != 4 {
		t.Fatalf("first line %v, %+v", first, sum)
	}
	if _, err := gateway.VerifyAuditFiles(copied, e.audit); err != nil {
		t.Fatalf("the copy and the file in order: %v", err)
	}
	if chain, cont, n := e.getAuditAPI(); chain != "continues" || cont != sum.Continues || n != 4 {
		t.Fatalf("after copytruncate: X-Audit-Chain %q, X-Audit-Continues %q, %d lines", chain, cont, n)
	}
	if !logged(logBuf.String(), "level=WARN", "truncated", sum.Continues) {
		t.Fatalf("the truncation is not logged at Warn with the hash the file continues:\n%s", logBuf.String())
	}
	if _, body := e.call("GET", "/metrics", e.tokens["ops"]); !strings.Contains(body, "mailgate_audit_write_errors_total 1") {
		t.Fatalf("the truncation is not counted:\n%s", body)
	}
}

// chained returns audit lines with the given bodies (JSON objects
// without prev and hash), chained from prev as the gateway writes them.
func chained(prev string, bodies ...string) (lines []string, last string) {
	for _, b := range bodies {
		content := strings.TrimSuffix(b, "}") + `,"prev":"` + prev + `"}`
		sum := sha256.Sum256([]byte(content))
		prev = "sha256:" + hex.EncodeToString(sum[:])
		lines = append(lines, strings.TrimSuffix(content, "}")+`,"hash":"`+prev+`"}`+"\n")
	}
	return lines, prev
}

// A non-empty prev on a file's first line is accepted only on a
// continuation line; a forged first line (each line's own hash right)
// is broken at line 1, in VerifyAudit and in GET /api/audit; a
// continuation line after line 1 does not restart the chain.
func TestAuditForgedFirstLine(t *testing.T) {
	t.Parallel()
	const other = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		name, first, prev string
		broken            int // 0: intact
	}{
		{"continuation reopened", `{"ts":"x","event":"audit","reason":"reopened"}`, other, 0},
		{"continuation truncated", `{"ts":"x","event":"audit","reason":"truncated"}`, other, 0},
		{"start of a chain", `{"ts":"x","event":"reload"}`, "", 0},
		{"message with prev", `{"ts":"x","event":"message"}`, other, 1},
		{"audit event, other reason", `{"ts":"x","event":"audit","reason":"forged"}`, other, 1},
		{"reason on another event", `{"ts":"x","event":"admin","reason":"reopened"}`, other, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, _ := chained(tc.prev, tc.first, `{"ts":"y","event":"admin"}`)
			_, err := gateway.VerifyAudit(strings.NewReader(strings.Join(lines, "")))
			switch {
			case tc.broken == 0 && err != nil:
				t.Fatalf("broken: %v", err)
			case tc.broken != 0 && (err == nil || !strings.Contains(err.Error(), "line 1")):
				t.Fatalf("want broken at line 1, got %v", err)
			}
		})
	}
	// A continuation line as line 2 that does not follow line 1.
	l1, _ := chained("", `{"ts":"x","event":"reload"}`)
	l2, _ := chained(other, `{"ts":"x","event":"audit","reason":"reopened"}`)
	if _, err := gateway.VerifyAudit(strings.NewReader(l1[0] + l2[0])); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("continuation line in the middle: %v", err)
	}

	// GET /api/audit on a gateway whose file starts with a forged line.
	e, _ := adminEnv(t, adminServer+policyTenants)
	forged, _ := chained(other, `{"ts":"x","event":"message"}`)
	if err := os.WriteFile(e.audit+".forged", []byte(forged[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.audit+".forged", e.audit); err != nil {
		t.Fatal(err)
	}
	if code, body := e.call("POST", "/api/reload", e.tokens["ops"]); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if chain, cont, _ := e.getAuditAPI(); !strings.HasPrefix(chain, "broken at line 1") || cont != "" {
		t.Fatalf("forged first line: X-Audit-Chain %q, X-Audit-Continues %q", chain, cont)
	}
}

// VerifyAuditFiles: files that do not continue one another.
func TestVerifyAuditFilesMismatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, lastA := chained("", `{"ts":"1","event":"reload"}`, `{"ts":"2","event":"admin"}`)
	b, _ := chained(lastA, `{"ts":"3","event":"audit","reason":"reopened"}`, `{"ts":"4","event":"admin"}`)
	fresh, _ := chained("", `{"ts":"5","event":"reload"}`)
	lost, _ := chained("sha256:1111111111111111111111111111111111111111111111111111111111111111", `{"ts":"3","event":"audit","reason":"truncated"}`)
	write := func(name string, lines []string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pa, pb, pf, pl, pe := write("a", a), write("b", b), write("fresh", fresh), write("lost", lost), write("empty", nil)
	if sums, err := gateway.VerifyAuditFiles(pa, pe, pb); err != nil || len(sums) != 3 || sums[2].Continues != lastA {
		t.Fatalf("a, empty, b: %+v %v", sums, err)
	}
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{pa, pf}, "fresh: line 1: starts a new chain"},
		{[]string{pa, pl}, "lost: line 1: continues sha256:1111"},
		{[]string{pb, pa}, "a: line 1: starts a new chain"},
	} {
		var ae *gateway.AuditError
		if _, err := gateway.VerifyAuditFiles(tc.files...); err == nil || !strings.Contains(err.Error(), tc.want) || !asAuditError(err, &ae) || ae.Line != 1 {
			t.Errorf("%v: %v, want %q", tc.files, err, tc.want)
		}
	}
}

func asAuditError(err error, ae **gateway.AuditError) bool {
	e, ok := err.(*gateway.AuditError)
	*ae = e
	return ok
}
