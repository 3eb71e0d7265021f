package mailer_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// account is one member of a Group under test: its server, Client and
// events.
type account struct {
	srv    *mailertest.Server
	client *mailer.Client
	events *eventLog
}

// newAccount starts a server and a Client that retries fast (so that
// "exactly once" means something) and records its events.
func newAccount(t *testing.T, clientOpts []mailer.Option, srvOpts ...mailertest.Option) *account {
	t.Helper()
	a := &account{srv: mailertest.NewServer(t, srvOpts...), events: &eventLog{}}
	opts := append([]mailer.Option{a.srv.Options(), fastRetry(3), mailer.WithHook(a.events.hook)}, clientOpts...)
	a.client = newClient(t, opts...)
	return a
}

// refusedPort returns a loopback port nothing listens on.
func refusedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// TestFailoverMatrix: each way the first account can fail, and whether the
// second one may deliver.
func TestFailoverMatrix(t *testing.T) {
	fault := func(step mailertest.Step, reply string) []mailertest.Option {
		return []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: step, Reply: reply})}
	}
	cases := []struct {
		name       string
		clientOpts func(t *testing.T) []mailer.Option
		srvOpts    []mailertest.Option
		next       bool           // B delivers
		outcome    mailer.Outcome // when B does not
		firstKeeps int            // messages A's server kept
	}{
		{name: "connect refused", next: true, clientOpts: func(t *testing.T) []mailer.Option {
			return []mailer.Option{mailer.WithServer("127.0.0.1", refusedPort(t))}
		}},
		{name: "TLS failure", next: true, clientOpts: func(t *testing.T) []mailer.Option {
			return []mailer.Option{mailer.WithRootCAs(x509EmptyPool())}
		}},
		{name: "535", next: true, srvOpts: []mailertest.Option{mailertest.WithUser("a", "right")},
			clientOpts: func(t *testing.T) []mailer.Option {
				return []mailer.Option{mailer.WithAuth(mailer.PlainAuth("a", "wrong"))}
			}},
		{name: "421 at greeting", next: true, srvOpts: fault(mailertest.StepGreeting, "421 4.3.2 busy")},
		{name: "451 at MAIL", next: true, srvOpts: fault(mailertest.StepMAIL, "451 4.3.0 try later")},
		{name: "450 at RCPT", next: true, srvOpts: fault(mailertest.StepRCPT, "450 4.2.0 mailbox busy")},
		{name: "5.7.x for our sender at MAIL", next: true, srvOpts: fault(mailertest.StepMAIL, "550 5.7.60 client does not have permission to send as this sender")},
		{name: "550 at RCPT", outcome: mailer.OutcomePermanent, srvOpts: fault(mailertest.StepRCPT, "550 5.1.1 no such user")},
		{name: "drop after the dot", outcome: mailer.OutcomeUnknown, firstKeeps: 1,
			srvOpts: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Drop: true})}},
		{name: "250 then garbage", firstKeeps: 1,
			srvOpts: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, After: []byte("\x00garbage\r\n")})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []mailer.Option
			if c.clientOpts != nil {
				opts = c.clientOpts(t)
			}
			a := newAccount(t, opts, c.srvOpts...)
			b := newAccount(t, nil)
			var logs bytes.Buffer
			g, err := mailer.NewGroup(mailer.GroupConfig{
				Members: []mailer.Sender{mailer.Named("A", a.client), mailer.Named("B", b.client)},
				Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
			})
			require.NoError(t, err)
			rcpt, err := g.Send(bg, testMessage(t))
			require.NoError(t, a.client.Close())
			require.NoError(t, b.client.Close())

			assert.Len(t, a.srv.Messages(), c.firstKeeps, "messages kept by A")
			switch {
			case c.next:
				require.NoError(t, err)
				assert.Equal(t, "B", rcpt.Account)
				assert.Len(t, b.srv.Messages(), 1, "B delivers exactly once")
				assert.Equal(t, "B", b.events.last().Account)
				assert.Equal(t, mailer.StatusSent, b.events.last().Status)
				assert.Contains(t, logs.String(), "account=A next=B")
			case c.firstKeeps == 1 && c.outcome == 0:
				require.NoError(t, err)
				assert.Equal(t, "A", rcpt.Account)
				assert.Empty(t, b.srv.Messages())
				assert.Empty(t, b.events.all(), "B was not tried")
			default:
				require.Error(t, err)
				assert.Equal(t, c.outcome, mailer.Classify(err))
				assert.Empty(t, b.srv.Messages())
				assert.Empty(t, b.events.all(), "B was not tried")
				assert.Equal(t, "A", a.events.last().Account)
				assert.Equal(t, mailer.StatusFailed, a.events.last().Status)
				if c.outcome == mailer.OutcomeUnknown {
					assert.Equal(t, 1, sendErr(t, err).Attempts, "one UNKNOWN attempt, not retried")
				}
			}
		})
	}
}

// TestFailoverAccountRefusedLogsLoudly: a 535 is logged at level Error,
// naming the account, never the password.
func TestFailoverAccountRefusedLogsLoudly(t *testing.T) {
	a := newAccount(t, []mailer.Option{mailer.WithAuth(mailer.PlainAuth("a", "wrong-secret"))}, mailertest.WithUser("a", "right"))
	b := newAccount(t, nil)
	var logs bytes.Buffer
	g, err := mailer.NewGroup(mailer.GroupConfig{
		Members: []mailer.Sender{mailer.Named("primary", a.client), mailer.Named("backup", b.client)},
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	_, err = g.Send(bg, testMessage(t))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "account=primary")
	assert.Contains(t, logs.String(), "535")
	assert.NotContains(t, logs.String(), "wrong-secret")
}

// x509EmptyPool trusts no certificate.
func x509EmptyPool() *x509.CertPool { return x509.NewCertPool() }

// TestRoundRobinSpreads: 300 messages over 3 accounts, each within ±10%
// of a third.
func TestRoundRobinSpreads(t *testing.T) {
	accts := []*account{newAccount(t, nil), newAccount(t, nil), newAccount(t, nil)}
	g := mailer.RoundRobin(accts[0].client, accts[1].client, accts[2].client)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 75 {
				if _, err := g.Send(bg, testMessage(t)); err != nil {
					failed.Add(1)
				}
			}
			_ = w
		}()
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
	for i, a := range accts {
		n := len(a.srv.Messages())
		assert.InDelta(t, 100, n, 10, "account %d got %d", i, n)
	}
}

// TestRoundRobinRestsAndProbes: one account goes down; after three
// failures it rests and its share goes to the others; when its rest is
// over and it is back up, one send probes it and it takes its share again.
func TestRoundRobinRestsAndProbes(t *testing.T) {
	var down atomic.Bool
	bOpts := mailertest.WithFaultFunc(func(step mailertest.Step, n int) *mailertest.Fault {
		if step == mailertest.StepGreeting && down.Load() {
			return &mailertest.Fault{Reply: "421 4.3.2 down for maintenance"}
		}
		return nil
	})
	a, b, c := newAccount(t, nil), newAccount(t, nil, bOpts), newAccount(t, nil)
	g, err := mailer.NewGroup(mailer.GroupConfig{
		Mode:    mailer.ModeRoundRobin,
		Members: []mailer.Sender{mailer.Named("A", a.client), mailer.Named("B", b.client), mailer.Named("C", c.client)},
		Breaker: mailer.Breaker{Failures: 3, Rest: time.Minute},
	})
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	mailer.SetGroupClock(g, func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now })
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	send := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			rcpt, err := g.Send(bg, testMessage(t))
			require.NoError(t, err)
			got[rcpt.Account]++
		}
		return got
	}

	assert.Equal(t, map[string]int{"A": 10, "B": 10, "C": 10}, send(30))

	down.Store(true)
	b.srv.CloseConnections()
	got := send(60)
	assert.Zero(t, got["B"], "B is down: every message went elsewhere")
	assert.Equal(t, 60, got["A"]+got["C"])
	assert.InDelta(t, 30, got["A"], 3, "B's share is split between A and C: %v", got)
	st := g.Accounts()[1]
	assert.Equal(t, "B", st.Name)
	assert.Equal(t, 3, st.Failures, "B failed three times, then rested")
	assert.False(t, st.RestingUntil.IsZero())
	assert.Len(t, b.srv.Messages(), 10)

	// Still resting: B is not even tried.
	greetingsBefore := len(b.srv.Transcript())
	send(10)
	assert.Equal(t, greetingsBefore, len(b.srv.Transcript()), "a resting account is skipped")

	// The rest is over but B is still down: one send probes it, fails
	// over to another account, and B rests again.
	advance(time.Minute + time.Second)
	got = send(10)
	assert.Zero(t, got["B"])
	assert.Equal(t, 10, got["A"]+got["C"])
	assert.Equal(t, 4, g.Accounts()[1].Failures, "one probe")
	assert.True(t, g.Accounts()[1].RestingUntil.After(now), "resting again")

	// B is back, and its rest is over: one send probes it, then it takes
	// its share again.
	down.Store(false)
	advance(time.Minute + time.Second)
	got = send(30)
	assert.InDelta(t, 10, got["B"], 1, "B is back in the rotation: %v", got)
	assert.Zero(t, g.Accounts()[1].Failures)
	assert.True(t, g.Accounts()[1].RestingUntil.IsZero())
}

// TestFailoverLocalRateLimit: the first account's rate limit would make
// the message wait past the caller's deadline; nothing was sent, so the
// second account takes it.
func TestFailoverLocalRateLimit(t *testing.T) {
	a := newAccount(t, []mailer.Option{mailer.WithRateLimit(1, time.Hour)})
	b := newAccount(t, nil)
	g := mailer.Failover(mailer.Named("A", a.client), mailer.Named("B", b.client))
	rcpt, err := g.Send(bg, testMessage(t)) // A's one message this hour
	require.NoError(t, err)
	assert.Equal(t, "A", rcpt.Account)

	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	rcpt, err = g.Send(ctx, testMessage(t))
	require.NoError(t, err)
	assert.Equal(t, "B", rcpt.Account)
	assert.Len(t, a.srv.Messages(), 1)
	assert.Len(t, b.srv.Messages(), 1)
}
