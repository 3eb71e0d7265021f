package gateway_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

func (e *env) reload(y string) error {
	e.t.Helper()
	cfg, err := gateway.ParseConfig([]byte(e.expand(y, nil)))
	if err != nil {
		return err
	}
	cfg.SetDir(e.dir)
	return e.g.Reload(cfg)
}

func TestReloadRevokesAtNextMail(t *testing.T) {
	e, rec := policyEnv(t)
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("a@t1.test", "r@ext.example", "before")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	// A broken file keeps the running configuration.
	err := e.reload(baseServer + strings.Replace(policyTenants, "senders: [\"@t1.test\"]", "senders: []", 1))
	if err == nil || !strings.Contains(err.Error(), "tenants.t1.senders") {
		t.Fatalf("broken reload: %v", err)
	}
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RSET")
	// Rotate app1's token: the open session fails at its next MAIL.
	delete(e.tokens, "app1")
	if err := e.reload(baseServer + policyTenants); err != nil {
		t.Fatal(err)
	}
	c.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")
	c.expect("530 5.7.0", "MAIL FROM:<a@t1.test>")
	// Other tenants' sessions are unaffected, and the new token works.
	e.session("app2").expect("250", "MAIL FROM:<noreply@t2.test>")
	e.session("app1").expect("250", "MAIL FROM:<a@t1.test>")
	if rec.count() != 1 {
		t.Fatal(rec.count())
	}
	var reloads int
	for _, l := range e.auditLines() {
		if strings.Contains(l, `"event":"reload"`) {
			reloads++
		}
	}
	if reloads != 2 {
		t.Fatalf("%d reload lines", reloads)
	}
}

func TestClientCertificateTenant(t *testing.T) {
	rec := &recorder{}
	e := start(t, setup{yaml: baseServer + policyTenants + certTenant, opts: []gateway.Option{gateway.WithDelivery("capture", rec)}})
	cert := e.pki.issue(t, "t3", "t3", []string{"t3.apps.test"}, false)
	other := e.pki.issue(t, "t9", "t9", []string{"t9.apps.test"}, false)

	c := e.certSession(cert)
	c.expect("250", "MAIL FROM:<app@t3.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	if got := c.data(msg("app@t3.test", "r@ext.example", "cert")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	// A certificate of the CA that names no tenant authenticates nothing.
	c2 := e.certSession(other)
	c2.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")
	if rec.count() != 1 {
		t.Fatal(rec.count())
	}
}

// certSession opens a session on the STARTTLS listener that presents
// cert, of a CA the server may or may not trust.
func (e *env) certSession(cert tls.Certificate) *rawClient {
	e.t.Helper()
	c := e.dialRaw("submission")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("220", "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		e.t.Fatal(err)
	}
	c = &rawClient{t: e.t, conn: tc, tp: newTP(tc)}
	c.expect("250", "EHLO x")
	return c
}

const certTenant = `
  t3:
    credentials: [{client_cert: {san_dns: t3.apps.test}}]
    senders: ["@t3.test"]
    route: {mode: capture, upstreams: [up]}
`

// A reload re-establishes the identity of a session authenticated by a
// client certificate at its next MAIL, as it revokes a token: a rotated
// server.tls.client_ca_file, client_auth "none", a credential that no
// longer names the certificate, or a credential or certificate that has
// expired since, ends it with 530.
func TestReloadClientCertAtNextMail(t *testing.T) {
	rec := &recorder{}
	e := start(t, setup{yaml: baseServer + policyTenants + certTenant,
		opts: []gateway.Option{gateway.WithDelivery("capture", rec)}})
	ca2 := newPKI(t)
	pem2, err := os.ReadFile(filepath.Join(ca2.dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "ca2.pem"), pem2, 0o600); err != nil {
		t.Fatal(err)
	}
	old := e.certSession(e.pki.issue(t, "t3", "t3", []string{"t3.apps.test"}, false))
	old.expect("250", "MAIL FROM:<app@t3.test>")
	old.expect("250", "RCPT TO:<r@ext.example>")
	if got := old.data(msg("app@t3.test", "r@ext.example", "before")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	old.expect("250", "MAIL FROM:<app@t3.test>")
	old.expect("250", "RSET")

	// Rotate the client CA: the open session fails at its next MAIL.
	rotated := strings.Replace(baseServer, "client_ca_file: ca.pem", "client_ca_file: ca2.pem", 1)
	if err := e.reload(rotated + policyTenants + certTenant); err != nil {
		t.Fatal(err)
	}
	old.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")
	old.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")
	// The same name from the new CA works, and keeps working while the
	// configuration stays.
	t3 := ca2.issue(t, "t3", "t3", []string{"t3.apps.test"}, false)
	c := e.certSession(t3)
	for i := range 2 {
		c.expect("250", "MAIL FROM:<app@t3.test>")
		c.expect("250", "RCPT TO:<r@ext.example>")
		if got := c.data(msg("app@t3.test", "r@ext.example", "after"+itoa(i))); !strings.HasPrefix(got, "250") {
			t.Fatal(got)
		}
	}

	// A credential that expires (its id does not change): the session
	// goes on until the clock passes its end.
	expiring := strings.Replace(certTenant, "san_dns: t3.apps.test}", "san_dns: t3.apps.test}, expires: "+
		e.clock.now().Add(time.Hour).UTC().Format(time.RFC3339), 1)
	if err := e.reload(rotated + policyTenants + expiring); err != nil {
		t.Fatal(err)
	}
	c.expect("250", "MAIL FROM:<app@t3.test>")
	c.expect("250", "RSET")
	e.clock.advance(2 * time.Hour)
	c.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")
	e.certSession(t3).expect("530 5.7.0", "MAIL FROM:<app@t3.test>") // and new sessions get no identity

	// The tenant no longer names the certificate.
	if err := e.reload(rotated + policyTenants + certTenant); err != nil {
		t.Fatal(err)
	}
	c = e.certSession(t3)
	c.expect("250", "MAIL FROM:<app@t3.test>")
	c.expect("250", "RSET")
	renamed := strings.Replace(certTenant, "san_dns: t3.apps.test", "san_dns: t3b.apps.test", 1)
	if err := e.reload(rotated + policyTenants + renamed); err != nil {
		t.Fatal(err)
	}
	c.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")

	// Client certificates are no longer taken.
	if err := e.reload(rotated + policyTenants + certTenant); err != nil {
		t.Fatal(err)
	}
	c = e.certSession(t3)
	c.expect("250", "MAIL FROM:<app@t3.test>")
	c.expect("250", "RSET")
	none := strings.Replace(rotated, "client_ca_file: ca2.pem", "client_ca_file: ca2.pem, client_auth: none", 1)
	if err := e.reload(none + policyTenants + certTenant); err != nil {
		t.Fatal(err)
	}
	c.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")

	// Nor does a check that passed outlive the certificate (24 h) while
	// the configuration stays.
	if err := e.reload(rotated + policyTenants + certTenant); err != nil {
		t.Fatal(err)
	}
	c = e.certSession(t3)
	c.expect("250", "MAIL FROM:<app@t3.test>")
	c.expect("250", "RSET")
	e.clock.advance(24 * time.Hour)
	c.expect("530 5.7.0", "MAIL FROM:<app@t3.test>")

	if rec.count() != 3 {
		t.Fatal(rec.count())
	}
	revoked := 0
	for _, l := range e.auditLines() {
		if strings.Contains(l, `"result":"revoked"`) && strings.Contains(l, `"tenant":"t3"`) && strings.Contains(l, `"client_cert":"sha256:`) {
			revoked++
		}
	}
	if revoked != 5 { // once per session: then it has no identity
		t.Fatalf("%d revoked lines with the certificate", revoked)
	}
}

func TestTLSMinimumVersionAndHealth(t *testing.T) {
	e, _ := policyEnv(t)
	conn, err := tls.Dial("tcp", e.addr("submissions"), &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	for _, p := range []string{"/livez", "/readyz"} {
		resp, err := httpGet("http://" + e.g.HealthAddr() + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}

func TestAuditVerify(t *testing.T) {
	e, _ := policyEnv(t)
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<a@t1.test>")
	c.expect("250", "RCPT TO:<r@ext.example>")
	c.data(msg("a@t1.test", "r@ext.example", "audited"))
	c.expect("553", "MAIL FROM:<x@t2.test>")
	c.cmd("QUIT")
	if err := e.reload(baseServer + policyTenants); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.audit)
	if err != nil {
		t.Fatal(err)
	}
	n, err := gateway.VerifyAudit(bytes.NewReader(b))
	if err != nil || n < 4 {
		t.Fatalf("verify a real log: %d lines, %v", n, err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines = lines[:len(lines)-1]
	// An edited line fails its own hash.
	edited := append([]string(nil), lines...)
	edited[1] = strings.Replace(edited[1], "a@t1.test", "b@t1.test", 1)
	if edited[1] == lines[1] {
		edited[1] = strings.Replace(edited[1], `"event":"`, `"event":"x`, 1)
	}
	if _, err := gateway.VerifyAudit(strings.NewReader(strings.Join(edited, ""))); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("edited line: %v", err)
	}
	// A removed line breaks the next line's prev.
	removed := append(append([]string(nil), lines[:1]...), lines[2:]...)
	if _, err := gateway.VerifyAudit(strings.NewReader(strings.Join(removed, ""))); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("removed line: %v", err)
	}
	if _, err := gateway.VerifyAudit(strings.NewReader(strings.Join(lines[1:], ""))); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("removed first line: %v", err)
	}
}
