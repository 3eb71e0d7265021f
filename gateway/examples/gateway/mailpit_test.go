package example_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's walk-through with the real Mailpit (go install
// github.com/axllent/mailpit@v1.33.1; .ci/run installs it) and swaks: the
// staging tenant's message lands in Mailpit, a paused tenant gets 451
// 4.7.1. A long test (MAILER_TEST_LONG=1): it runs two other programs.
func TestExampleWithMailpit(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("runs Mailpit and swaks; set MAILER_TEST_LONG=1")
	}
	mailpit := lookPath(t, "mailpit", "go install github.com/axllent/mailpit@v1.33.1")
	swaks := lookPath(t, "swaks", "apt-get install swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // bounds Mailpit and swaks
	defer cancel()

	smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.CommandContext(ctx, mailpit, "--smtp", smtpAddr, "--listen", httpAddr,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitLines(t, out, "[smtpd] starting on", "[http] accessible via")

	cfg, _, _ := load(t)
	for i := range cfg.Server.Listeners {
		cfg.Server.Listeners[i].Addr = "127.0.0.1:0"
	}
	cfg.Admin.Addr = "127.0.0.1:0"
	up := cfg.Upstreams["mailpit"]
	up.URL = strings.Replace(up.URL, "127.0.0.1:1025", smtpAddr, 1)
	cfg.Upstreams["mailpit"] = up
	g := startGateway(t, cfg)

	// The README's swaks command, on the gateway's port.
	send := func(subject string) string {
		b, _ := exec.CommandContext(ctx, swaks, "--server", g.Addr("submission"), "-tls", "--auth", "PLAIN",
			"--auth-user", "staging-app", "--auth-password", "demo-staging-token-change-me",
			"-f", "app@staging.example.com", "-t", "someone@example.com", "--h-Subject", subject).CombinedOutput()
		return string(b)
	}
	if got := send("hello from staging"); !strings.Contains(got, "<~  250 2.0.0 OK id=") {
		t.Fatalf("swaks:\n%s", got)
	}
	admin := func(path, token string) {
		req, _ := http.NewRequest("POST", "http://"+g.AdminAddr()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	admin("/api/tenants/staging/pause", "demo-ops-token-change-me")
	if got := send("while paused"); !strings.Contains(got, "451 4.7.1") {
		t.Fatalf("swaks while paused:\n%s", got)
	}
	admin("/api/tenants/staging/resume", "demo-ops-token-change-me")
	if got := send("after resume"); !strings.Contains(got, "<~  250 2.0.0 OK id=") {
		t.Fatalf("swaks after resume:\n%s", got)
	}

	// Capture mode answers 250 only after Mailpit's 250: the messages are
	// there now.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + httpAddr + "/api/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Messages []struct{ Subject string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range list.Messages {
		subjects = append(subjects, m.Subject)
	}
	if len(subjects) != 2 || !strings.Contains(strings.Join(subjects, "|"), "hello from staging") ||
		!strings.Contains(strings.Join(subjects, "|"), "after resume") {
		t.Fatalf("Mailpit holds %q", subjects)
	}
}

func lookPath(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s is not installed (%s)", name, install)
	return ""
}

// freeAddr returns a loopback address with a port free a moment ago, for a
// program that cannot report the port it picked.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitLines reads r until every marker has been seen, then keeps draining
// it in the background so the program never blocks on its output.
func waitLines(t *testing.T, r io.Reader, markers ...string) {
	t.Helper()
	seen := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case seen <- sc.Text():
			default:
			}
		}
		close(seen)
	}()
	timeout := time.After(30 * time.Second)
	for len(markers) > 0 {
		select {
		case line, ok := <-seen:
			if !ok {
				t.Fatalf("output ended before %q", markers)
			}
			for i, m := range markers {
				if strings.Contains(line, m) {
					markers = append(markers[:i], markers[i+1:]...)
					break
				}
			}
		case <-timeout:
			t.Fatalf("no %q within 30s", markers)
		}
	}
}
