package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/gateway"
)

// sink is a discarding SMTP server with STARTTLS and AUTH PLAIN, the
// upstream of the benchmarks (mailertest keeps every message in memory).
type sink struct {
	srv  *smtp.Server
	ln   net.Listener
	msgs atomic.Int64
}

type sinkSession struct{ s *sink }

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, u, p string) error {
		if u != "relay" || p != "relay-pw" {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.s.msgs.Add(1)
	return err
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

func startSink(tb testing.TB, cert tls.Certificate) *sink {
	s := &sink{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s}, nil }))
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = discardLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.ln = ln
	go s.srv.Serve(ln)
	tb.Cleanup(func() { s.srv.Close() })
	return s
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

func benchMessage() []byte {
	var b strings.Builder
	b.WriteString("From: app@t1.test\r\nTo: r@ext.example\r\nSubject: bench\r\nMessage-ID: <bench@t1.test>\r\n\r\n")
	for b.Len() < 2048-80 {
		b.WriteString(strings.Repeat("z", 76) + "\r\n")
	}
	return []byte(b.String())
}

// sendParallel sends b.N messages through c from 8 goroutines and reports
// messages per second; it returns when the timed part began.
func sendParallel(b *testing.B, c *mailer.Client) (time.Time, time.Duration) {
	msg := benchMessage()
	env := mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.example"}}
	// Warm the pool: 8 connections with TLS and AUTH done.
	for range 8 {
		if _, err := c.SendRaw(context.Background(), env, msg); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(8 / max(1, testingProcs()))
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.SendRaw(context.Background(), env, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	return start, cpu0
}

func testingProcs() int {
	n := 0
	fmt.Sscan(os.Getenv("GOMAXPROCS"), &n)
	if n == 0 {
		n = runtimeProcs()
	}
	return n
}

// BenchmarkRelay compares sending straight to a discarding sink with
// sending through mailgate in sync mode to the same sink: 2 KiB messages,
// 8 connections, STARTTLS and AUTH PLAIN on both legs, audit on.
//
//	go test -run '^$' -bench BenchmarkRelay -benchtime 20000x ./gateway/
func BenchmarkRelay(b *testing.B) {
	pki := newPKI(b)
	sk := startSink(b, pki.issue(b, "sink", "sink.test", []string{"localhost"}, true))
	b.Run("direct", func(b *testing.B) {
		os.WriteFile(filepath.Join(pki.dir, "pw"), []byte("relay-pw"), 0o600)
		c, err := mailer.New(mailer.WithURL("smtp://relay:relay-pw@"+sk.ln.Addr().String()), mailer.WithRootCAs(pki.pool), mailer.WithPool(8))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		sendParallel(b, c)
	})
	b.Run("mailgate-sync", func(b *testing.B) {
		sendParallel(b, benchGateway(b, pki, sk, "sync", ""))
	})
	// Queue mode: msgs/s is the accept rate (every 250 after a durable
	// commit), e2e-msgs/s counts until the sink has them all.
	queueRun := func(b *testing.B, queueYAML string) {
		base := sk.msgs.Load()
		c := benchGateway(b, pki, sk, "queue", queueYAML)
		start, cpu0 := sendParallel(b, c)
		want := base + int64(b.N) + 8
		for sk.msgs.Load() < want {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "e2e-msgs/s")
		// Until the last delivery: the client, mailgate (accept, queue,
		// delivery) and the sink, all in this process.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	}
	b.Run("mailgate-queue-sqlite", func(b *testing.B) {
		queueRun(b, "{path: "+filepath.Join(b.TempDir(), "queue.db")+", poll_interval: 20ms, workers: 40}")
	})
	b.Run("mailgate-queue-postgres", func(b *testing.B) {
		dsn, schema := pgSchema(b)
		queueRun(b, "{driver: postgres, dsn: \""+dsn+"\", schema: "+schema+", poll_interval: 100ms, workers: 40}")
	})
}

// benchGateway starts mailgate with tenant t1 routed in mode through the
// sink and returns a client of it with 8 connections.
func benchGateway(b *testing.B, pki *testPKI, sk *sink, mode, queueYAML string) *mailer.Client {
	e := &env{t: b, pki: pki, dir: pki.dir, tokens: map[string]string{}, clock: &fakeClock{}}
	os.WriteFile(filepath.Join(pki.dir, "pw"), []byte("relay-pw"), 0o600)
	y := strings.Replace(baseServer, "audit.jsonl", auditPath(b), 1) + `
upstreams:
  sink: {url: "smtp://relay@` + sk.ln.Addr().String() + `", password_file: pw, ca_file: ca.pem, pool: 8}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    route: {mode: ` + mode + `, upstreams: [sink]}
`
	if queueYAML != "" {
		y += "queue: " + queueYAML + "\n"
	}
	cfg, err := gateway.ParseConfig([]byte(e.expand(y, nil)))
	if err != nil {
		b.Fatal(err)
	}
	cfg.SetDir(pki.dir)
	var gopts []gateway.Option
	if os.Getenv("BENCH_DISCARD") != "" {
		gopts = append(gopts, gateway.WithDelivery("sync", discard{}))
	}
	g, err := gateway.New(cfg, gopts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Shutdown(context.Background()) })
	c, err := mailer.New(mailer.WithURL("smtp://app1:"+e.tokens["app1"]+"@"+g.Addr("submission")), mailer.WithRootCAs(pki.pool), mailer.WithPool(8))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkTokenAuth times AUTH PLAIN with a token on an open TLS session
// (the connection and handshake are outside the timer).
func BenchmarkTokenAuth(b *testing.B) {
	e := start(b, setup{yaml: baseServer + policyTenants, opts: []gateway.Option{gateway.WithDelivery("sync", &recorder{})}})
	line := "AUTH PLAIN " + plain("app1", e.tokens["app1"])
	b.StopTimer()
	for range b.N {
		c := e.dialRaw("submissions")
		e.greet(c)
		c.expect("250", "EHLO x")
		b.StartTimer()
		c.expect("235", "%s", line)
		b.StopTimer()
		c.conn.Close()
	}
}

func auditPath(b *testing.B) string {
	if os.Getenv("BENCH_NO_AUDIT") != "" {
		return `""`
	}
	return filepath.Join(b.TempDir(), "audit.jsonl")
}

// discard is a Delivery that accepts at once: BENCH_DISCARD=1 measures the
// client leg alone.
type discard struct{}

func (discard) Deliver(context.Context, *gateway.Transaction) gateway.Result {
	return gateway.Result{Reply: &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK"}, Outcome: "delivered"}
}
