package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const (
	user   = "app@example.com"
	sender = "Acme <noreply@example.com>"
)

// scrape gathers reg, writes the text exposition format and parses it back
// with Prometheus' own text parser, as a scraper would.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, buf.String())
	}
	return fams
}

// value returns the counter or gauge value of the series of name whose
// labels include want, or the sample count of a histogram.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		t.Fatalf("no series %s%v", name, want)
	}
	return sum
}

// noAddresses fails if a label value holds an address, the user name or
// a Message-ID.
func noAddresses(t *testing.T, fams map[string]*dto.MetricFamily, forbidden ...string) {
	t.Helper()
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				if strings.ContainsAny(v, "@<>") {
					t.Errorf("%s: label %s=%q looks like an address", name, lp.GetName(), v)
				}
				for _, f := range forbidden {
					if f != "" && strings.Contains(v, f) {
						t.Errorf("%s: label %s=%q holds %q", name, lp.GetName(), v, f)
					}
				}
			}
		}
	}
}

func message(t *testing.T, to string) *mailer.Message {
	t.Helper()
	m, err := mailer.NewMessage().From(sender).To(to).Subject("Your code").Text("493817").Build()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newClient(t *testing.T, srv *mailertest.Server, opts ...mailer.Option) *mailer.Client {
	t.Helper()
	c, err := mailer.New(append([]mailer.Option{srv.Options(), mailer.WithRetry(mailertest.FastRetry())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// One success, one 451-then-success, one 550: the scraped counters say
// exactly that.
func TestSentRetriedFailed(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser(user, "secret"), mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 2, Reply: "451 4.3.0 Try again later"},
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 4, Reply: "550 5.7.1 Message refused"},
	))
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Label("qq"))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, m.Option())
	ctx := context.Background()
	var ids []string
	for i, to := range []string{"ok@example.com", "retry@example.com", "refused@example.com"} {
		r, err := c.Send(ctx, message(t, to))
		if (err != nil) != (i == 2) {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, r.MessageID)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("server got %d messages, want 2", n)
	}

	fams := scrape(t, reg)
	qq := map[string]string{"client": "qq"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mailer_messages_sent_total", qq, 2},
		{"mailer_messages_failed_total", map[string]string{"client": "qq", "outcome": "permanent"}, 1},
		{"mailer_messages_failed_total", map[string]string{"client": "qq", "outcome": "temporary"}, 0},
		{"mailer_messages_failed_total", map[string]string{"client": "qq", "outcome": "unknown"}, 0},
		{"mailer_retries_total", map[string]string{"client": "qq", "outcome": "temporary"}, 1},
		{"mailer_retries_total", qq, 1},
		{"mailer_attempt_duration_seconds", map[string]string{"client": "qq", "outcome": "delivered"}, 2},
		{"mailer_attempt_duration_seconds", map[string]string{"client": "qq", "outcome": "temporary"}, 1},
		{"mailer_attempt_duration_seconds", map[string]string{"client": "qq", "outcome": "permanent"}, 1},
		{"mailer_attempt_duration_seconds", qq, 4},
		{"mailer_maybe_duplicates_total", qq, 0},
		{"mailer_sends_in_flight", qq, 0},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	noAddresses(t, fams, append(ids, user, "example.com", srv.Addr())...)
}

// A connection lost after the final dot (unknown outcome) and retried
// counts as a maybe-duplicate.
func TestMaybeDuplicate(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true},
	))
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Label("ses"))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, m.Option())
	r, err := c.Send(context.Background(), message(t, "dup@example.com"))
	if err != nil || !r.MaybeDuplicate {
		t.Fatalf("send: %v, maybe duplicate %v", err, r.MaybeDuplicate)
	}
	fams := scrape(t, reg)
	ses := map[string]string{"client": "ses"}
	if got := value(t, fams, "mailer_maybe_duplicates_total", ses); got != 1 {
		t.Errorf("maybe duplicates = %v, want 1", got)
	}
	if got := value(t, fams, "mailer_retries_total", map[string]string{"client": "ses", "outcome": "unknown"}); got != 1 {
		t.Errorf("retries{unknown} = %v, want 1", got)
	}
	if got := value(t, fams, "mailer_messages_sent_total", ses); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
}

// Two Metrics on one registry (two providers) share the collectors and
// keep their own series; a Group's account name, which holds the user,
// never becomes a label.
func TestSharedRegistryAndGroup(t *testing.T) {
	srvA := mailertest.NewServer(t, mailertest.WithUser(user, "secret"), mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepMAIL, Reply: "550 5.7.1 Account disabled"},
	))
	srvB := mailertest.NewServer(t, mailertest.WithUser("backup@example.net", "secret"))
	reg := prometheus.NewRegistry()
	ma, err := metrics.New(reg, metrics.Label("primary"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := metrics.New(reg, metrics.Label("backup"))
	if err != nil {
		t.Fatal(err)
	}
	g := mailer.Failover(newClient(t, srvA, ma.Option()), newClient(t, srvB, mb.Option()))
	r, err := g.Send(context.Background(), message(t, "user@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Account, "@") {
		t.Fatalf("the account name %q should hold the user, for this test to mean something", r.Account)
	}
	fams := scrape(t, reg)
	if got := value(t, fams, "mailer_messages_failed_total", map[string]string{"client": "primary", "outcome": "permanent"}); got != 1 {
		t.Errorf("primary failed = %v, want 1", got)
	}
	if got := value(t, fams, "mailer_messages_sent_total", map[string]string{"client": "backup"}); got != 1 {
		t.Errorf("backup sent = %v, want 1", got)
	}
	if got := value(t, fams, "mailer_messages_sent_total", map[string]string{"client": "primary"}); got != 0 {
		t.Errorf("primary sent = %v, want 0", got)
	}
	noAddresses(t, fams, r.MessageID, r.Account, user, "backup@example.net", srvA.Addr(), srvB.Addr())
}

func TestNewRejects(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, tc := range []struct {
		name string
		reg  prometheus.Registerer
		opts []metrics.Option
	}{
		{"address label", reg, []metrics.Option{metrics.Label("alice@qq.com")}},
		{"empty label", reg, []metrics.Option{metrics.Label("")}},
		{"space", reg, []metrics.Option{metrics.Label("a b")}},
		{"long label", reg, []metrics.Option{metrics.Label(strings.Repeat("x", 65))}},
		{"no buckets", reg, []metrics.Option{metrics.Buckets()}},
		{"buckets not increasing", reg, []metrics.Option{metrics.Buckets(1, 1)}},
		{"nil registerer", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := metrics.New(tc.reg, tc.opts...)
			if !errors.Is(err, metrics.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := metrics.New(reg, metrics.Label("ok_1.2-3")); err != nil {
		t.Fatal(err)
	}
}

// A name already taken by another collector is reported, not panicked on.
func TestNameConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "mailer_retries_total", Help: "other"}))
	_, err := metrics.New(reg)
	if err == nil || errors.Is(err, metrics.ErrInvalid) {
		t.Fatalf("err = %v, want a registration error", err)
	}
}

// The cost of recording one Send's events (pending, sending, sent).
func BenchmarkHook(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Label("bench"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := mailer.Event{MessageID: "x@example.com"}
		for pb.Next() {
			e.Status = mailer.StatusPending
			m.Hook(ctx, e)
			e.Status, e.Attempt = mailer.StatusSending, 1
			m.Hook(ctx, e)
			e.Status, e.Outcome = mailer.StatusSent, mailer.OutcomeDelivered
			m.Hook(ctx, e)
		}
	})
}

// Two sends of the same Message-ID at once (SendRaw of messages without a
// Message-ID all have "", and one Message may be sent twice) each count
// their attempt: hooks of different sends run concurrently, so their
// events interleave.
func TestInterleavedSendsOfOneMessageID(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Label("raw"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, e := range []mailer.Event{
		{Status: mailer.StatusPending, Time: t0},
		{Status: mailer.StatusPending, Time: t0},
		{Status: mailer.StatusSending, Attempt: 1, Time: t0},
		{Status: mailer.StatusSending, Attempt: 1, Time: t0.Add(time.Second)},
		{Status: mailer.StatusSent, Attempt: 1, Outcome: mailer.OutcomeDelivered, Time: t0.Add(2 * time.Second)},
		{Status: mailer.StatusFailed, Attempt: 1, Outcome: mailer.OutcomePermanent, Time: t0.Add(3 * time.Second)},
	} {
		m.Hook(ctx, e)
	}
	fams := scrape(t, reg)
	for _, tc := range []struct {
		outcome string
		want    float64
	}{{"delivered", 1}, {"permanent", 1}} {
		if got := value(t, fams, "mailer_attempt_duration_seconds", map[string]string{"client": "raw", "outcome": tc.outcome}); got != tc.want {
			t.Errorf("attempts{%s} = %v, want %v", tc.outcome, got, tc.want)
		}
	}
	if got := value(t, fams, "mailer_sends_in_flight", map[string]string{"client": "raw"}); got != 0 {
		t.Errorf("in flight = %v, want 0", got)
	}
}

// The same through a Client: two SendRaw calls of messages without a
// Message-ID, which a hook holds until both have started their attempt.
func TestConcurrentRawSendsWithoutMessageID(t *testing.T) {
	srv := mailertest.NewServer(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Label("raw"))
	if err != nil {
		t.Fatal(err)
	}
	var started sync.WaitGroup
	started.Add(2)
	gate := func(_ context.Context, e mailer.Event) {
		switch e.Status {
		case mailer.StatusSending:
			started.Done()
		case mailer.StatusSent:
			started.Wait() // both attempts began before either ends
		}
	}
	c := newClient(t, srv, mailer.WithHook(gate), m.Option(), mailer.WithPool(2))
	raw := []byte("From: app@example.com\r\nTo: bob@example.com\r\nSubject: raw\r\n\r\nhello\r\n")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@example.com", To: []string{"bob@example.com"}}, raw)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fams := scrape(t, reg)
	if got := value(t, fams, "mailer_attempt_duration_seconds", map[string]string{"client": "raw", "outcome": "delivered"}); got != 2 {
		t.Errorf("delivered attempts = %v, want 2", got)
	}
}

// A send that gives up in its retry wait (its context ended) while another
// send of the same Message-ID is in an attempt of another number leaves
// that attempt to the other send's terminal event.
func TestGiveUpInWaitBesideAnotherSend(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Label("raw"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, e := range []mailer.Event{
		{Status: mailer.StatusPending, Time: at(0)},
		{Status: mailer.StatusSending, Attempt: 1, Time: at(0)},
		{Status: mailer.StatusRetrying, Attempt: 1, Outcome: mailer.OutcomeTemporary, Duration: time.Second, Time: at(1)},
		{Status: mailer.StatusSending, Attempt: 2, Time: at(2)},
		{Status: mailer.StatusRetrying, Attempt: 2, Outcome: mailer.OutcomeTemporary, Duration: time.Second, Time: at(3)},
		{Status: mailer.StatusPending, Time: at(3)},
		{Status: mailer.StatusSending, Attempt: 1, Time: at(4)},
		// The first send's context ends in its wait after attempt 2.
		{Status: mailer.StatusFailed, Attempt: 2, Outcome: mailer.OutcomeTemporary, Time: at(5)},
		{Status: mailer.StatusSent, Attempt: 1, Outcome: mailer.OutcomeDelivered, Time: at(6)},
	} {
		m.Hook(ctx, e)
	}
	fams := scrape(t, reg)
	for _, tc := range []struct {
		outcome string
		want    float64
	}{{"delivered", 1}, {"temporary", 2}} {
		if got := value(t, fams, "mailer_attempt_duration_seconds", map[string]string{"client": "raw", "outcome": tc.outcome}); got != tc.want {
			t.Errorf("attempts{%s} = %v, want %v", tc.outcome, got, tc.want)
		}
	}
}
