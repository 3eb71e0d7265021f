package gateway_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

// A reload that rotates the client CA between a session's TLS handshake
// and its EHLO (where the session takes its identity) leaves the session
// without one: the certificate is checked under the configuration of the
// EHLO, as it is at each MAIL. It used to take the tenant (an auth ok
// line, a tenant connection slot, AUTH answered "already authenticated")
// until its first MAIL was refused.
func TestClientCertCheckedAtEHLO(t *testing.T) {
	e := start(t, setup{yaml: baseServer + policyTenants + certTenant, opts: []gateway.Option{gateway.WithDelivery("capture", &recorder{})}})
	ca2 := newPKI(t)
	pem2, err := os.ReadFile(filepath.Join(ca2.dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "ca2.pem"), pem2, 0o600); err != nil {
		t.Fatal(err)
	}
	cert := e.pki.issue(t, "t3", "t3", []string{"t3.apps.test"}, false)
	c := e.dialRaw("submission")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("220", "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rotated := strings.Replace(baseServer, "client_ca_file: ca.pem", "client_ca_file: ca2.pem", 1)
	if err := e.reload(rotated + policyTenants + certTenant); err != nil {
		t.Fatal(err)
	}
	c = &rawClient{t: t, conn: tc, tp: newTP(tc)}
	c.expect("250", "EHLO x")
	c.expect("530", "MAIL FROM:<app@t3.test>")
	var okLine, unknown bool
	for _, l := range e.auditLines() {
		okLine = okLine || strings.Contains(l, `"event":"auth"`) && strings.Contains(l, `"result":"ok"`)
		unknown = unknown || strings.Contains(l, `"unknown_client_cert"`)
	}
	if okLine || !unknown {
		t.Fatalf("audit: an ok auth line %v, an unknown_client_cert line %v; want none and one", okLine, unknown)
	}
}

// The TLS handshake checks a client certificate on the gateway's clock,
// the one that checks it again at each MAIL: with the clock before the
// certificate's validity, the handshake refuses it. It used to check on
// the real time and accept it, and the session's first MAIL then got 530.
func TestClientCertOnTheGatewayClock(t *testing.T) {
	e := start(t, setup{yaml: baseServer + policyTenants + certTenant, opts: []gateway.Option{gateway.WithDelivery("capture", &recorder{})}})
	cert := e.pki.issue(t, "t3", "t3", []string{"t3.apps.test"}, false) // valid from an hour ago
	e.clock.advance(-2 * time.Hour)
	c := e.dialRaw("submission")
	e.greet(c)
	c.expect("250", "EHLO x")
	c.expect("220", "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}})
	err := tc.Handshake()
	if err == nil {
		// TLS 1.3: the server's verdict on the client's certificate
		// comes with the client's first read.
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err = tc.Write([]byte("EHLO x\r\n")); err == nil {
			_, err = tc.Read(make([]byte, 512))
		}
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a certificate not yet valid on the gateway's clock: %v, want the handshake refused", err)
	}
}
