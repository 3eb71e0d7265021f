package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// Two mailgate processes on one PostgreSQL queue (a schema of the test's
// own), 4 smtplib clients each: every message answered 250 reaches the
// sink exactly once, and both processes' workers deliver.
func TestProcessQueuePostgresTwoInstances(t *testing.T) {
	longTest(t)
	dsn := os.Getenv("MAILER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set MAILER_TEST_POSTGRES")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	var rb [6]byte
	rand.Read(rb[:])
	schema := "mailgate_proc_" + hex.EncodeToString(rb[:])
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")

	const perClient = 100
	bin := filepath.Join(t.TempDir(), "mailgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sink := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	tok, hash := gateway.NewToken()
	var procs []*proc
	var dirs []string
	for range 2 {
		dir := t.TempDir()
		writeCert(t, dir)
		os.WriteFile(filepath.Join(dir, "client.py"), []byte(smtplibClient), 0o600)
		y := fmt.Sprintf(queueProcConfig, freePort(t), sink.Addr(), hash)
		y = strings.Replace(y, "queue: {path: queue.db,", fmt.Sprintf("queue: {driver: postgres, dsn: %q, schema: %s, workers: 4,", dsn, schema), 1)
		cfgPath := filepath.Join(dir, "mailgate.yaml")
		os.WriteFile(cfgPath, []byte(y), 0o600)
		p := startProc(t, bin, "-config", cfgPath)
		p.stderr.waitFor(t, `msg=listening`)
		procs = append(procs, p)
		dirs = append(dirs, dir)
	}
	var cmds []*exec.Cmd
	for i, dir := range dirs {
		y, _ := os.ReadFile(filepath.Join(dir, "mailgate.yaml"))
		addr := strings.Fields(strings.SplitN(string(y), `addr: "`, 2)[1])[0]
		host, port, _ := net.SplitHostPort(strings.TrimSuffix(addr, `",`))
		for c := range 4 {
			cmd := exec.Command("python3", filepath.Join(dir, "client.py"), host, port, filepath.Join(dir, "cert.pem"), "app1", tok,
				fmt.Sprintf("%d%d", i, c), fmt.Sprint(perClient), filepath.Join(dir, fmt.Sprintf("out%d.txt", c)))
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("client: %v", err)
		}
	}
	accepted := map[string]bool{}
	for _, dir := range dirs {
		for c := range 4 {
			f, _ := os.Open(filepath.Join(dir, fmt.Sprintf("out%d.txt", c)))
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				id, res, _ := strings.Cut(sc.Text(), " ")
				if res != "250" {
					t.Errorf("%s answered %s", id, res)
				}
				accepted[id] = true
			}
			f.Close()
		}
	}
	if len(accepted) != 8*perClient {
		t.Fatalf("%d messages answered 250, want %d", len(accepted), 8*perClient)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(sink.Messages()) < len(accepted) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // a duplicate would arrive now
	got := messageIDs(t, sink.Messages())
	for id := range accepted {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times", id, got[id])
		}
	}
	if len(got) != len(accepted) {
		t.Errorf("%d distinct messages at the sink, want %d", len(got), len(accepted))
	}
	for i, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.wait(t); err != nil {
			t.Fatalf("instance %d exit: %v", i+1, err)
		}
		b, _ := os.ReadFile(filepath.Join(dirs[i], "audit.jsonl"))
		n := 0 // lines: an attempt inside a line says "delivered" too
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, `"event":"message"`) && strings.Contains(l, `"outcome":"delivered"`) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("instance %d delivered nothing", i+1)
		}
		t.Logf("instance %d delivered %d", i+1, n)
	}
}
