package metrics_test

import (
	"context"
	"testing"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// TestPoolGauges watches two Clients under one label and one under
// another: the gauges follow their pools (busy while the server holds a
// final dot, idle after, nothing once unwatched) as a scrape parses them.
func TestPoolGauges(t *testing.T) {
	hold, held := make(chan struct{}), make(chan struct{})
	srv, err := mailertest.Start(mailertest.WithFaultFunc(func(step mailertest.Step, n int) *mailertest.Fault {
		if step == mailertest.StepDataEnd && n == 3 {
			close(held)
			<-hold
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := prometheus.NewRegistry()
	a, err := metrics.New(reg, metrics.Label("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := metrics.New(reg, metrics.Label("b"))
	if err != nil {
		t.Fatal(err)
	}
	var clients []*mailer.Client
	for _, m := range []*metrics.Metrics{a, a, b} {
		c, err := mailer.New(srv.Options(), m.Option())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m.Watch(c)
		m.Watch(c) // again: no double count
		clients = append(clients, c)
	}
	send := func(c *mailer.Client) error {
		msg, err := mailer.NewMessage().From(sender).To(user).Subject("Hi").Text("Hello").Build()
		if err != nil {
			return err
		}
		_, err = c.Send(context.Background(), msg)
		return err
	}
	for _, c := range clients[:2] {
		if err := send(c); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- send(clients[2]) }()
	<-held
	fams := scrape(t, reg)
	check := func(label, state string, want float64) {
		t.Helper()
		if got := value(t, fams, "mailer_pool_connections", map[string]string{"client": label, "state": state}); got != want {
			t.Errorf("client=%s state=%s: %v, want %v", label, state, got, want)
		}
	}
	check("a", "idle", 2)
	check("a", "busy", 0)
	check("b", "idle", 0)
	check("b", "busy", 1)
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, reg)
	check("b", "idle", 1)
	check("b", "busy", 0)

	b.Watch(clients[2])() // stop watching
	fams = scrape(t, reg)
	for _, m := range fams["mailer_pool_connections"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "client" && l.GetValue() == "b" {
				t.Errorf("client b still reported after its stop")
			}
		}
	}
}
