package gateway_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postkit/mailer/gateway"
)

func TestConfigErrorsNameTheirPath(t *testing.T) {
	dir := t.TempDir()
	y := `
server:
  listeners:
    - {name: open, addr: "0.0.0.0:2525", tls: none}
    - {name: sub, addr: "127.0.0.1:0", tls: starttls}
upstreams:
  qq: {url: "smtps://billing%40corp.com@smtp.qq.com:465", password_env: MAILGATE_TEST_UNSET_ENV, senders: ["billing@corp.com"]}
  leaky: {url: "smtp://u:secret@relay.example:587"}
  plain: {url: "smtp://relay.example:25?tls=none"}
tenants:
  billing:
    credentials: [{username: b, token_sha256: "abc"}]
    senders: ["billing@corp.com", "@notify.corp.com"]
    route: {upstreams: [qq, nosuch]}
  nocreds:
    senders: ["not an address"]
    route: {mode: fast, upstreams: [qq]}
audit: {recipients: hash}
health: {addr: "0.0.0.0:9466"}
`
	cfg, err := gateway.ParseConfig([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(dir)
	_, err = gateway.Compile(cfg)
	var ce *gateway.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	want := []string{
		`server.listeners[0].tls: a listener without TLS must be on a loopback address`,
		`server.tls: cert_file and key_file are needed`,
		`upstreams.qq.password_env: environment variable MAILGATE_TEST_UNSET_ENV is not set`,
		`upstreams.leaky.url: holds a password; use password_file or password_env`,
		`upstreams.plain.url: tls=none to relay.example`,
		`tenants.billing.credentials[0].token_sha256: not 64 hex digits`,
		`tenants.billing.route.upstreams[1]: no upstream called "nosuch"`,
		`tenants.nocreds.credentials: a tenant needs at least one credential`,
		`tenants.nocreds.senders[0]: "not an address" is not an address or @domain`,
		`tenants.nocreds.route.mode: "fast" is not one of sync, queue, capture`,
		`audit.recipients: hash needs hash_key_file or hash_key_env`,
		`health.addr: "0.0.0.0:9466" is not a loopback address`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	if strings.Contains(got, "secret") {
		t.Errorf("the URL's password is in the error:\n%s", got)
	}
	if _, err := gateway.ParseConfig([]byte("server: {hostnme: x}")); err == nil || !strings.Contains(err.Error(), "hostnme") {
		t.Errorf("unknown key: %v", err)
	}
}

// A tenant sender no upstream of its route may send as (QQ and 163 need
// MAIL FROM to be the account) is a load error, not a 5xx after DATA.
func TestSenderCoverageAtLoad(t *testing.T) {
	pki := newPKI(t)
	os.WriteFile(filepath.Join(pki.dir, "pw"), []byte("x"), 0o600)
	y := baseServer + `
upstreams:
  qq: {preset: qq, username: billing@qq.com, password_file: pw, senders: ["billing@qq.com"]}
  ses: {url: "smtp://AKIA@email-smtp.eu-west-1.amazonaws.com", password_file: pw, senders: ["@notify.corp.com"]}
tenants:
  billing:
    credentials: [{username: b, token_sha256: "` + strings.Repeat("ab", 32) + `"}]
    senders: ["billing@qq.com", "@notify.corp.com", "@qq.com"]
    route: {upstreams: [ses, qq]}
`
	cfg, err := gateway.ParseConfig([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(pki.dir)
	_, err = gateway.Compile(cfg)
	if err == nil || !strings.Contains(err.Error(), `tenants.billing.senders[2]: no upstream in the route (ses, qq) may send as "@qq.com"`) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "senders[0]") || strings.Contains(err.Error(), "senders[1]") {
		t.Fatalf("covered senders reported: %v", err)
	}
}
