package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/postkit/mailer/gateway"
)

// adminServer is baseServer with an admin listener and two principals
// instead of the bare health listener.
var adminServer = strings.Replace(baseServer, `health: {addr: "127.0.0.1:0"}`+"\n", "", 1) + `
admin:
  addr: "127.0.0.1:0"
  principals:
    - {name: ops, role: admin, token_sha256: "{{TOKEN:ops}}"}
    - {name: audit-team, role: auditor, token_sha256: "{{TOKEN:audit-team}}"}
`

// adminEnv starts policyTenants with the admin listener; the gateway
// reloads (ReloadConfig, POST /api/reload) from mailgate.yaml in e.dir,
// which holds the starting configuration.
func adminEnv(t *testing.T, y string, opts ...gateway.Option) (*env, *recorder) {
	t.Helper()
	rec := &recorder{}
	var e *env
	load := gateway.WithConfigLoader(func() (*gateway.Config, error) {
		return gateway.LoadConfig(filepath.Join(e.dir, "mailgate.yaml"))
	})
	e = start(t, setup{yaml: y, opts: append([]gateway.Option{gateway.WithDelivery("sync", rec), load}, opts...)})
	e.writeConfig(e.yaml)
	return e, rec
}

func (e *env) writeConfig(y string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "mailgate.yaml"), []byte(y), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// call makes an admin API call with a bearer token ("" for none) and
// returns the status code and body.
func (e *env) call(method, path, token string) (int, string) {
	e.t.Helper()
	return callWith(e.t, &http.Client{Timeout: 10 * time.Second}, method, "http://"+e.g.AdminAddr()+path, token)
}

func callWith(t testing.TB, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// auditOf returns the audit lines whose event is ev, decoded.
func (e *env) auditOf(ev string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, l := range e.auditLines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			e.t.Fatalf("audit line %q: %v", l, err)
		}
		if m["event"] == ev {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) verifyAudit() int {
	e.t.Helper()
	b, err := os.ReadFile(e.audit)
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := gateway.VerifyAudit(bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("audit chain: %v", err)
	}
	return n
}

// An auditor reads tenants and the audit and can change nothing; no or a
// wrong token is 401, a role too small 403, both with nothing in the body
// but the status; every call leaves one audit line without the token, and
// the chain verifies.
func TestAdminRolesAndAudit(t *testing.T) {
	e, _ := adminEnv(t, adminServer+policyTenants)
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "audited")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	c2 := e.session("app2")
	c2.expect("250", "MAIL FROM:<noreply@t2.test>")
	c2.expect("250", "RCPT TO:<r@ext.example>")
	c2.data(msg("noreply@t2.test", "r@ext.example", "other"))

	ops, aud := e.tokens["ops"], e.tokens["audit-team"]
	_, wrong := gateway.NewToken()
	type call struct {
		method, path, token string
		want                int
		body                string // exact body, when set
		principal           string
	}
	calls := []call{
		{"GET", "/api/tenants", "", 401, "Unauthorized\n", ""},
		{"GET", "/api/audit", wrong, 401, "Unauthorized\n", ""},
		{"POST", "/api/reload", gateway.TokenHash(ops), 401, "Unauthorized\n", ""}, // the hash is not the token
		{"GET", "/api/tenants", aud, 200, "", "audit-team"},
		{"GET", "/api/audit?tenant=t1", aud, 200, "", "audit-team"},
		{"POST", "/api/reload", aud, 403, "Forbidden\n", "audit-team"},
		{"POST", "/api/tenants/t1/pause", aud, 403, "Forbidden\n", "audit-team"},
		{"POST", "/api/tenants/t1/resume", aud, 403, "Forbidden\n", "audit-team"},
		{"POST", "/api/queue/q1/cancel", aud, 403, "Forbidden\n", "audit-team"},
		{"GET", "/api/reload", ops, 405, "", "ops"},
		{"GET", "/api/nosuch", ops, 404, "", "ops"},
		{"GET", "/api/queue", aud, 404, "", "audit-team"}, // no queue delivery here
	}
	bodies := map[string]string{}
	for _, k := range calls {
		code, body := e.call(k.method, k.path, k.token)
		if code != k.want || k.body != "" && body != k.body {
			t.Errorf("%s %s: %d %q, want %d %q", k.method, k.path, code, body, k.want, k.body)
		}
		bodies[k.method+" "+k.path] = body
	}
	// Basic auth or a bare token is no credential either.
	req, _ := http.NewRequest("GET", "http://"+e.g.AdminAddr()+"/api/tenants", nil)
	req.SetBasicAuth("ops", ops)
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("basic auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The auditor's audit read holds t1's lines only, as written (each
	// still with its hash).
	lines := strings.Split(strings.TrimSpace(bodies["GET /api/audit?tenant=t1"]), "\n")
	sawMessage := false
	for _, l := range lines {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		if m["tenant"] != "t1" || m["hash"] == nil {
			t.Fatalf("audit filter tenant=t1 returned %s", l)
		}
		sawMessage = sawMessage || m["event"] == "message"
	}
	if !sawMessage {
		t.Fatalf("no message line for t1 in %v", lines)
	}
	// By Message-ID (with or without <>), and by time.
	for _, id := range []string{"audited@t.test", "<audited@t.test>"} {
		_, b := e.call("GET", "/api/audit?message_id="+id, aud)
		if n := strings.Count(b, "\n"); n != 1 || !strings.Contains(b, `"message_id":"<audited@t.test>"`) {
			t.Fatalf("message_id=%s: %d lines\n%s", id, n, b)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code, b := e.call("GET", "/api/audit?since="+future, aud); code != 200 || b != "" {
		t.Fatalf("since the future: %d %q", code, b)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if _, b := e.call("GET", "/api/audit?event=message&limit=1&since="+past, aud); strings.Count(b, "\n") != 1 || !strings.Contains(b, "<other@t.test>") {
		t.Fatalf("last message line: %q", b)
	}
	if code, _ := e.call("GET", "/api/audit?since=yesterday", aud); code != 400 {
		t.Fatalf("bad since: %d", code)
	}

	// One admin line per call, 401s included, naming the principal and
	// never a token.
	admin := e.auditOf("admin")
	if want := len(calls) + 1 + 5; len(admin) != want {
		t.Fatalf("%d admin lines, want %d", len(admin), want)
	}
	for i, k := range calls {
		a := admin[i]
		if a["method"] != k.method || a["path"] != strings.Split(k.path, "?")[0] || int(a["status"].(float64)) != k.want {
			t.Errorf("admin line %d: %v, want %s %s %d", i, a, k.method, k.path, k.want)
		}
		if p, _ := a["principal"].(string); p != k.principal {
			t.Errorf("admin line %d: principal %q, want %q", i, p, k.principal)
		}
	}
	if a := admin[6]; a["tenant"] != "t1" {
		t.Errorf("pause line names no tenant: %v", a)
	}
	raw, _ := os.ReadFile(e.audit)
	for _, s := range []string{ops, aud, wrong} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatal("a token is in the audit log")
		}
	}
	e.verifyAudit()

	// X-Audit-Chain tells an auditor whether the whole file verifies.
	chain := func() string {
		req, _ := http.NewRequest("GET", "http://"+e.g.AdminAddr()+"/api/audit?limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+aud)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Audit-Chain")
	}
	if got := chain(); got != "intact" {
		t.Fatalf("X-Audit-Chain %q", got)
	}
	edited := bytes.Replace(raw, []byte(`"tenant":"t2"`), []byte(`"tenant":"t3"`), 1)
	if err := os.WriteFile(e.audit, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := chain(); !strings.HasPrefix(got, "broken at line ") || !strings.Contains(got, "edited") {
		t.Fatalf("X-Audit-Chain after an edit: %q", got)
	}
}

// GET /api/tenants shows names, senders, routes, limits and identities,
// and none of the configuration's secrets.
func TestAdminTenantsHoldNoSecret(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("human-password-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bcryptHash := string(h)
	y := strings.Replace(adminServer, "audit: {path: audit.jsonl}", "audit: {path: audit.jsonl, recipients: hash, hash_key_file: audit-key}", 1) + `
upstreams:
  a: {{UP:a}}, senders: ["@t1.test"]}
tenants:
  t1:
    credentials:
      - {username: app1, token_sha256: "{{TOKEN:app1}}"}
      - {username: human, bcrypt: "` + bcryptHash + `"}
      - {client_cert: {common_name: t1-cert}}
    senders: ["@t1.test"]
    limits: {messages_per_minute: 7}
    route: {upstreams: [a]}
`
	rec := &recorder{}
	e := startWithFiles(t, y, map[string]string{"audit-key": "audit-hmac-key-secret"}, gateway.WithDelivery("sync", rec))
	code, body := e.call("GET", "/api/tenants", e.tokens["audit-team"])
	if code != 200 {
		t.Fatal(code, body)
	}
	var got struct{ Tenants []gateway.AdminTenant }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tenants) != 1 || got.Tenants[0].Name != "t1" || got.Tenants[0].Limits.MessagesPerMinute != 7 ||
		len(got.Tenants[0].Identities) != 3 || got.Tenants[0].Upstreams[0] != "a" {
		t.Fatalf("%s", body)
	}
	secrets := []string{bcryptHash, "human-password-secret", "relay-pw", "audit-hmac-key-secret"}
	for _, tok := range e.tokens {
		secrets = append(secrets, tok, gateway.TokenHash(tok))
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("/api/tenants shows the secret %q:\n%s", s, body)
		}
	}
	for _, s := range []string{"pw", ".pem", ".key", "audit-key"} { // no file names either
		if strings.Contains(body, s) {
			t.Errorf("/api/tenants names a file (%q):\n%s", s, body)
		}
	}
}

// startWithFiles writes files into the test directory before the
// gateway compiles its configuration.
func startWithFiles(t *testing.T, y string, files map[string]string, opts ...gateway.Option) *env {
	t.Helper()
	pre := func(dir string) {
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return start(t, setup{yaml: y, opts: opts, before: pre})
}

// A paused tenant's MAIL gets 451 4.7.1 (swaks sees it), other tenants
// send on, the pause survives a reload, and resume lets it send again.
func TestAdminPauseResume(t *testing.T) {
	t.Parallel() // swaks is a Perl start-up: let it overlap other tests
	e, rec := adminEnv(t, adminServer+policyTenants)
	ops := e.tokens["ops"]
	if code, body := e.call("POST", "/api/tenants/t1/pause", ops); code != 200 || !strings.Contains(body, `"paused": true`) {
		t.Fatal(code, body)
	}
	if code, _ := e.call("POST", "/api/tenants/nosuch/pause", ops); code != 404 {
		t.Fatalf("unknown tenant: %d", code)
	}
	c := e.session("app1")
	c.expect("451 4.7.1", "MAIL FROM:<a@t1.test>")
	e.session("app2").expect("250", "MAIL FROM:<noreply@t2.test>")
	out := swaks(t, e, "app1", "swaks@t1.test")
	if !strings.Contains(out, "<~* 451 4.7.1 Sending paused") {
		t.Fatalf("swaks while paused:\n%s", out)
	}
	// A reload (the API's, which is SIGHUP's) keeps the pause.
	if code, body := e.call("POST", "/api/reload", ops); code != 200 {
		t.Fatal(code, body)
	}
	c.expect("451 4.7.1", "MAIL FROM:<a@t1.test>")
	_, body := e.call("GET", "/api/tenants", e.tokens["audit-team"])
	if !strings.Contains(body, `"name": "t1"`) || !strings.Contains(body, `"paused": true`) {
		t.Fatalf("tenants after reload:\n%s", body)
	}
	if code, _ := e.call("POST", "/api/tenants/t1/resume", ops); code != 200 {
		t.Fatal(code)
	}
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "resumed")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	// (examples/gateway's TestExampleWithMailpit runs swaks after a resume.)
	if rec.count() != 1 {
		t.Fatalf("%d messages delivered, want 1", rec.count())
	}
	var paused int
	for _, m := range e.auditOf("message") {
		if m["outcome"] == "rejected:paused" && m["reply"] == "451 4.7.1" {
			paused++
		}
	}
	if paused != 3 {
		t.Fatalf("%d rejected:paused lines, want 3", paused)
	}
	e.verifyAudit()
}

// swaks sends one message as user over STARTTLS and returns swaks's
// transcript; the test skips without swaks.
func swaks(t *testing.T, e *env, user, from string) string {
	t.Helper()
	bin, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (apt-get install swaks); .ci/run installs it")
	}
	if exec.Command("perl", "-MNet::SSLeay", "-MIO::Socket::SSL", "-e1").Run() != nil {
		t.Skip("swaks cannot speak TLS: apt-get install libnet-ssleay-perl libio-socket-ssl-perl (.ci/run does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--server", e.addr("submission"), "-tls",
		"--auth", "PLAIN", "--auth-user", user, "--auth-password", e.tokens[user],
		"-f", from, "-t", "r@ext.example", "--h-Subject", "swaks").CombinedOutput()
	return string(out)
}

// /metrics needs no principal unless metrics_auth is set; then either
// role will do.
func TestAdminMetricsAuth(t *testing.T) {
	open, _ := adminEnv(t, adminServer+policyTenants)
	if code, body := open.call("GET", "/metrics", ""); code != 200 || !strings.Contains(body, "mailgate_") {
		t.Fatalf("open /metrics: %d", code)
	}
	closed, _ := adminEnv(t, strings.Replace(adminServer, "  principals:\n", "  metrics_auth: true\n  principals:\n", 1)+policyTenants)
	if code, body := closed.call("GET", "/metrics", ""); code != 401 || body != "Unauthorized\n" {
		t.Fatalf("/metrics without a token: %d %q", code, body)
	}
	if code, _ := closed.call("GET", "/metrics", closed.tokens["audit-team"]); code != 200 {
		t.Fatalf("/metrics as auditor: %d", code)
	}
}

// Each audit read through the admin listener checks the chain of the
// lines written since the one before only (here the admin line of that
// read), and a line edited in place afterwards, at the same size, is
// still reported.
func TestAdminAuditChainIncremental(t *testing.T) {
	t.Parallel()
	e, _ := adminEnv(t, adminServer+policyTenants)
	get := func() (chain string, checked int64) {
		t.Helper()
		before := gateway.AuditLinesChecked(e.g)
		req, _ := http.NewRequest("GET", "http://"+e.g.AdminAddr()+"/api/audit", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens["audit-team"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /api/audit: %d", resp.StatusCode)
		}
		return resp.Header.Get("X-Audit-Chain"), gateway.AuditLinesChecked(e.g) - before
	}
	n := e.verifyAudit()
	if chain, checked := get(); chain != "intact" || checked != int64(n) {
		t.Fatalf("first read: %q, %d checked, want %d", chain, checked, n)
	}
	for range 3 {
		if chain, checked := get(); chain != "intact" || checked != 1 {
			t.Fatalf("next read: %q, %d checked, want 1 (the admin line of the read before)", chain, checked)
		}
	}
	b, err := os.ReadFile(e.audit)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"status":200`))
	if i < 0 {
		t.Fatalf("no admin line in %s", b)
	}
	line := bytes.Count(b[:i], []byte("\n")) + 1
	f, err := os.OpenFile(e.audit, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(`"status":201`), int64(i)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := fmt.Sprintf("broken at line %d: hash does not match the line (edited)", line)
	for range 2 {
		if chain, _ := get(); chain != want {
			t.Fatalf("after an edit in place: %q, want %q", chain, want)
		}
	}
}
