package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/postkit/mailer"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrInvalid is wrapped by the errors of New for a bad argument.
var ErrInvalid = errors.New("metrics: invalid argument")

// DefaultBuckets are the attempt-latency histogram's buckets, in seconds:
// from a few milliseconds (a pipelined transaction on a warm connection)
// to a minute (a slow provider's timeouts).
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics records the events of the Clients it is wired to. It is safe for
// concurrent use; one Metrics may serve several Clients that share a label.
type Metrics struct {
	sent     prometheus.Counter
	maybeDup prometheus.Counter
	// By outcome, indexed by mailer.Outcome; nil for an outcome that
	// cannot happen there, which the Vec then serves.
	failed     [mailer.OutcomePermanent + 1]prometheus.Counter
	retries    [mailer.OutcomePermanent + 1]prometheus.Counter
	attempt    [mailer.OutcomePermanent + 1]prometheus.Observer
	failedVec  *prometheus.CounterVec
	retriesVec *prometheus.CounterVec
	attemptVec prometheus.ObserverVec
	inFlight   prometheus.Gauge
	pool       *poolCollector // shared by the Metrics of one Registerer
	label      string

	mu      sync.Mutex
	started map[attemptKey]starts // StatusSending times of the attempts in progress
}

// attemptKey names an attempt in progress. The attempt number keeps a
// send that gives up during its retry wait from taking the start of
// another send's attempt of the same Message-ID.
type attemptKey struct {
	messageID, account string
	attempt            int
}

// starts holds the StatusSending times of the attempts in progress under
// one key, oldest first: usually one, more when sends of one Message-ID
// overlap (SendRaw of messages without one, one Message sent twice).
type starts struct {
	first time.Time
	more  []time.Time
}

// begin records an attempt that started at t.
func (m *Metrics) begin(key attemptKey, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.started[key]
	if !ok {
		m.started[key] = starts{first: t}
		return
	}
	s.more = append(s.more, t)
	m.started[key] = s
}

// end forgets the oldest attempt in progress under key and returns when
// it started; ok is false if there is none.
func (m *Metrics) end(key attemptKey) (start time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.started[key]
	if !ok {
		return time.Time{}, false
	}
	if len(s.more) == 0 {
		delete(m.started, key)
		return s.first, true
	}
	m.started[key] = starts{first: s.more[0], more: s.more[1:]}
	return s.first, true
}

// An Option configures New.
type Option func(*options) error

type options struct {
	label   string
	buckets []float64
}

// Label sets the value of the client label, naming the provider or client
// these metrics describe ("qq", "ses", "transactional"). It comes from your
// configuration, never from a message: it must be 1 to 64 ASCII letters,
// digits, '_', '-' or '.', so an address or a user name cannot slip in.
// The default is "default".
func Label(value string) Option {
	return func(o *options) error {
		if err := checkLabel(value); err != nil {
			return err
		}
		o.label = value
		return nil
	}
}

// Buckets sets the attempt-latency histogram's buckets, in seconds,
// increasing. The default is DefaultBuckets. The Metrics registered on one
// Registerer share one histogram: the first New's buckets apply to all.
func Buckets(b ...float64) Option {
	return func(o *options) error {
		if len(b) == 0 {
			return fmt.Errorf("%w: Buckets: none given", ErrInvalid)
		}
		for i := 1; i < len(b); i++ {
			if b[i] <= b[i-1] {
				return fmt.Errorf("%w: Buckets: not increasing at %v", ErrInvalid, b[i])
			}
		}
		o.buckets = append([]float64(nil), b...)
		return nil
	}
}

func checkLabel(v string) error {
	if v == "" || len(v) > 64 {
		return fmt.Errorf("%w: Label %q: must be 1 to 64 characters", ErrInvalid, v)
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
		if !ok {
			return fmt.Errorf("%w: Label %q: only ASCII letters, digits, '_', '-' and '.' (no address or user name)", ErrInvalid, v)
		}
	}
	return nil
}

// New registers the collectors on reg, or reuses those that an earlier New
// registered there, and returns a Metrics whose series carry the client
// label set by Label. Wire it to a Client with m.Option(), or to any hook
// chain with mailer.WithHook(m.Hook). New returns an error wrapping
// ErrInvalid for a bad option, or reg's error if another collector
// already uses one of the names differently.
func New(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil Registerer", ErrInvalid)
	}
	o := options{label: "default", buckets: DefaultBuckets}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	sent, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailer_messages_sent_total",
		Help: "Messages delivered to at least one recipient.",
	}, []string{"client"}))
	if err != nil {
		return nil, err
	}
	failed, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailer_messages_failed_total",
		Help: "Messages given up, by the outcome class of the last failure.",
	}, []string{"client", "outcome"}))
	if err != nil {
		return nil, err
	}
	retries, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailer_retries_total",
		Help: "Attempts that failed and were retried, by outcome class.",
	}, []string{"client", "outcome"}))
	if err != nil {
		return nil, err
	}
	attempt, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mailer_attempt_duration_seconds",
		Help:    "Time of each delivery attempt, by outcome class.",
		Buckets: o.buckets,
	}, []string{"client", "outcome"}))
	if err != nil {
		return nil, err
	}
	maybeDup, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailer_maybe_duplicates_total",
		Help: "Messages that may arrive more than once: an attempt with an unknown outcome was retried.",
	}, []string{"client"}))
	if err != nil {
		return nil, err
	}
	inFlight, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mailer_sends_in_flight",
		Help: "Sends started and not yet finished.",
	}, []string{"client"}))
	if err != nil {
		return nil, err
	}
	pool, err := register(reg, newPoolCollector())
	if err != nil {
		return nil, err
	}
	l := prometheus.Labels{"client": o.label}
	m := &Metrics{
		pool:       pool,
		label:      o.label,
		sent:       sent.With(l),
		maybeDup:   maybeDup.With(l),
		inFlight:   inFlight.With(l),
		failedVec:  failed.MustCurryWith(l),
		retriesVec: retries.MustCurryWith(l),
		attemptVec: attempt.MustCurryWith(l),
		started:    map[attemptKey]starts{},
	}
	// The series of the four outcomes are looked up once, here, and exist
	// from the start at 0, so that rate() sees the first failure. Failed and
	// retried attempts are never "delivered".
	for o := mailer.OutcomeDelivered; o <= mailer.OutcomePermanent; o++ {
		m.attempt[o] = m.attemptVec.WithLabelValues(o.String())
		if o != mailer.OutcomeDelivered {
			m.failed[o] = m.failedVec.WithLabelValues(o.String())
			m.retries[o] = m.retriesVec.WithLabelValues(o.String())
		}
	}
	return m, nil
}

// register registers c on reg, or returns the collector of the same
// description already there.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, fmt.Errorf("metrics: registering: %w", err)
	}
	return c, nil
}

// Option returns the mailer option that wires m to a Client:
// mailer.WithHook(m.Hook).
func (m *Metrics) Option() mailer.Option { return mailer.WithHook(m.Hook) }

// Hook records one event. It is a [mailer.Hook]: it takes about 0.2 µs per
// event (BenchmarkHook, three events a Send) and waits for nothing but a
// short mutex.
func (m *Metrics) Hook(_ context.Context, e mailer.Event) {
	key := attemptKey{e.MessageID, e.Account, e.Attempt}
	switch e.Status {
	case mailer.StatusPending:
		m.inFlight.Inc()
	case mailer.StatusSending:
		m.begin(key, e.Time)
	case mailer.StatusRetrying:
		m.end(key)
		counter(m.retries, m.retriesVec, e.Outcome).Inc()
		m.observer(e.Outcome).Observe(e.Duration.Seconds())
	case mailer.StatusSent, mailer.StatusFailed:
		m.inFlight.Dec()
		if start, ok := m.end(key); ok { // the last attempt ended with this event
			m.observer(e.Outcome).Observe(e.Time.Sub(start).Seconds())
		}
		if e.MaybeDuplicate {
			m.maybeDup.Inc()
		}
		if e.Status == mailer.StatusSent {
			m.sent.Inc()
		} else {
			counter(m.failed, m.failedVec, e.Outcome).Inc()
		}
	}
}

// counter returns cache[o], or vec's series for o when there is none.
func counter(cache [mailer.OutcomePermanent + 1]prometheus.Counter, vec *prometheus.CounterVec, o mailer.Outcome) prometheus.Counter {
	if o < mailer.OutcomeDelivered || o > mailer.OutcomePermanent {
		return vec.WithLabelValues("other")
	}
	if c := cache[o]; c != nil {
		return c
	}
	return vec.WithLabelValues(o.String())
}

// observer returns the attempt histogram's series for o.
func (m *Metrics) observer(o mailer.Outcome) prometheus.Observer {
	if o < mailer.OutcomeDelivered || o > mailer.OutcomePermanent {
		return m.attemptVec.WithLabelValues("other")
	}
	return m.attempt[o]
}
