package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/postkit/mailer/gateway"
)

// Rules and failure notices are refused outside queue mode, and bad queue
// settings name their field.
func TestQueueConfigErrors(t *testing.T) {
	y := `
server:
  listeners: [{name: l, addr: "127.0.0.1:0", tls: none}]
upstreams:
  a: {url: "smtp://127.0.0.1:25?tls=none"}
tenants:
  s:
    credentials: [{username: s, token_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
    senders: ["@s.test"]
    route: {mode: sync, upstreams: [a], rules: [{to_domains: [corp.test], upstreams: [a]}], on_failure: {dsn: true}}
  q:
    credentials: [{username: q, token_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
    senders: ["@q.test"]
    route: {mode: queue, upstreams: [a], rules: [{to_domains: ["*.corp"], upstreams: [nosuch]}], on_failure: {webhook: "ftp://x"}}
queue: {driver: postgres, dsn: "postgres://u:pw@db/mail", max_depth: -1, min_wait: 2h, max_wait: 1h}
`
	cfg, err := gateway.ParseConfig([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(t.TempDir())
	_, err = gateway.Compile(cfg)
	var ce *gateway.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Compile = %v", err)
	}
	got := map[string]string{}
	for _, f := range ce.Errors {
		got[f.Path] = f.Reason
	}
	want := map[string]string{
		"tenants.s.route.rules":                  "need mode queue",
		"tenants.s.route.on_failure":             "needs mode queue",
		"tenants.q.route.rules[0].to_domains[0]": "not a domain",
		"tenants.q.route.rules[0].upstreams[0]":  `no upstream called "nosuch"`,
		"tenants.q.route.on_failure.webhook":     "not an http(s) URL",
		"queue.dsn":                              "holds a password",
		"queue.max_depth":                        "negative",
		"queue.min_wait":                         "above max_wait",
	}
	for path, reason := range want {
		if !strings.Contains(got[path], reason) {
			t.Errorf("%s: got %q, want %q", path, got[path], reason)
		}
	}
	if len(ce.Errors) != len(want) {
		t.Errorf("errors: %v", ce)
	}
	if strings.Contains(err.Error(), "pw@") {
		t.Error("the error repeats the DSN's password")
	}
}
