package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/postkit/mailer/gateway"
)

// The admin section fails closed, every problem with its YAML path.
func TestAdminConfigErrors(t *testing.T) {
	pki := newPKI(t)
	hash := strings.Repeat("ab", 32)
	y := strings.Replace(baseServer, `health: {addr: "127.0.0.1:0"}`+"\n", "", 1) + policyTenants + `
admin:
  addr: "0.0.0.0:9466"
  principals:
    - {name: ops, role: root, token_sha256: "` + hash + `"}
    - {name: ops, role: admin, token_sha256: "` + hash + `"}
    - {role: auditor, token_sha256: "xyz"}
    - {name: both, role: auditor, token_sha256: "` + strings.Repeat("cd", 32) + `", client_cert: {common_name: x}}
    - {name: cert, role: auditor, client_cert: {sha256: "12:34"}}
    - {name: none, role: auditor}
`
	e := &env{t: t, pki: pki, dir: pki.dir, tokens: map[string]string{}}
	cfg, err := gateway.ParseConfig([]byte(e.expand(y, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(pki.dir)
	_, err = gateway.Compile(cfg)
	var ce *gateway.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	want := []string{
		`admin.addr: "0.0.0.0:9466" is not a loopback address; give admin.tls for another address`,
		`admin.principals[0].role: "root" is not admin or auditor`,
		`admin.principals[1].name: duplicate principal "ops"`,
		`admin.principals[1].token_sha256: the same token as principal "ops"`,
		`admin.principals[2].name: missing`,
		`admin.principals[2].token_sha256: not 64 hex digits`,
		`admin.principals[3]: give exactly one of token_sha256, client_cert`,
		`admin.principals[4].client_cert.sha256: not a hex SHA-256 fingerprint`,
		`admin.principals[4].client_cert: needs admin.tls.client_ca_file`,
		`admin.principals[5]: give exactly one of token_sha256, client_cert`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	if strings.Contains(got, hash) {
		t.Errorf("a token hash is in the error:\n%s", got)
	}

	// TLS settings, and the old health.addr beside admin.addr.
	y2 := strings.Replace(baseServer, `health: {addr: "127.0.0.1:0"}`, `health: {addr: "127.0.0.1:0"}
admin:
  addr: "127.0.0.1:0"
  tls: {cert_file: server.pem, client_ca_file: nosuch.pem, client_auth: sometimes}`, 1) + policyTenants
	cfg, err = gateway.ParseConfig([]byte(e.expand(y2, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(pki.dir)
	_, err = gateway.Compile(cfg)
	for _, w := range []string{
		`health.addr: give admin.addr only`,
		`admin.tls: cert_file and key_file go together`,
		`admin.tls.client_ca_file: open`,
		`admin.tls.client_auth: "sometimes" is not require or verify_if_given`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
}
