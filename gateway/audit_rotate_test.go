package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
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
