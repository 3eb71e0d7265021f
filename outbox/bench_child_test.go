package outbox_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// The PostgreSQL benchmarks run their workers in two child processes
// (this test binary again), as the issue asks: CHILD_OPTS "bench" runs an
// Outbox, "riveralone" a River client with the same sends and no status
// table. The parent enqueues and counts the children's SENT lines.

// benchChildPool is the SMTP pool of each child: two children share the
// 32 connections the one-process benchmarks use.
const benchChildPool = 16

// runBenchChild works until SIGTERM, then stops (draining) and exits.
func runBenchChild(mode string) int {
	ctx := context.Background()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "bench child:", err); return 1 }
	host, port, _ := strings.Cut(os.Getenv("CHILD_SMTP"), ":")
	p, _ := strconv.Atoi(port)
	client, err := mailer.New(mailer.WithServer(host, p), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(benchChildPool))
	if err != nil {
		return fail(err)
	}
	defer client.Close()
	schema := os.Getenv("CHILD_SCHEMA")
	cfg, err := pgxpool.ParseConfig(os.Getenv("CHILD_PG"))
	if err != nil {
		return fail(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	w := &lockedWriter{w: bufio.NewWriter(os.Stdout)}
	name := os.Getenv("CHILD_NAME")
	sentLine := func(id string) { fmt.Fprintf(w, "SENT %s %s\n", name, id) }

	var start, stop func() error
	switch mode {
	case "bench":
		var never atomic.Int64
		opts := benchOptions(&never, make(chan struct{}))
		opts.Hooks = []mailer.Hook{func(_ context.Context, e mailer.Event) {
			if e.Status == mailer.StatusSent {
				sentLine(e.MessageID)
			}
		}}
		ob, err := outbox.New(client, outboxpgx.New(pool, outboxpgx.WithSchema(schema)), opts)
		if err != nil {
			return fail(err)
		}
		start, stop = func() error { return ob.Start(ctx) }, func() error { return ob.Stop(ctx) }
	default: // riveralone
		var sent atomic.Int64
		rw := &rawWorker{sender: client, sent: &sent, done: make(chan struct{}), onSent: sentLine}
		rcfg := riverConfig(rw)
		rcfg.Schema = schema
		rc, err := river.NewClient(riverpgxv5.New(pool), rcfg)
		if err != nil {
			return fail(err)
		}
		start, stop = func() error { return rc.Start(ctx) }, func() error { return rc.Stop(ctx) }
	}
	if err := start(); err != nil {
		return fail(err)
	}
	if err := untilTerm(w, 5*time.Millisecond, stop); err != nil {
		return fail(err)
	}
	return 0
}

// benchChildren starts two worker processes of mode on schema, delivering
// to srvAddr, and returns a channel closed once they have reported n SENT
// lines between them, and a function that stops them (SIGTERM, drain) and
// returns the CPU time they used.
func benchChildren(b *testing.B, mode, schema, srvAddr string, n int64) (<-chan struct{}, func() time.Duration) {
	var sent atomic.Int64
	all := make(chan struct{})
	onSent := func() {
		if sent.Add(1) == n {
			close(all)
		}
	}
	var kids []*child
	for _, name := range []string{"A", "B"} {
		env := childEnv{pgURL: os.Getenv("MAILER_TEST_POSTGRES"), schema: schema, smtp: srvAddr, name: name, opts: mode}
		kids = append(kids, startChildFunc(b, env, onSent))
	}
	stop := func() time.Duration {
		before := childrenCPU()
		for _, k := range kids {
			_ = k.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, k := range kids {
			<-k.done
			_ = k.cmd.Wait()
		}
		return childrenCPU() - before
	}
	return all, stop
}

// childrenCPU is the CPU time (user + system) of the child processes that
// have been waited for.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
