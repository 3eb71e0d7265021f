package gateway_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/postkit/mailer/gateway"
)

// POST /api/reload and SIGHUP are one code path (Gateway.ReloadConfig,
// which mailgate's SIGHUP handler calls; cmd/mailgate's
// TestReloadSignalEqualsAPI sends the real signal): the same effect, the
// same reload audit line, the same refusal of a broken file.
func TestAdminReloadSameAsReloadConfig(t *testing.T) {
	e, rec := adminEnv(t, adminServer+policyTenants)
	ops := e.tokens["ops"]
	orig := e.yaml
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RSET")

	// Through the API: app1's token is rotated and t5 appears.
	_, other := gateway.NewToken()
	y := strings.Replace(orig, gateway.TokenHash(e.tokens["app1"]), other, 1) + `
  t5:
    credentials: [{username: app5, token_sha256: "` + strings.Repeat("5a", 32) + `"}]
    senders: ["@t5.test"]
    route: {upstreams: [up]}
`
	e.writeConfig(y)
	if code, body := e.call("POST", "/api/reload", ops); code != 200 || !strings.Contains(body, `"tenants": 4`) {
		t.Fatalf("API reload: %d %s", code, body)
	}
	c.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")

	// The same through ReloadConfig (SIGHUP): back to the original.
	e.writeConfig(orig)
	if err := e.g.ReloadConfig(); err != nil {
		t.Fatal(err)
	}
	e.session("app1").expect("250", "MAIL FROM:<a@t1.test>")

	// A broken file: both refuse with the same error and keep running.
	e.writeConfig(strings.Replace(orig, `senders: ["@t1.test"]`, `senders: []`, 1))
	code, body := e.call("POST", "/api/reload", ops)
	if code != 422 || !strings.Contains(body, "tenants.t1.senders") {
		t.Fatalf("API reload of a broken file: %d %s", code, body)
	}
	err := e.g.ReloadConfig()
	if err == nil || !strings.Contains(body, jsonString(err.Error())) {
		t.Fatalf("ReloadConfig: %v, API said %s", err, body)
	}
	e.session("app1").expect("250", "MAIL FROM:<a@t1.test>")
	if rec.count() != 0 {
		t.Fatal(rec.count())
	}

	var reloads []map[string]any
	for _, r := range e.auditOf("reload") {
		delete(r, "ts")
		delete(r, "prev")
		delete(r, "hash")
		reloads = append(reloads, r)
	}
	if len(reloads) != 4 || reloads[0]["result"] != "ok" || reloads[1]["result"] != "ok" || reloads[0]["tenants"] != 4.0 ||
		!reflect.DeepEqual(reloads[2], reloads[3]) || reloads[2]["result"] != "error" {
		t.Fatalf("reload lines: %v", reloads)
	}
	e.verifyAudit()
}

func jsonString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return strings.ReplaceAll(s, "\n", `\n`)
}

// Once Shutdown has begun a reload is refused: the upstreams, the queue and
// the audit it would touch are closing.
func TestReloadRefusedWhileShuttingDown(t *testing.T) {
	e, _ := adminEnv(t, adminServer+policyTenants)
	if err := e.g.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.g.ReloadConfig(); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("ReloadConfig after Shutdown: %v", err)
	}
}
