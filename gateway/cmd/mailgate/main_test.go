package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// chainedLines returns audit lines with the given bodies, chained from
// prev as mailgate writes them, and the last hash.
func chainedLines(prev string, bodies ...string) (string, string) {
	var out strings.Builder
	for _, b := range bodies {
		content := strings.TrimSuffix(b, "}") + `,"prev":"` + prev + `"}`
		sum := sha256.Sum256([]byte(content))
		prev = "sha256:" + hex.EncodeToString(sum[:])
		out.WriteString(strings.TrimSuffix(content, "}") + `,"hash":"` + prev + `"}` + "\n")
	}
	return out.String(), prev
}

// mailgate audit verify with rotated files, oldest first: one chain; in
// the wrong order, or with a file missing between, broken at the file
// that does not continue the one before. One file prints as before.
func TestAuditVerifyRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	a, lastA := chainedLines("", `{"ts":"1","event":"reload"}`, `{"ts":"2","event":"admin"}`)
	b, lastB := chainedLines(lastA, `{"ts":"3","event":"audit","reason":"reopened"}`, `{"ts":"4","event":"admin"}`)
	c, _ := chainedLines(lastB, `{"ts":"5","event":"audit","reason":"truncated"}`)
	pa, pb, pc := filepath.Join(dir, "audit.jsonl.2"), filepath.Join(dir, "audit.jsonl.1"), filepath.Join(dir, "audit.jsonl")
	os.WriteFile(pa, []byte(a), 0o600)
	os.WriteFile(pb, []byte(b), 0o600)
	os.WriteFile(pc, []byte(c), 0o600)
	var out, errb bytes.Buffer
	if rc := run([]string{"audit", "verify", pa}, &out, &errb); rc != 0 || out.String() != pa+": 2 lines, chain intact\n" {
		t.Fatalf("one file: rc %d: %q %q", rc, out.String(), errb.String())
	}
	out.Reset()
	if rc := run([]string{"audit", "verify", pa, pb, pc}, &out, &errb); rc != 0 || !strings.HasSuffix(out.String(), "3 files, one chain\n") ||
		!strings.Contains(out.String(), pb+": 2 lines, chain intact (its first line continues "+lastA+": reopened)") {
		t.Fatalf("three files: rc %d: %s %s", rc, out.String(), errb.String())
	}
	// One file that continues another cannot prove its start (it may
	// have been emptied, ": > audit.jsonl"): it says which hash the
	// earlier file must end with, and exits 3.
	out.Reset()
	errb.Reset()
	if rc := run([]string{"audit", "verify", pb}, &out, &errb); rc != 3 ||
		out.String() != pb+": 2 lines, chain intact from line 1, which continues an earlier file whose last hash must be "+lastA+" (reopened)\n" ||
		!strings.Contains(errb.String(), "cannot prove its start") {
		t.Fatalf("one continued file: rc %d: %q %q", rc, out.String(), errb.String())
	}
	for _, files := range [][]string{{pb, pa}, {pa, pc}} {
		out.Reset()
		errb.Reset()
		if rc := run(append([]string{"audit", "verify"}, files...), &out, &errb); rc != 1 || !strings.HasPrefix(errb.String(), files[1]+": chain broken: line 1: ") {
			t.Fatalf("%v: rc %d: %s %s", files, rc, out.String(), errb.String())
		}
	}
}
