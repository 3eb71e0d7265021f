package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

const adminPart = `
admin:
  addr: "127.0.0.1:0"
  principals: [{name: ops, role: admin, token_sha256: "%s"}]
`

// A real SIGHUP to mailgate's signal loop (run, in this process) and
// POST /api/reload have the same effect, log line and audit line: a
// rotated token is refused at the next MAIL whichever reloaded it, and a
// broken file is refused by both with the same error.
func TestReloadSignalEqualsAPI(t *testing.T) {
	dir := t.TempDir()
	pool := writeCert(t, dir)
	sink := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	tok, hash := gateway.NewToken()
	adminTok, adminHash := gateway.NewToken()
	_, other := gateway.NewToken()
	cfgPath := filepath.Join(dir, "mailgate.yaml")
	good := fmt.Sprintf(procConfig, sink.Addr(), hash) + fmt.Sprintf(adminPart, adminHash)
	rotated := fmt.Sprintf(procConfig, sink.Addr(), other) + fmt.Sprintf(adminPart, adminHash)
	write := func(y string) {
		if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good)

	pr, pw := io.Pipe()
	stderr := readLines(pr)
	done := make(chan int, 1)
	go func() { done <- run([]string{"-config", cfgPath}, io.Discard, pw); pw.Close() }()
	t.Cleanup(func() {
		select {
		case <-done: // run returned early: no handler would catch a SIGTERM
			return
		default:
		}
		// SIGTERM ends run's loop (its signal.Notify is still on).
		syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("run did not return after SIGTERM")
		}
	})
	addr := stderr.waitFor(t, `msg=listening listener=submissions addr=(\S+)`)[1]
	admin := stderr.waitFor(t, `msg=admin addr=(\S+)`)[1]
	reloadAPI := func() (int, string) {
		req, _ := http.NewRequest("POST", "http://"+admin+"/api/reload", nil)
		req.Header.Set("Authorization", "Bearer "+adminTok)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hup := func() { syscall.Kill(syscall.Getpid(), syscall.SIGHUP) }

	// Rotate by SIGHUP: the open session's next MAIL is refused; back
	// through the API, then rotate by the API and back by SIGHUP.
	for _, by := range []string{"signal", "api"} {
		s := dialSubmission(t, addr, pool, "app1", tok)
		s.expect(250, "MAIL FROM:<a@t1.test>")
		s.expect(250, "RSET")
		write(rotated)
		if by == "signal" {
			hup()
		} else if code, body := reloadAPI(); code != 200 {
			t.Fatalf("API: %d %s", code, body)
		}
		stderr.waitFor(t, `msg="configuration reloaded"`)
		s.expect(530, "MAIL FROM:<a@t1.test>")
		write(good)
		if by == "signal" {
			if code, body := reloadAPI(); code != 200 {
				t.Fatalf("API: %d %s", code, body)
			}
		} else {
			hup()
		}
		stderr.waitFor(t, `msg="configuration reloaded"`)
		dialSubmission(t, addr, pool, "app1", tok).expect(250, "MAIL FROM:<a@t1.test>")
	}

	// A broken file, both ways: the same log line, the running
	// configuration stays.
	write(strings.Replace(good, `senders: ["@t1.test"]`, `senders: []`, 1))
	hup()
	sig := stderr.waitFor(t, `msg="reload failed; the running configuration stays" err="(.*)"`)[1]
	code, body := reloadAPI()
	api := stderr.waitFor(t, `msg="reload failed; the running configuration stays" err="(.*)"`)[1]
	if code != 422 || sig != api || !strings.Contains(sig, "tenants.t1.senders") {
		t.Fatalf("API %d %s\nsignal: %s\napi:    %s", code, body, sig, api)
	}
	dialSubmission(t, addr, pool, "app1", tok).expect(250, "MAIL FROM:<a@t1.test>")

	// The audit: reload lines alike (ok ×4, then error ×2), one admin
	// line per API call.
	raw, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var reloads []map[string]any
	admins := 0
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		switch m["event"] {
		case "reload":
			delete(m, "ts")
			delete(m, "prev")
			delete(m, "hash")
			reloads = append(reloads, m)
		case "admin":
			admins++
		}
	}
	if len(reloads) != 6 || admins != 3 {
		t.Fatalf("%d reload lines, %d admin lines", len(reloads), admins)
	}
	for i := 1; i < 4; i++ {
		if !reflect.DeepEqual(reloads[0], reloads[i]) {
			t.Fatalf("reload lines differ: %v", reloads)
		}
	}
	if !reflect.DeepEqual(reloads[4], reloads[5]) || reloads[4]["result"] != "error" {
		t.Fatalf("error lines differ: %v", reloads[4:])
	}
}
