// Package example_test keeps the gateway example (mailgate.yaml and
// README.md in this directory) from rotting: the configuration must
// compile, the README's demo tokens must match its hashes, and the
// gateway it describes must take mail for the capture tenant and answer
// the admin API with the README's tokens.
package example_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// load copies mailgate.yaml into a fresh directory with a generated
// certificate in tls/, as the README's steps do, and loads it.
func load(t *testing.T) (*gateway.Config, *x509.CertPool, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("mailgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mailgate.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := writeCert(t, filepath.Join(dir, "tls"))
	t.Setenv("SES_SMTP_PASSWORD", "change-me")
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, pool, dir
}

func TestExampleConfigCompiles(t *testing.T) {
	cfg, _, _ := load(t)
	table, err := gateway.Compile(cfg)
	if err != nil {
		t.Fatalf("mailgate.yaml does not compile:\n%v", err)
	}
	modes := map[string]string{}
	for _, r := range table.Tenants {
		modes[r.Name] = r.Mode
	}
	if modes["billing"] != "sync" || modes["reports"] != "queue" || modes["staging"] != "capture" {
		t.Fatalf("tenants %v", modes)
	}
	file, _ := os.ReadFile("mailgate.yaml")

	// Every demo token in the README hashes to a token_sha256 of the file,
	// and every hash in the file has its demo token.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	tokens := regexp.MustCompile("`(demo-[a-z]+-token-change-me)`").FindAllStringSubmatch(string(readme), -1)
	hashes := regexp.MustCompile(`token_sha256: "([0-9a-f]{64})"`).FindAllStringSubmatch(string(file), -1)
	if len(tokens) != 5 || len(hashes) != 5 {
		t.Fatalf("%d demo tokens in README.md, %d hashes in mailgate.yaml; want 5 and 5", len(tokens), len(hashes))
	}
	have := map[string]bool{}
	for _, h := range hashes {
		have[h[1]] = true
	}
	for _, tok := range tokens {
		if !have[gateway.TokenHash(tok[1])] {
			t.Errorf("README token %s has no hash in mailgate.yaml", tok[1])
		}
	}
}

// The gateway of the example, on free ports and with an in-process
// server in Mailpit's place: the staging app's mail is captured, a
// foreign sender is refused, the README's admin tokens work with their
// roles.
func TestExampleRuns(t *testing.T) {
	cfg, pool, dir := load(t)
	auditPath := filepath.Join(dir, "audit.jsonl")
	for i := range cfg.Server.Listeners {
		cfg.Server.Listeners[i].Addr = "127.0.0.1:0"
	}
	cfg.Admin.Addr = "127.0.0.1:0"
	// Every upstream is a server in this process: Mailpit's place, the
	// provider's and the company relay's.
	servers := map[string]*mailertest.Server{}
	for _, name := range []string{"mailpit", "provider", "corp-relay"} {
		servers[name] = mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
		up := cfg.Upstreams[name]
		up.URL, up.PasswordEnv = "smtp://"+servers[name].Addr()+"?tls=none", ""
		cfg.Upstreams[name] = up
	}
	capture := servers["mailpit"]
	g := startGateway(t, cfg)

	send := func(from string) error {
		return sendAs(t, g.Addr("submission"), pool, "staging-app", "demo-staging-token-change-me", from, "someone@example.com")
	}
	if err := send("app@staging.example.com"); err != nil {
		b, _ := os.ReadFile(auditPath)
		t.Fatalf("%v\n%s", err, b)
	}
	if err := send("ceo@notify.example.com"); err == nil || !strings.HasPrefix(err.Error(), "553") || !strings.Contains(err.Error(), "5.7.1") {
		t.Fatalf("foreign sender: %v", err)
	}
	if n := len(capture.Messages()); n != 1 {
		b, _ := os.ReadFile(auditPath)
		t.Fatalf("%d messages captured, want 1\n%s", n, b)
	}

	// The queue tenant: one message to a company address and an outside
	// one is queued, then split by the recipient-domain rule.
	if err := sendAs(t, g.Addr("submission"), pool, "reports-batch", "demo-reports-token-change-me",
		"reports@notify.example.com", "boss@corp.example", "client@outside.example"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, rcpt := range map[string]string{"corp-relay": "boss@corp.example", "provider": "client@outside.example"} {
		msgs, err := servers[name].WaitForMessages(ctx, 1)
		if err != nil || len(msgs[0].To) != 1 || msgs[0].To[0] != rcpt {
			t.Fatalf("%s: %v %v", name, msgs, err)
		}
	}

	call := func(method, path, token string) int {
		req, _ := http.NewRequest(method, "http://"+g.AdminAddr()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, k := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/readyz", "", 200},
		{"GET", "/api/tenants", "", 401},
		{"GET", "/api/tenants", "demo-auditor-token-change-me", 200},
		{"GET", "/api/audit?tenant=staging", "demo-auditor-token-change-me", 200},
		{"GET", "/api/queue?tenant=reports", "demo-auditor-token-change-me", 200},
		{"POST", "/api/tenants/staging/pause", "demo-auditor-token-change-me", 403},
		{"POST", "/api/tenants/staging/pause", "demo-ops-token-change-me", 200},
		{"POST", "/api/tenants/staging/resume", "demo-ops-token-change-me", 200},
	} {
		if got := call(k.method, k.path, k.token); got != k.want {
			t.Errorf("%s %s: %d, want %d", k.method, k.path, got, k.want)
		}
	}
}

// writeCert writes a self-signed cert.pem and key.pem for localhost and
// 127.0.0.1 into dir, like the README's openssl command.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// sendAs sends one message over STARTTLS with AUTH PLAIN, as Go's net/smtp
// does.
func sendAs(t *testing.T, addr string, pool *x509.CertPool, user, token, from string, to ...string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", user, token, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, "From: "+from+"\r\nTo: "+strings.Join(to, ", ")+"\r\nSubject: hello\r\n\r\nHello.\r\n")
	return w.Close()
}

// startGateway starts the gateway of cfg and shuts it down (10 s at most)
// when the test ends.
func startGateway(t *testing.T, cfg *gateway.Config) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return g
}
