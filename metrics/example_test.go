package metrics_test

import (
	"context"
	"fmt"
	"log"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Wire a Client to Prometheus with one option (and, for the pool gauges,
// Watch); serve reg with promhttp as usual. Here the test server answers the second message's final dot with
// 451 once, so that message is retried.
func Example() {
	srv, err := mailertest.Start(mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 2, Reply: "451 4.3.0 Try again later"},
	))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	reg := prometheus.NewRegistry() // or prometheus.DefaultRegisterer
	m, err := metrics.New(reg, metrics.Label("transactional"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := mailer.New(srv.Options(), mailer.WithRetry(mailertest.FastRetry()), m.Option())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	defer m.Watch(c)() // the pool gauges, optional

	for _, to := range []string{"ann@example.com", "bob@example.com"} {
		msg, err := mailer.NewMessage().From("app@example.com").To(to).Subject("Hi").Text("Hello").Build()
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Send(context.Background(), msg); err != nil {
			log.Fatal(err)
		}
	}

	// What a scrape shows, without the histogram's buckets and the zeros.
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			v := s.GetCounter().GetValue() + s.GetGauge().GetValue()
			if h := s.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			if v == 0 {
				continue
			}
			fmt.Print(mf.GetName())
			for _, l := range s.GetLabel() {
				fmt.Printf(" %s=%s", l.GetName(), l.GetValue())
			}
			fmt.Println(":", v)
		}
	}
	// Output:
	// mailer_attempt_duration_seconds client=transactional outcome=delivered: 2
	// mailer_attempt_duration_seconds client=transactional outcome=temporary: 1
	// mailer_messages_sent_total client=transactional: 2
	// mailer_pool_connections client=transactional state=idle: 1
	// mailer_retries_total client=transactional outcome=temporary: 1
}
