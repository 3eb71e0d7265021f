package main

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// BenchmarkIdleSessions1000 starts the mailgate binary, opens 1,000
// sessions that stay idle after TLS and AUTH, and reports the process's
// resident memory before and after (VmRSS from /proc).
//
//	go test -run '^$' -bench IdleSessions -benchtime 1x ./gateway/cmd/mailgate
func BenchmarkIdleSessions1000(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "mailgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	if err := writeSelfSigned(dir); err != nil {
		b.Fatal(err)
	}
	sink := mailertest.NewServer(b, mailertest.WithTLS(mailertest.TLSNone))
	tok, hash := gateway.NewToken()
	cfg := strings.Replace(fmt.Sprintf(procConfig, sink.Addr(), hash), "drain_timeout: 60s",
		"drain_timeout: 60s\n  limits: {max_connections: 5000, max_connections_per_ip: 5000}", 1)
	cfgPath := filepath.Join(dir, "mailgate.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	cmd := exec.Command(bin, "-config", cfgPath)
	if v := os.Getenv("IDLE_GOGC"); v != "" {
		cmd.Env = append(os.Environ(), "GOGC="+v)
	}
	se, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := readLines(se)
	var addr string
	for line := range lines.lines {
		if i := strings.Index(line, "listener=submissions addr="); i >= 0 {
			addr = strings.Fields(line[i+len("listener=submissions addr="):])[0]
			break
		}
	}
	auth := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00app1\x00"+tok)) + "\r\n"
	open := func() *tls.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(c)
		r.ReadString('\n')
		c.Write([]byte("EHLO x\r\n"))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(l, "250 ") {
				break
			}
		}
		c.Write([]byte(auth))
		if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "235") {
			b.Fatalf("AUTH: %q", l)
		}
		return c
	}
	first := open()
	defer first.Close()
	before := rssMiB(b, cmd.Process.Pid)
	conns := make([]*tls.Conn, 1000)
	for i := range conns {
		conns[i] = open()
	}
	after := rssMiB(b, cmd.Process.Pid)
	for _, c := range conns {
		c.Close()
	}
	b.ReportMetric(before, "MiB-rss-1-session")
	b.ReportMetric(after, "MiB-rss-1001-sessions")
	b.ReportMetric((after-before)*1024/1000, "KiB/session")
}

func rssMiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
