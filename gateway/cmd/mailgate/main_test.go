package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrintsTableOrErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`
server:
  listeners: [{name: local, addr: "127.0.0.1:0", tls: none}]
upstreams:
  capture: {url: "smtp://127.0.0.1:1025?tls=none"}
tenants:
  billing:
    credentials: [{username: billing-svc, token_sha256: "`+strings.Repeat("0f", 32)+`"}]
    senders: ["billing@corp.test", "@notify.corp.test"]
    limits: {messages_per_minute: 60}
    route: {mode: capture, upstreams: [capture]}
`), 0o600)
	var out, errb bytes.Buffer
	if rc := run([]string{"check", "-config", good}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	for _, w := range []string{"TENANT", "billing", "user billing-svc (token)", "@notify.corp.test", "capture", "60/min"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), strings.Repeat("0f", 32)) {
		t.Error("the table shows the token hash")
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`
server:
  listeners: [{name: local, addr: "0.0.0.0:25", tls: none}]
upstreams:
  up: {url: "smtp://relay.example?tls=none"}
tenants:
  t: {senders: ["@t.test"], route: {upstreams: [up, gone]}}
`), 0o600)
	out.Reset()
	errb.Reset()
	if rc := run([]string{"-check", "-config", bad}, &out, &errb); rc != 1 {
		t.Fatalf("rc %d", rc)
	}
	for _, w := range []string{
		"bad.yaml: server.listeners[0].tls:",
		"bad.yaml: upstreams.up.url: tls=none to relay.example",
		"bad.yaml: tenants.t.credentials: a tenant needs at least one credential",
		`bad.yaml: tenants.t.route.upstreams[1]: no upstream called "gone"`,
	} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("errors lack %q:\n%s", w, errb.String())
		}
	}
}

func TestTokenNew(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"token", "new", "billing"}, &out, &errb); rc != 0 {
		t.Fatal(errb.String())
	}
	if !strings.Contains(out.String(), "token:        mgt_") || !strings.Contains(out.String(), "token_sha256: ") ||
		!strings.Contains(out.String(), "billing:") {
		t.Fatal(out.String())
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	var out, errb bytes.Buffer
	f := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(f, []byte(`{"ts":"x","event":"reload","prev":"","hash":"sha256:00"}`+"\n"), 0o600)
	if rc := run([]string{"audit", "verify", f}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "line 1") {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
}
