package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

const (
	devUser   = "dev"
	devSender = "app@dev.example"
)

var devToken string

// devConfig builds the -dev configuration: loopback listeners, a fresh
// self-signed certificate, one tenant with a new token, and capture to an
// in-process test server.
func devConfig(stdout io.Writer) (*gateway.Config, func(), error) {
	dir, err := os.MkdirTemp("", "mailgate-dev-")
	if err != nil {
		return nil, nil, err
	}
	capture, err := mailertest.Start(mailertest.WithTLS(mailertest.TLSNone))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() {
		capture.Close()
		os.RemoveAll(dir)
	}
	if err := writeSelfSigned(dir); err != nil {
		cleanup()
		return nil, nil, err
	}
	tok, hash := gateway.NewToken()
	devToken = tok
	cfg := &gateway.Config{
		Server: gateway.ServerConfig{
			Hostname: "mailgate.dev",
			Listeners: []gateway.ListenerConfig{
				{Name: "submission", Addr: "127.0.0.1:0", TLS: "starttls"},
				{Name: "submissions", Addr: "127.0.0.1:0", TLS: "implicit"},
			},
			TLS: gateway.TLSConfig{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")},
		},
		Upstreams: map[string]gateway.UpstreamConfig{
			"capture": {URL: "smtp://" + capture.Addr() + "?tls=none"},
		},
		Tenants: map[string]gateway.TenantConfig{
			"dev": {
				Credentials: []gateway.CredentialConfig{{Username: devUser, TokenSHA256: hash}},
				Senders:     []string{devSender},
				Route:       gateway.RouteConfig{Mode: "capture", Upstreams: []string{"capture"}},
			},
		},
		Audit: gateway.AuditConfig{Path: "-"},
		Admin: gateway.AdminConfig{Addr: "127.0.0.1:0"},
	}
	return cfg, cleanup, nil
}

func printDev(w io.Writer, g *gateway.Gateway, cfg *gateway.Config) {
	addr := g.Addr("submission")
	fmt.Fprintf(w, `mailgate -dev: capture mode, nothing leaves this machine
  submission (STARTTLS): %s
  submissions (TLS):     %s
  user:                  %s
  token (password):      %s
  allowed sender:        %s
  health:                http://%s/readyz
try it:
  swaks --server %s -tls --auth PLAIN --auth-user %s --auth-password '%s' -f %s -t someone@example.com
audit lines follow on standard output; Ctrl-C stops.
`, addr, g.Addr("submissions"), devUser, devToken, devSender, g.AdminAddr(), addr, devUser, devToken, devSender)
}

func writeSelfSigned(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "mailgate dev"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "mailgate.dev"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
