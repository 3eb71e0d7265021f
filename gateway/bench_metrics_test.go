package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/gateway"
)

// BenchmarkRelayMetrics measures sync relay with the metrics on and off:
// two gateways, one with metrics and one WithoutMetrics, each set up as
// BenchmarkRelay's mailgate-sync (2 KiB, 8 connections, STARTTLS and AUTH
// PLAIN on both legs, audit on), both relaying to one discarding sink.
// Batches of 400 messages alternate between them (on, off, off, on, …), so
// both see the same load on a shared machine, and each pair of batches
// gives a ratio. It reports each side's msgs/s and CPU µs per message
// (the whole process: client, gateway and sink), the ratio of the totals
// and the median of the pairs' ratios (on ÷ off; < 1 means metrics cost).
//
//	go test -run '^$' -bench BenchmarkRelayMetrics -benchtime 40000x ./gateway/
func BenchmarkRelayMetrics(b *testing.B) {
	pki := newPKI(b)
	sk := startSink(b, pki.issue(b, "sink", "sink.test", []string{"localhost"}, true))
	os.WriteFile(filepath.Join(pki.dir, "pw"), []byte("relay-pw"), 0o600)
	// BENCH_AA=1 runs both without metrics: the spread an A/A comparison
	// shows on this machine.
	on := metricsGateway(b, pki, sk, os.Getenv("BENCH_AA") == "")
	off := metricsGateway(b, pki, sk, false)
	const batch = 400
	msg := benchMessage()
	env := mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.example"}}
	send := func(c *mailer.Client, n int) (time.Duration, time.Duration) {
		cpu0, start := cpuTime(), time.Now()
		var wg sync.WaitGroup
		per := (n + 7) / 8
		for range 8 {
			wg.Go(func() {
				for range per {
					if _, err := c.SendRaw(context.Background(), env, msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), cpuTime() - cpu0
	}
	send(on, 64) // warm both pools
	send(off, 64)
	b.ResetTimer()
	var wall, cpu [2]time.Duration
	var ratios []float64
	sent := 0
	for i := 0; sent < b.N; i++ {
		var w [2]time.Duration
		for _, side := range [][]int{{0, 1}, {1, 0}}[i%2] {
			c := on
			if side == 1 {
				c = off
			}
			d, u := send(c, batch)
			w[side] = d
			wall[side] += d
			cpu[side] += u
		}
		ratios = append(ratios, w[1].Seconds()/w[0].Seconds()) // on's rate ÷ off's rate
		sent += 8 * ((batch + 7) / 8)
	}
	b.StopTimer()
	n := float64(sent)
	slices.Sort(ratios)
	b.ReportMetric(n/wall[0].Seconds(), "on-msgs/s")
	b.ReportMetric(n/wall[1].Seconds(), "off-msgs/s")
	b.ReportMetric(float64(cpu[0].Microseconds())/n, "on-cpu-µs/msg")
	b.ReportMetric(float64(cpu[1].Microseconds())/n, "off-cpu-µs/msg")
	b.ReportMetric(wall[1].Seconds()/wall[0].Seconds(), "on/off")
	b.ReportMetric(ratios[len(ratios)/2], "on/off-median")
	b.ReportMetric(float64(len(ratios)), "pairs")
}

// metricsGateway starts a sync gateway relaying to sk, with or without
// metrics, and returns a warm client for it.
func metricsGateway(b *testing.B, pki *testPKI, sk *sink, metrics bool) *mailer.Client {
	e := &env{t: b, pki: pki, dir: pki.dir, tokens: map[string]string{}, clock: &fakeClock{}}
	y := strings.Replace(baseServer, "audit.jsonl", filepath.Join(b.TempDir(), "audit.jsonl"), 1) + `
upstreams:
  sink: {url: "smtp://relay@` + sk.ln.Addr().String() + `", password_file: pw, ca_file: ca.pem, pool: 8}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    route: {upstreams: [sink]}
`
	cfg, err := gateway.ParseConfig([]byte(e.expand(y, nil)))
	if err != nil {
		b.Fatal(err)
	}
	cfg.SetDir(pki.dir)
	var opts []gateway.Option
	if !metrics {
		opts = append(opts, gateway.WithoutMetrics())
	}
	g, err := gateway.New(cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Shutdown(context.Background()) })
	if (g.Registry() != nil) != metrics {
		b.Fatal(fmt.Sprintf("metrics %v, registry %v", metrics, g.Registry()))
	}
	c, err := mailer.New(mailer.WithURL("smtp://app1:"+e.tokens["app1"]+"@"+g.Addr("submission")),
		mailer.WithRootCAs(pki.pool), mailer.WithPool(8))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// cpuTime is the user and system CPU the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
