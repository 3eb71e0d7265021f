package outbox_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
	"go.uber.org/goleak"
)

// The crash and scale-out tests run this test binary again as a worker
// process (TestMain sees OUTBOX_TEST_CHILD), so that it can be killed with
// SIGKILL for real.

// Once the tests are done, no goroutine of theirs may be left: every
// Outbox was stopped and every store, pool and client closed (goleak).
func TestMain(m *testing.M) {
	if os.Getenv("OUTBOX_TEST_CHILD") != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}

// childEnv describes the child's job.
type childEnv struct {
	db      string // SQLite path, or "" for PG
	pgURL   string // with search_path set through schema
	schema  string
	smtp    string // host:port of a plain-text test server
	enqueue int    // messages to enqueue first
	name    string
	opts    string // "rescue" shortens JobTimeout/RescueAfter
}

func (c childEnv) cmd() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OUTBOX_TEST_CHILD=1",
		"CHILD_DB="+c.db, "CHILD_PG="+c.pgURL, "CHILD_SCHEMA="+c.schema, "CHILD_SMTP="+c.smtp,
		"CHILD_ENQUEUE="+strconv.Itoa(c.enqueue), "CHILD_NAME="+c.name, "CHILD_OPTS="+c.opts)
	cmd.Stderr = os.Stderr
	return cmd
}

func childOptions(name, opts string, out io.Writer) outbox.Options {
	var mu sync.Mutex
	o := outbox.Options{
		Workers: 50, MinWait: 50 * time.Millisecond, MaxWait: 200 * time.Millisecond, Backoff: mailer.ConstantBackoff,
		PollInterval: 50 * time.Millisecond,
		Hooks: []mailer.Hook{func(_ context.Context, e mailer.Event) {
			if e.Status == mailer.StatusSent {
				mu.Lock()
				fmt.Fprintf(out, "SENT %s %s\n", name, e.MessageID)
				mu.Unlock()
			}
		}},
	}
	if opts == "rescue" {
		o.JobTimeout, o.RescueAfter = 2*time.Second, 3*time.Second
	}
	return o
}

// runChild enqueues, then works until killed or until SIGTERM.
func runChild() int {
	if mode := os.Getenv("CHILD_OPTS"); mode == "bench" || mode == "riveralone" {
		return runBenchChild(mode)
	}
	ctx := context.Background()
	host, port, _ := strings.Cut(os.Getenv("CHILD_SMTP"), ":")
	p, _ := strconv.Atoi(port)
	client, err := mailer.New(mailer.WithServer(host, p), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(20))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	w := &lockedWriter{w: out}
	opts := childOptions(os.Getenv("CHILD_NAME"), os.Getenv("CHILD_OPTS"), w)
	n, _ := strconv.Atoi(os.Getenv("CHILD_ENQUEUE"))
	run := func(enqueue func([]*mailer.Message) error, start func() error, stop func() error) int {
		var msgs []*mailer.Message
		for i := range n {
			m, _ := mailer.NewMessage().From("app@example.com").To(fmt.Sprintf("u%d@example.com", i)).Subject("crash " + strconv.Itoa(i)).Text("body").Build()
			msgs = append(msgs, m)
		}
		if n > 0 {
			if err := enqueue(msgs); err != nil {
				fmt.Fprintln(os.Stderr, "child enqueue:", err)
				return 1
			}
		}
		if err := start(); err != nil {
			fmt.Fprintln(os.Stderr, "child start:", err)
			return 1
		}
		if untilTerm(w, 20*time.Millisecond, stop) != nil {
			return 1
		}
		return 0
	}
	if db := os.Getenv("CHILD_DB"); db != "" {
		st, err := outboxsqlite.Open(db)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		ob, err := outbox.New(client, st, opts)
		if err != nil {
			return 1
		}
		return run(func(m []*mailer.Message) error { _, err := ob.EnqueueMany(ctx, m); return err },
			func() error { return ob.Start(ctx) }, func() error { return ob.Stop(ctx) })
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv("CHILD_PG"))
	if err != nil {
		return 1
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = os.Getenv("CHILD_SCHEMA")
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 1
	}
	ob, err := outbox.New(client, outboxpgx.New(pool, outboxpgx.WithSchema(os.Getenv("CHILD_SCHEMA"))), opts)
	if err != nil {
		return 1
	}
	return run(func(m []*mailer.Message) error { _, err := ob.EnqueueMany(ctx, m); return err },
		func() error { return ob.Start(ctx) }, func() error { return ob.Stop(ctx) })
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) println(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.WriteString(s + "\n")
	l.w.Flush()
}

func (l *lockedWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Flush()
}

// child is a running worker process.
type child struct {
	cmd   *exec.Cmd
	ready chan struct{}
	mu    sync.Mutex
	sent  int
	done  chan struct{}
}

func startChild(t *testing.T, env childEnv) *child {
	t.Helper()
	return startChildFunc(t, env, nil)
}

// startChildFunc is startChild with a function called at each SENT line.
func startChildFunc(t testing.TB, env childEnv, onSent func()) *child {
	t.Helper()
	c := &child{cmd: env.cmd(), ready: make(chan struct{}), done: make(chan struct{})}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "READY":
				close(c.ready)
			case strings.HasPrefix(line, "SENT "):
				c.mu.Lock()
				c.sent++
				c.mu.Unlock()
				if onSent != nil {
					onSent()
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	select {
	case <-c.ready:
	case <-c.done:
		t.Fatal("child exited before it was ready")
	case <-time.After(60 * time.Second):
		t.Fatal("child not ready after 60 s")
	}
	return c
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	<-c.done
}

func (c *child) sentCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

var (
	_ = sql.ErrNoRows
	_ pgx.Tx
)

// untilTerm says READY, flushes w every period until SIGTERM, then runs
// stop, says STOPPED and returns stop's error.
func untilTerm(w *lockedWriter, every time.Duration, stop func() error) error {
	w.println("READY")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			err := stop()
			w.println("STOPPED")
			return err
		case <-tick.C:
			w.flush()
		}
	}
}
