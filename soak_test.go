package mailer_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestSoak sends 10,000 messages through a server that injects random
// faults and checks that nothing is lost: every Send ends in exactly one
// terminal state, and a message arrives more than once only when an
// attempt's outcome was unknown, always with the same Message-ID.
func TestSoak(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("soak test (10,000 messages): set MAILER_TEST_LONG=1 to run it, as .ci/run does")
	}
	const (
		messages = 10_000
		workers  = 32
	)
	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(20261125, 1)) // fixed seed: the same faults every run
	chance := func(p float64) bool {
		rngMu.Lock()
		defer rngMu.Unlock()
		return rng.Float64() < p
	}
	var injected sync.Map // kind → *int64 counter
	note := func(kind string) {
		v, _ := injected.LoadOrStore(kind, new(int64))
		rngMu.Lock()
		*(v.(*int64))++
		rngMu.Unlock()
	}
	garbage := []byte("\x00\x00\x00\x1a\x00\x00\x00")
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone),
		mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
			switch step {
			case mailertest.StepMAIL:
				if chance(0.05) {
					note("4xx")
					return &mailertest.Fault{Reply: "451 4.3.0 Temporary failure, try again"}
				}
			case mailertest.StepDATA:
				if chance(0.01) {
					note("drop before dot")
					return &mailertest.Fault{Drop: true}
				}
			case mailertest.StepDataEnd:
				switch r := rngFloat(&rngMu, rng); {
				case r < 0.005:
					note("drop after dot")
					return &mailertest.Fault{Drop: true}
				case r < 0.010:
					note("slow final reply")
					return &mailertest.Fault{Delay: 300 * time.Millisecond}
				case r < 0.015:
					note("garbage after delivery")
					return &mailertest.Fault{After: garbage}
				}
			}
			return nil
		}))

	var evMu sync.Mutex
	terminal := map[string]int{}
	sentEvents, failedEvents := 0, 0
	c := newClient(t, mailer.WithServer(srv.Host(), srv.Port()), mailer.WithTLS(mailer.TLSNone),
		fastRetry(4), mailer.WithTimeouts(mailer.Timeouts{DataEnd: 100 * time.Millisecond}),
		mailer.WithHook(func(_ context.Context, e mailer.Event) {
			if !e.Status.Terminal() {
				return
			}
			evMu.Lock()
			defer evMu.Unlock()
			terminal[e.MessageID]++
			if e.Status == mailer.StatusSent {
				sentEvents++
			} else {
				failedEvents++
			}
		}))

	type result struct {
		id      string
		rcpt    mailer.Receipt
		err     error
		outcome mailer.Outcome
	}
	results := make([]result, messages)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				m, err := mailer.NewMessage().From("soak@example.com").To("rcpt@example.com").
					Subject("soak").Text("message body").Build()
				if !assert.NoError(t, err) {
					continue
				}
				rcpt, err := c.Send(bg, m)
				results[i] = result{id: m.MessageID(), rcpt: rcpt, err: err, outcome: mailer.Classify(err)}
			}
		}()
	}
	start := time.Now()
	for i := range messages {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	require.NoError(t, c.Close()) // delivers the queued events
	elapsed := time.Since(start)

	stored := map[string]int{}
	for _, m := range srv.Messages() {
		stored[m.Header.Get("Message-Id")]++
	}
	var sent, failed, maybeDup, duplicates, retried int
	failedBy := map[mailer.Outcome]int{}
	for _, r := range results {
		require.NotEmpty(t, r.id, "every Send returned")
		assert.Equal(t, 1, terminal[r.id], "exactly one terminal event for %s", r.id)
		copies := stored["<"+r.id+">"]
		if r.err == nil {
			sent++
			assert.GreaterOrEqual(t, copies, 1, "a sent message is on the server")
			if r.rcpt.Attempts > 1 {
				retried++
			}
		} else {
			failed++
			failedBy[r.outcome]++
			var se *mailer.SendError
			assert.True(t, errors.As(r.err, &se))
		}
		if r.rcpt.MaybeDuplicate {
			maybeDup++
		}
		if copies > 1 {
			duplicates++
			unknownSeen := r.rcpt.MaybeDuplicate || r.outcome == mailer.OutcomeUnknown
			assert.True(t, unknownSeen, "a duplicate without an unknown outcome: %s", r.id)
		}
	}
	assert.Equal(t, messages, sent+failed)
	assert.Equal(t, messages, sentEvents+failedEvents)
	assert.Len(t, terminal, messages)
	assert.Equal(t, sent, sentEvents)

	var kinds []any
	injected.Range(func(k, v any) bool {
		kinds = append(kinds, k, *(v.(*int64)))
		return true
	})
	t.Logf("soak: %d messages in %v (%.0f msgs/s); sent %d (%d after a retry), failed %d %v; "+
		"maybe-duplicate receipts %d, messages stored more than once %d; server kept %d; faults injected %v",
		messages, elapsed.Round(time.Millisecond), float64(messages)/elapsed.Seconds(), sent, retried, failed, failedBy,
		maybeDup, duplicates, len(srv.Messages()), kinds)
}

func rngFloat(mu *sync.Mutex, rng *rand.Rand) float64 {
	mu.Lock()
	defer mu.Unlock()
	return rng.Float64()
}
