package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// The workload: 2,000 mails of about 2 KB through the test server,
// which answers 451 to every fifth message's first attempt (20% of first
// attempts; retries succeed, as in the spike); retries wait 1 s, as in the
// spike. Run with
//
//	go test -run '^$' -bench . -benchtime 1x ./outbox/
//
// (MAILER_TEST_POSTGRES for the PostgreSQL rows).
const benchMails = 2000

func benchServer(b *testing.B) *mailertest.Server {
	var firsts atomic.Int64
	return mailertest.NewServer(b, mailertest.WithTLS(mailertest.TLSNone),
		mailertest.WithAttemptFaultFunc(func(_ string, attempt int) *mailertest.Fault {
			if attempt == 1 && firsts.Add(1)%5 == 0 {
				return &mailertest.Fault{Reply: "451 4.3.0 Try again later"}
			}
			return nil
		}))
}

func benchClient(b *testing.B, srv *mailertest.Server) *mailer.Client {
	c, err := mailer.New(mailer.WithServer(srv.Host(), srv.Port()), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(32))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchMessages(b *testing.B) []*mailer.Message {
	text := strings.Repeat("Your statement for this month is ready. ", 45) // ≈ 2 KB with headers
	msgs := make([]*mailer.Message, benchMails)
	for i := range msgs {
		m, err := mailer.NewMessage().From("app@example.com").To(fmt.Sprintf("u%d@example.com", i)).
			Subject(fmt.Sprintf("Statement %d", i)).Text(text).Build()
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m
	}
	return msgs
}

func benchOptions(sent *atomic.Int64, done chan struct{}) outbox.Options {
	return outbox.Options{
		Workers: 100, MinWait: time.Second, MaxWait: time.Second, Backoff: mailer.ConstantBackoff,
		PollInterval: 50 * time.Millisecond,
		Hooks: []mailer.Hook{func(_ context.Context, e mailer.Event) {
			if e.Status == mailer.StatusSent {
				if sent.Add(1) == benchMails {
					close(done)
				}
			}
		}},
	}
}

// runOutbox enqueues the mails in batches and waits for every SENT.
func runOutbox[TTx any](b *testing.B, obs []*outbox.Outbox[TTx], msgs []*mailer.Message, done chan struct{}) {
	ctx := context.Background()
	for _, ob := range obs {
		if err := ob.Start(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < len(msgs); i += 500 {
		if _, err := obs[0].EnqueueMany(ctx, msgs[i:min(i+500, len(msgs))]); err != nil {
			b.Fatal(err)
		}
	}
	enq := time.Since(start)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatal("not all mails sent")
	}
	total := time.Since(start)
	b.ReportMetric(float64(len(msgs))/total.Seconds(), "mails/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(len(msgs)), "cpu-µs/mail")
	b.ReportMetric(float64(len(msgs))/enq.Seconds(), "enqueued/s")
	for _, ob := range obs {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ob.Stop(sctx)
		cancel()
	}
}

func BenchmarkOutboxSQLite(b *testing.B) {
	for range b.N {
		srv := benchServer(b)
		st, err := outboxsqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		var sent atomic.Int64
		done := make(chan struct{})
		ob, err := outbox.New(benchClient(b, srv), st, benchOptions(&sent, done))
		if err != nil {
			b.Fatal(err)
		}
		if err := ob.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		runOutbox(b, []*outbox.Outbox[*sql.Tx]{ob}, benchMessages(b), done)
		st.Close()
	}
}

// Two worker processes (bench_child_test.go) on one database; this
// process enqueues, runs the test server and counts their SENT lines.
func BenchmarkOutboxPostgres(b *testing.B) {
	if os.Getenv("MAILER_TEST_POSTGRES") == "" {
		b.Skip("MAILER_TEST_POSTGRES is not set")
	}
	for range b.N {
		srv := benchServer(b)
		pool, schema := pgPool(b)
		ob, err := outbox.New(noSender{}, outboxpgx.New(pool, outboxpgx.WithSchema(schema)), outbox.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := ob.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		all, stop := benchChildren(b, "bench", schema, srv.Addr(), benchMails)
		msgs := benchMessages(b)
		runProcesses(b, all, stop, func(lo, hi int) error {
			_, err := ob.EnqueueMany(ctx, msgs[lo:hi])
			return err
		})
	}
}

// runProcesses enqueues benchMails in batches of 500 with enqueue, waits
// for the children's SENT lines and reports; the CPU time is this
// process's (test server, enqueue) plus the children's.
func runProcesses(b *testing.B, all <-chan struct{}, stop func() time.Duration, enqueue func(lo, hi int) error) {
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < benchMails; i += 500 {
		if err := enqueue(i, min(i+500, benchMails)); err != nil {
			b.Fatal(err)
		}
	}
	enq := time.Since(start)
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatal("not all mails sent")
	}
	total := time.Since(start)
	self := cpuTime() - cpu0
	kids := stop()
	b.ReportMetric(benchMails/total.Seconds(), "mails/s")
	b.ReportMetric(benchMails/enq.Seconds(), "enqueued/s")
	b.ReportMetric(float64((self+kids).Microseconds())/benchMails, "cpu-µs/mail")
}

// River alone: the same sends as River jobs whose args carry the envelope
// and body, with no status table.
type rawArgs struct {
	From string   `json:"from"`
	To   []string `json:"to"`
	Body []byte   `json:"body"`
}

func (rawArgs) Kind() string { return "bench_raw" }

type rawWorker struct {
	river.WorkerDefaults[rawArgs]
	sender mailer.Sender
	sent   *atomic.Int64
	done   chan struct{}
	onSent func(id string) // may be nil
}

func (w *rawWorker) NextRetry(*river.Job[rawArgs]) time.Time { return time.Now().Add(time.Second) }

func (w *rawWorker) Work(ctx context.Context, job *river.Job[rawArgs]) error {
	ctx = mailer.ContextWithRetryPolicy(ctx, mailer.RetryPolicy{MaxAttempts: 1})
	_, err := w.sender.SendRaw(ctx, mailer.Envelope{From: job.Args.From, To: job.Args.To}, job.Args.Body)
	if err != nil {
		return err
	}
	if w.onSent != nil {
		w.onSent(strconv.FormatInt(job.ID, 10))
	}
	if w.sent.Add(1) == benchMails {
		close(w.done)
	}
	return nil
}

func riverAloneParams(b *testing.B) []river.InsertManyParams {
	var ps []river.InsertManyParams
	for _, m := range benchMessages(b) {
		body, _ := m.Bytes()
		env := m.Envelope()
		ps = append(ps, river.InsertManyParams{Args: rawArgs{From: env.From, To: env.To, Body: body}})
	}
	return ps
}

func runRiverAlone[TTx any](b *testing.B, clients []*river.Client[TTx], ps []river.InsertManyParams, done chan struct{}) {
	ctx := context.Background()
	for _, c := range clients {
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < len(ps); i += 500 {
		if _, err := clients[0].InsertMany(ctx, ps[i:min(i+500, len(ps))]); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(len(ps))/time.Since(start).Seconds(), "mails/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(len(ps)), "cpu-µs/mail")
	for _, c := range clients {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c.Stop(sctx)
		cancel()
	}
}

func riverConfig(w *rawWorker) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	return &river.Config{Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 100}}, Workers: workers,
		FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, MaxAttempts: 10}
}

func BenchmarkRiverAloneSQLite(b *testing.B) {
	for range b.N {
		srv := benchServer(b)
		st, err := outboxsqlite.Open(filepath.Join(b.TempDir(), "river.db"))
		if err != nil {
			b.Fatal(err)
		}
		drv := riversqlite.New(st.DB())
		m, _ := rivermigrate.New(drv, nil)
		if _, err := m.Migrate(context.Background(), rivermigrate.DirectionUp, nil); err != nil {
			b.Fatal(err)
		}
		var sent atomic.Int64
		w := &rawWorker{sender: benchClient(b, srv), sent: &sent, done: make(chan struct{})}
		c, err := river.NewClient(drv, riverConfig(w))
		if err != nil {
			b.Fatal(err)
		}
		runRiverAlone(b, []*river.Client[*sql.Tx]{c}, riverAloneParams(b), w.done)
		st.Close()
	}
}

func BenchmarkRiverAlonePostgres(b *testing.B) {
	if os.Getenv("MAILER_TEST_POSTGRES") == "" {
		b.Skip("MAILER_TEST_POSTGRES is not set")
	}
	for range b.N {
		srv := benchServer(b)
		pool, schema := pgPool(b)
		ctx := context.Background()
		m, _ := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			b.Fatal(err)
		}
		// An insert-only client: no queues, no workers.
		c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		all, stop := benchChildren(b, "riveralone", schema, srv.Addr(), benchMails)
		ps := riverAloneParams(b)
		runProcesses(b, all, stop, func(lo, hi int) error {
			_, err := c.InsertMany(ctx, ps[lo:hi])
			return err
		})
	}
}

// BenchmarkQueuedSize reports the database bytes that 1,000 queued
// (PENDING) mails of about 2 KB take on SQLite, and the rate of one
// EnqueueMany of them with no worker competing for the connection.
func BenchmarkQueuedSize(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		st, err := outboxsqlite.Open(filepath.Join(dir, "size.db"))
		if err != nil {
			b.Fatal(err)
		}
		ob, _ := outbox.New(noSender{}, st, outbox.Options{})
		ctx := context.Background()
		ob.Migrate(ctx)
		size := func() int64 {
			st.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			fi, _ := os.Stat(filepath.Join(dir, "size.db"))
			return fi.Size()
		}
		before := size()
		msgs := benchMessages(b)[:1000]
		t0 := time.Now()
		if _, err := ob.EnqueueMany(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(1000/time.Since(t0).Seconds(), "enqueued/s-idle")
		b.ReportMetric(float64(size()-before), "bytes/1000-queued")
		st.Close()
	}
}

// BenchmarkQueuedSizePostgres is BenchmarkQueuedSize on PostgreSQL: the
// bytes of the schema's tables, indexes and TOAST included, that 1,000
// queued mails take, and the rate of one EnqueueMany of them with no
// worker running.
func BenchmarkQueuedSizePostgres(b *testing.B) {
	for range b.N {
		pool, schema := pgPool(b)
		ob, _ := outbox.New(noSender{}, outboxpgx.New(pool, outboxpgx.WithSchema(schema)), outbox.Options{})
		ctx := context.Background()
		if err := ob.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		size := func() int64 {
			var n int64
			err := pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
				JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind = 'r'`, schema).Scan(&n)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
		before := size()
		msgs := benchMessages(b)[:1000]
		t0 := time.Now()
		if _, err := ob.EnqueueMany(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(1000/time.Since(t0).Seconds(), "enqueued/s-idle")
		b.ReportMetric(float64(size()-before), "bytes/1000-queued")
	}
}

// cpuTime is the CPU time this process has used (user + system): the
// outbox, River, the SMTP client and the test server together. Under a
// shared machine's load it varies much less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEnqueueRawConcurrent enqueues the 2,000 rendered mails one
// EnqueueRaw call each from 50 goroutines (as a gateway's SMTP sessions
// do) into a started SQLite outbox whose workers send them meanwhile.
func BenchmarkEnqueueRawConcurrent(b *testing.B) {
	for range b.N {
		srv := mailertest.NewServer(b, mailertest.WithTLS(mailertest.TLSNone))
		st, err := outboxsqlite.Open(filepath.Join(b.TempDir(), "raw.db"))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		ob, err := outbox.New(benchClient(b, srv), st, outbox.Options{Workers: 100, PollInterval: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		if err := ob.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		if err := ob.Start(ctx); err != nil {
			b.Fatal(err)
		}
		type raw struct {
			env  mailer.Envelope
			body []byte
		}
		var raws []raw
		for _, m := range benchMessages(b) {
			body, err := m.Bytes()
			if err != nil {
				b.Fatal(err)
			}
			raws = append(raws, raw{m.Envelope(), body})
		}
		const senders = 50
		errs := make(chan error, senders)
		start := time.Now()
		for g := range senders {
			go func() {
				for i := g; i < len(raws); i += senders {
					if _, err := ob.EnqueueRaw(ctx, raws[i].env, raws[i].body); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range senders {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(raws))/time.Since(start).Seconds(), "enqueued/s")
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ob.Stop(sctx)
		cancel()
		st.Close()
	}
}
