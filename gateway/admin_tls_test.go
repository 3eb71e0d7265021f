package gateway_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

const adminTLSServer = `
server:
  hostname: mailgate.test
  listeners:
    - {name: submission, addr: "127.0.0.1:0", tls: starttls}
  tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
audit: {path: audit.jsonl}
admin:
  addr: "127.0.0.1:0"
  tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
  principals:
    - {name: ops-cert, role: admin, client_cert: {common_name: ops.admin.test}}
`

// httpsClient is an HTTP client that trusts the test CA and presents
// cert, if any.
func httpsClient(t *testing.T, e *env, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: e.pki.pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// callReused is callWith that fails the test unless the request went
// over a kept-alive connection of c (reuse) or a new one (!reuse).
func callReused(t *testing.T, c *http.Client, method, url, token string, reuse bool) (int, string) {
	t.Helper()
	reused := false
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(),
		&httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if reused != reuse {
		t.Fatalf("%s %s: connection reused: %v, want %v", method, url, reused, reuse)
	}
	return resp.StatusCode, string(b)
}

// The admin listener over TLS with client certificates: a certificate
// principal (by subject, and by fingerprint once a reload adds it) gets
// its role; no certificate or one of another CA is refused at the
// handshake; a certificate of the CA that names no principal is 401.
func TestAdminMutualTLS(t *testing.T) {
	e, _ := adminEnv(t, adminTLSServer+policyTenants)
	base := "https://" + e.g.AdminAddr()
	ops := e.pki.issue(t, "ops", "ops.admin.test", nil, false)
	reader := e.pki.issue(t, "reader", "reader.admin.test", nil, false)
	stranger := newPKI(t).issue(t, "stranger", "ops.admin.test", nil, false) // same name, other CA

	opsC := httpsClient(t, e, &ops)
	if code, body := callWith(t, opsC, "GET", base+"/api/tenants", ""); code != 200 || !strings.Contains(body, `"t1"`) {
		t.Fatalf("ops certificate: %d %s", code, body)
	}
	if code, _ := callWith(t, opsC, "POST", base+"/api/tenants/t2/pause", ""); code != 200 {
		t.Fatalf("ops certificate pause: %d", code)
	}
	for name, c := range map[string]*http.Client{"no certificate": httpsClient(t, e, nil), "other CA": httpsClient(t, e, &stranger)} {
		req, _ := http.NewRequest("GET", base+"/livez", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("%s: connected (%d)", name, resp.StatusCode)
		}
	}
	readerC := httpsClient(t, e, &reader)
	if code, body := callWith(t, readerC, "GET", base+"/api/audit", ""); code != 401 || body != "Unauthorized\n" {
		t.Fatalf("unknown certificate: %d %q", code, body)
	}
	// Health needs no principal, only the TLS connection.
	if code, _ := callWith(t, readerC, "GET", base+"/readyz", ""); code != 200 {
		t.Fatalf("readyz: %d", code)
	}

	// A reload adds the reader's certificate by fingerprint, as auditor.
	sum := sha256.Sum256(reader.Certificate[0])
	fp := hex.EncodeToString(sum[:])
	e.writeConfig(strings.Replace(e.yaml, "    - {name: ops-cert", "    - {name: reader-cert, role: auditor, client_cert: {sha256: \""+fp+"\"}}\n    - {name: ops-cert", 1))
	if code, body := callWith(t, opsC, "POST", base+"/api/reload", ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if code, body := callWith(t, readerC, "GET", base+"/api/audit?event=admin", ""); code != 200 || !strings.Contains(body, `"principal":"ops-cert"`) {
		t.Fatalf("reader after reload: %d %s", code, body)
	}
	if code, _ := callWith(t, readerC, "POST", base+"/api/reload", ""); code != 403 {
		t.Fatalf("auditor certificate reload: %d", code)
	}
	for _, a := range e.auditOf("admin") {
		if a["principal"] == "ops-cert" && !strings.HasPrefix(a["client_cert"].(string), "sha256:") {
			t.Fatalf("admin line without the certificate: %v", a)
		}
	}
	e.verifyAudit()
}

// /metrics needs no principal where the admin listener is its own
// boundary (loopback, or TLS requiring a certificate of the admin CA);
// on another address without required client certificates it needs one,
// of either role, without metrics_auth.
func TestAdminMetricsOutsideTheBoundary(t *testing.T) {
	const anyAddr = `admin:
  addr: "0.0.0.0:0"
  tls: {cert_file: server.pem, key_file: server.key}
`
	for _, tc := range []struct {
		name, admin string
		cert        bool // present a client certificate of the admin CA
		open        bool
	}{
		{"any address, no client CA", anyAddr, false, false},
		{"any address, verify_if_given", strings.Replace(anyAddr, "key_file: server.key}", "key_file: server.key, client_ca_file: ca.pem, client_auth: verify_if_given}", 1), false, false},
		{"any address, client certificate required", strings.Replace(anyAddr, "key_file: server.key}", "key_file: server.key, client_ca_file: ca.pem}", 1), true, true},
		{"loopback, no client CA", strings.Replace(anyAddr, "0.0.0.0:0", "127.0.0.1:0", 1), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(adminServer, "admin:\n  addr: \"127.0.0.1:0\"\n", tc.admin, 1)
			if y == adminServer {
				t.Fatal("admin section not replaced")
			}
			e, _ := adminEnv(t, y+policyTenants)
			var cert *tls.Certificate
			if tc.cert {
				c := e.pki.issue(t, "scraper", "scraper.admin.test", nil, false)
				cert = &c
			}
			c := httpsClient(t, e, cert)
			_, port, err := net.SplitHostPort(e.g.AdminAddr())
			if err != nil {
				t.Fatal(err)
			}
			base := "https://127.0.0.1:" + port
			code, body := callWith(t, c, "GET", base+"/metrics", "")
			if tc.open && (code != 200 || !strings.Contains(body, "mailgate_")) || !tc.open && (code != 401 || body != "Unauthorized\n") {
				t.Fatalf("/metrics without a principal: %d %.80q (open: %v)", code, body, tc.open)
			}
			if code, body := callWith(t, c, "GET", base+"/metrics", e.tokens["audit-team"]); code != 200 || !strings.Contains(body, "mailgate_") {
				t.Fatalf("/metrics as auditor: %d", code)
			}
			if code, _ := callWith(t, c, "GET", base+"/readyz", ""); code != 200 {
				t.Fatalf("/readyz: %d", code)
			}
		})
	}
}

// A connection opened while client certificates were not required
// outlives a reload that requires them: a request on it without a
// certificate still needs a principal for /metrics, while one on a
// connection that carries a certificate of the admin CA reads /metrics
// without one, as a new connection (which must present one) does.
func TestAdminMetricsConnectionBeforeReload(t *testing.T) {
	const anyAddr = `admin:
  addr: "0.0.0.0:0"
  tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem, client_auth: verify_if_given}
`
	y := strings.Replace(adminServer, "admin:\n  addr: \"127.0.0.1:0\"\n", anyAddr, 1)
	if y == adminServer {
		t.Fatal("admin section not replaced")
	}
	e, _ := adminEnv(t, y+policyTenants)
	scraper := e.pki.issue(t, "scraper", "scraper.admin.test", nil, false)
	bare, withCert := httpsClient(t, e, nil), httpsClient(t, e, &scraper)
	_, port, err := net.SplitHostPort(e.g.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	url := "https://127.0.0.1:" + port + "/metrics"
	metrics := func(c *http.Client, token string, reuse bool) (int, string) {
		t.Helper()
		return callReused(t, c, "GET", url, token, reuse)
	}
	// verify_if_given: no boundary, with a certificate or without.
	if code, _ := metrics(bare, "", false); code != 401 {
		t.Fatalf("verify_if_given, no certificate: %d, want 401", code)
	}
	if code, _ := metrics(withCert, "", false); code != 401 {
		t.Fatalf("verify_if_given, certificate: %d, want 401", code)
	}

	e.writeConfig(strings.Replace(e.yaml, ", client_auth: verify_if_given", "", 1))
	if err := e.g.ReloadConfig(); err != nil {
		t.Fatal(err)
	}
	if code, body := metrics(bare, "", true); code != 401 || body != "Unauthorized\n" {
		t.Fatalf("after the reload, connection without a certificate: %d %.80q, want 401", code, body)
	}
	if code, body := metrics(bare, e.tokens["audit-team"], true); code != 200 || !strings.Contains(body, "mailgate_") {
		t.Fatalf("after the reload, connection without a certificate, as auditor: %d", code)
	}
	if code, body := metrics(withCert, "", true); code != 200 || !strings.Contains(body, "mailgate_") {
		t.Fatalf("after the reload, connection with a certificate: %d %.80q, want 200", code, body)
	}
	if _, err := httpsClient(t, e, nil).Get(url); err == nil {
		t.Fatal("after the reload, a new connection without a certificate was accepted")
	}
}

// A reload that replaces the admin client CA ends what a certificate of
// the old CA was worth on a connection kept alive across it, not only on
// new connections: the certificate is verified again, against the CA the
// listener takes now, for every request that rests on it. The /api/
// call of its principal is then 401 and /metrics, on an address that is
// no boundary without a verified certificate, needs a principal.
func TestAdminClientCARotationKeptAlive(t *testing.T) {
	y := strings.Replace(adminTLSServer, "admin:\n  addr: \"127.0.0.1:0\"", "admin:\n  addr: \"0.0.0.0:0\"", 1)
	if y == adminTLSServer {
		t.Fatal("admin address not replaced")
	}
	e, _ := adminEnv(t, y+policyTenants)
	ca2 := newPKI(t)
	pem2, err := os.ReadFile(filepath.Join(ca2.dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "ca2.pem"), pem2, 0o600); err != nil {
		t.Fatal(err)
	}
	ops1 := e.pki.issue(t, "ops", "ops.admin.test", nil, false)
	ops2 := ca2.issue(t, "ops", "ops.admin.test", nil, false) // the same principal, of CA2
	_, port, err := net.SplitHostPort(e.g.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	base := "https://127.0.0.1:" + port
	c := httpsClient(t, e, &ops1)
	if code, body := callReused(t, c, "GET", base+"/api/tenants", "", false); code != 200 || !strings.Contains(body, `"t1"`) {
		t.Fatalf("CA1 certificate before the reload: %d %.80q", code, body)
	}
	if code, body := callReused(t, c, "GET", base+"/metrics", "", true); code != 200 || !strings.Contains(body, "mailgate_") {
		t.Fatalf("CA1 certificate before the reload, /metrics: %d %.80q", code, body)
	}

	const adminCA = "client_ca_file: ca.pem}\n  principals:"
	rotated := strings.Replace(e.yaml, adminCA, "client_ca_file: ca2.pem}\n  principals:", 1)
	if rotated == e.yaml {
		t.Fatal("admin client_ca_file not replaced")
	}
	e.writeConfig(rotated)
	if err := e.g.ReloadConfig(); err != nil {
		t.Fatal(err)
	}
	if code, body := callReused(t, c, "GET", base+"/api/tenants", "", true); code != 401 || body != "Unauthorized\n" {
		t.Fatalf("CA1 certificate after the reload, same connection: %d %.80q, want 401", code, body)
	}
	if code, body := callReused(t, c, "GET", base+"/metrics", "", true); code != 401 || body != "Unauthorized\n" {
		t.Fatalf("CA1 certificate after the reload, same connection, /metrics: %d %.80q, want 401", code, body)
	}
	if code, _ := callReused(t, c, "GET", base+"/readyz", "", true); code != 200 {
		t.Fatalf("/readyz on the same connection: %d", code)
	}
	if resp, err := httpsClient(t, e, &ops1).Get(base + "/livez"); err == nil {
		resp.Body.Close()
		t.Fatalf("CA1 certificate after the reload, new connection: connected (%d)", resp.StatusCode)
	}
	c2 := httpsClient(t, e, &ops2)
	if code, body := callReused(t, c2, "GET", base+"/api/tenants", "", false); code != 200 || !strings.Contains(body, `"t1"`) {
		t.Fatalf("CA2 certificate after the reload: %d %.80q", code, body)
	}
	var refused bool
	for _, a := range e.auditOf("admin") {
		if a["path"] == "/api/tenants" && a["status"] == float64(401) {
			refused = a["principal"] == nil && strings.HasPrefix(a["client_cert"].(string), "sha256:")
		}
	}
	if !refused {
		t.Fatal("no admin audit line for the refused call, with the certificate and without a principal")
	}
	e.verifyAudit()
}

// A running admin listener keeps its address and TLS: a reload that
// removes the admin section, moves it or turns its TLS off is refused
// (needs a restart), and the listener keeps the settings it runs with,
// metrics_auth included. It used to be accepted, leaving the listener
// serving /metrics without a principal under the start-up TLS settings.
func TestAdminReloadCannotDropTheListener(t *testing.T) {
	admin := `admin:
  addr: "0.0.0.0:0"
  metrics_auth: true
  tls: {cert_file: server.pem, key_file: server.key}
`
	y := strings.Replace(adminServer, "admin:\n  addr: \"127.0.0.1:0\"\n", admin, 1)
	if y == adminServer {
		t.Fatal("admin section not replaced")
	}
	e, _ := adminEnv(t, y+policyTenants)
	c := httpsClient(t, e, nil)
	_, port, err := net.SplitHostPort(e.g.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	metrics := "https://127.0.0.1:" + port + "/metrics"
	if code, _ := callWith(t, c, "GET", metrics, ""); code != 401 {
		t.Fatalf("/metrics without a principal before the reloads: %d", code)
	}
	noAdmin := strings.Replace(y, admin, "", 1)
	noAdmin = noAdmin[:strings.Index(noAdmin, "  principals:")] // the principals belong to the section
	for name, ry := range map[string]string{
		"admin section removed": noAdmin + policyTenants,
		"address changed":       strings.Replace(y, `"0.0.0.0:0"`, `"0.0.0.0:1"`, 1) + policyTenants,
		"TLS turned off":        strings.Replace(strings.Replace(y, "  tls: {cert_file: server.pem, key_file: server.key}\n", "", 1), `"0.0.0.0:0"`, `"127.0.0.1:0"`, 1) + policyTenants,
	} {
		if err := e.reload(ry); err == nil || !strings.Contains(err.Error(), "needs a restart") {
			t.Errorf("%s: reload %v, want refused (needs a restart)", name, err)
		}
	}
	if code, _ := callWith(t, c, "GET", metrics, ""); code != 401 {
		t.Fatalf("/metrics without a principal after the refused reloads: %d", code)
	}
	if err := e.reload(y + policyTenants); err != nil {
		t.Fatalf("reload of the same admin section: %v", err)
	}
}

// The same for a reload that only turns the running listener's TLS off,
// and for one that adds an admin section to a gateway started without
// one: nothing would listen, yet the reload would be reported as loaded.
func TestAdminReloadCannotChangeTLSOrAddTheListener(t *testing.T) {
	tlsAdmin := "admin:\n  addr: \"127.0.0.1:0\"\n  tls: {cert_file: server.pem, key_file: server.key}\n"
	y := strings.Replace(adminServer, "admin:\n  addr: \"127.0.0.1:0\"\n", tlsAdmin, 1)
	if y == adminServer {
		t.Fatal("admin section not replaced")
	}
	e, _ := adminEnv(t, y+policyTenants)
	if err := e.reload(adminServer + policyTenants); err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Errorf("turning the admin listener's TLS off: reload %v, want refused (needs a restart)", err)
	}

	noAdmin := strings.Replace(baseServer, `health: {addr: "127.0.0.1:0"}`+"\n", "", 1)
	if noAdmin == baseServer {
		t.Fatal("health line not removed")
	}
	e = start(t, setup{yaml: noAdmin + policyTenants, opts: []gateway.Option{gateway.WithDelivery("sync", &recorder{})}})
	if err := e.reload(baseServer + policyTenants); err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Errorf("adding an admin listener: reload %v, want refused (needs a restart)", err)
	}
	if err := e.reload(noAdmin + policyTenants); err != nil {
		t.Errorf("reload without an admin section, as started: %v", err)
	}
}
