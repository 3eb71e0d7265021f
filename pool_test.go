package mailer_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// numbered builds message i of a batch, each with its own Message-ID.
func numbered(t testing.TB, i int) *mailer.Message {
	t.Helper()
	m, err := mailer.NewMessage().From("Alice <alice@example.com>").
		To(fmt.Sprintf("user%d@example.com", i)).
		Subject(fmt.Sprintf("Message %d", i)).Text(fmt.Sprintf("Hello user %d.", i)).Build()
	require.NoError(t, err)
	return m
}

func batch(t testing.TB, n int) []*mailer.Message {
	msgs := make([]*mailer.Message, n)
	for i := range msgs {
		msgs[i] = numbered(t, i)
	}
	return msgs
}

// copies counts the messages the server stored, by Message-ID.
func copies(srv *mailertest.Server) map[string]int {
	out := map[string]int{}
	for _, m := range srv.Messages() {
		out[m.Header.Get("Message-Id")]++
	}
	return out
}

// exactlyOnce asserts that the server holds each of msgs exactly once.
func exactlyOnce(t *testing.T, srv *mailertest.Server, msgs []*mailer.Message) {
	t.Helper()
	got := copies(srv)
	assert.Len(t, got, len(msgs))
	for _, m := range msgs {
		if n := got["<"+m.MessageID()+">"]; n != 1 {
			t.Errorf("message %s stored %d times", m.MessageID(), n)
		}
	}
}

// TestPoolManyGoroutines: 200 goroutines × 10 messages (× 50 in the long
// run) share one Client
// with a pool of 4: every message arrives exactly once and the server never
// sees more than 4 connections open at once.
func TestPoolManyGoroutines(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		// 200 goroutines × 10 messages; × 50 (10,000 messages) in the long run.
		const goroutines = 200
		each := 10
		if os.Getenv("MAILER_TEST_LONG") != "" {
			each = 50
		}
		srv := mailertest.NewServer(t, mem, mailertest.WithUser(testUser, testPassword))
		c := newClient(t, srv.Options(), mailer.WithPool(4))
		msgs := make([][]*mailer.Message, goroutines)
		for g := range msgs {
			msgs[g] = make([]*mailer.Message, each)
			for i := range msgs[g] {
				msgs[g][i] = numbered(t, g*each+i)
			}
		}
		var wg sync.WaitGroup
		var failed atomic.Int64
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, m := range msgs[g] {
					rcpt, err := c.Send(bg, m)
					if err != nil || rcpt.Attempts != 1 {
						failed.Add(1)
						t.Errorf("send %s: attempts %d, %v", m.MessageID(), rcpt.Attempts, err)
					}
				}
			}()
		}
		wg.Wait()
		require.Zero(t, failed.Load())
		var all []*mailer.Message
		for _, g := range msgs {
			all = append(all, g...)
		}
		exactlyOnce(t, srv, all)
		assert.LessOrEqual(t, srv.MaxConcurrent(), 4, "never more than the pool's connections")
		// 100 messages per connection by default: about 100 connections.
		assert.LessOrEqual(t, srv.Connections(), goroutines*each/mailer.DefaultMessagesPerConnection+4)
		assert.Equal(t, 0, count(srv, "RSET"), "no RSET without a failed transaction")
		assert.Equal(t, 0, count(srv, "NOOP"), "no NOOP on busy connections")
		t.Logf("%d messages over %d connections, at most %d at once", len(all), srv.Connections(), srv.MaxConcurrent())
	})
}

// TestPoolReusesConnections: one connection carries up to
// MessagesPerConnection messages, then the Client says QUIT and dials again.
func TestPoolReusesConnections(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem)
		c := newClient(t, serverOnly(srv), mailer.WithPool(1), mailer.WithMessagesPerConnection(3))
		for i := range 7 {
			_, err := c.Send(bg, numbered(t, i))
			require.NoError(t, err)
		}
		assert.Equal(t, 3, srv.Connections())
		assert.Equal(t, 2, count(srv, "QUIT"), "QUIT after the 3rd and 6th messages")
		assert.Equal(t, 3, count(srv, "EHLO")/2, "one handshake (EHLO before and after STARTTLS) per connection")
		require.NoError(t, c.Close())
		assert.Equal(t, 3, count(srv, "QUIT"), "Close says QUIT on the pooled connection")
		assert.Eventually(t, func() bool { return srv.Open() == 0 }, time.Second, time.Millisecond)
	})
}

// TestIdleServerCloseRedials: a server that closes idle connections (with
// 421, or silently) costs the next Send nothing but a new connection: one
// attempt, no retry event, no message lost or doubled.
func TestIdleServerCloseRedials(t *testing.T) {
	for _, tc := range []struct {
		name      string
		idleCheck time.Duration
		kill      func(srv *mailertest.Server)
		server    []mailertest.Option
	}{
		// The server's 421 reaches the client before it writes again.
		{name: "421 from the server, no NOOP", idleCheck: time.Hour,
			server: []mailertest.Option{mailertest.WithIdleTimeout(50 * time.Millisecond)}},
		{name: "421 from the server, NOOP first", idleCheck: time.Millisecond,
			server: []mailertest.Option{mailertest.WithIdleTimeout(50 * time.Millisecond)}},
		// The connection simply ends (EOF).
		{name: "server restart, no NOOP", idleCheck: time.Hour,
			kill: func(srv *mailertest.Server) { srv.CloseConnections() }},
		{name: "server restart, NOOP first", idleCheck: time.Millisecond,
			kill: func(srv *mailertest.Server) { srv.CloseConnections() }},
		{name: "server restart, no pipelining", idleCheck: time.Hour,
			kill:   func(srv *mailertest.Server) { srv.CloseConnections() },
			server: []mailertest.Option{mailertest.WithoutPipelining()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inMemory(t, func(t *testing.T) {
				srv := mailertest.NewServer(t, append([]mailertest.Option{mem}, tc.server...)...)
				ev := &eventLog{}
				c := newClient(t, serverOnly(srv), fastRetry(3), mailer.WithPool(2),
					mailer.WithIdleCheck(tc.idleCheck), mailer.WithHook(ev.hook))
				first := batch(t, 4)
				_, err := c.SendAll(bg, first...)
				require.NoError(t, err)
				before := srv.Connections()
				if tc.kill != nil {
					tc.kill(srv)
				}
				require.Eventually(t, func() bool { return srv.Open() == 0 }, 5*time.Second, time.Millisecond,
					"the server closed the idle connections")

				second := batch(t, 4)
				receipts, err := c.SendAll(bg, second...)
				require.NoError(t, err)
				for _, r := range receipts {
					assert.Equal(t, 1, r.Attempts, "a dead pooled connection does not use up an attempt")
					assert.False(t, r.MaybeDuplicate)
				}
				require.NoError(t, c.Close())
				assert.NotContains(t, ev.statuses(), "retrying")
				assert.Greater(t, srv.Connections(), before, "dialled again")
				exactlyOnce(t, srv, append(first, second...))
			})
		})
	}
}

// TestKilledMidBatch: a connection that dies in the middle of a message
// costs that message one retry and nothing else: every other message is
// delivered at the first attempt, each exactly once.
func TestKilledMidBatch(t *testing.T) {
	for _, f := range []mailertest.Fault{
		{Step: mailertest.StepDATA, On: 37, Drop: true},
		{Step: mailertest.StepBody, On: 37, Drop: true},
		{Step: mailertest.StepRCPT, On: 37, Drop: true},
	} {
		t.Run(string(f.Step), func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithFaults(f))
			c := newClient(t, serverOnly(srv), fastRetry(3), mailer.WithPool(4))
			msgs := batch(t, 100)
			receipts, err := c.SendAll(bg, msgs...)
			require.NoError(t, err)
			retried := 0
			for _, r := range receipts {
				if r.Attempts > 1 {
					retried++
					assert.Equal(t, 2, r.Attempts)
				}
				if f.Step != mailertest.StepBody {
					assert.False(t, r.MaybeDuplicate, "the dot was never sent")
				}
				// A reset while the body is written may come after the whole
				// small message and its dot sat in the socket buffer: the
				// client cannot tell that the server never read them, so the
				// outcome is unknown and the retry is marked maybe-duplicate.
			}
			assert.Equal(t, 1, retried, "only the message in flight is retried")
			exactlyOnce(t, srv, msgs)
			assert.LessOrEqual(t, srv.MaxConcurrent(), 4)
		})
	}
}

// TestFailedTransactionDiscardsConnection: after a failure during the
// message the connection is closed, never reused; after a refused
// recipient it is reset (RSET) and reused.
func TestFailedTransactionDiscardsConnection(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "451 4.3.0 Queue file write error"}))
	c := newClient(t, serverOnly(srv), mailer.WithPool(1))
	_, err := c.Send(bg, numbered(t, 1))
	assert.Equal(t, 451, sendErr(t, err).Code)
	_, err = c.Send(bg, numbered(t, 2))
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Connections(), "a new connection after the failed DATA")
	assert.Zero(t, count(srv, "RSET"))

	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			inMemory(t, func(t *testing.T) {
				opts := []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepRCPT, On: 1, Reply: "550 5.1.1 No such user"})}
				if !pipelining {
					opts = append(opts, mailertest.WithoutPipelining())
				}
				srv := mailertest.NewServer(t, append([]mailertest.Option{mem}, opts...)...)
				c := newClient(t, serverOnly(srv), mailer.WithPool(1))
				_, err := c.Send(bg, numbered(t, 1))
				assert.Equal(t, 550, sendErr(t, err).Code)
				_, err = c.Send(bg, numbered(t, 2))
				require.NoError(t, err)
				assert.Equal(t, 1, srv.Connections(), "the connection survives a refused recipient")
				assert.Equal(t, 1, count(srv, "RSET"), "RSET after the failed transaction only")
				assert.Len(t, srv.Messages(), 1)
				assert.Equal(t, pipelining, count(srv, "DATA") == 2, "pipelining sends DATA with the RCPT")
			})
		})
	}

	t.Run("garbage to RSET", func(t *testing.T) {
		inMemory(t, func(t *testing.T) {
			srv := mailertest.NewServer(t, mem, mailertest.WithFaults(
				mailertest.Fault{Step: mailertest.StepRCPT, On: 1, Reply: "550 5.1.1 No such user"},
				mailertest.Fault{Step: mailertest.StepRSET, Raw: []byte("\x00\x00\x00\x1a\x00\x00\x00")}))
			// The garbage has no line end: only the timeout ends RSET.
			c := newClient(t, serverOnly(srv), mailer.WithPool(1), mailer.WithTimeouts(mailer.Timeouts{Command: 200 * time.Millisecond}))
			_, err := c.Send(bg, numbered(t, 1))
			assert.Equal(t, 550, sendErr(t, err).Code)
			rcpt, err := c.Send(bg, numbered(t, 2))
			require.NoError(t, err)
			assert.Equal(t, 1, rcpt.Attempts)
			assert.Equal(t, 2, srv.Connections(), "a connection that answered RSET with garbage is not reused")
		})
	})
}

// TestIdleCheck: NOOP goes only to a connection idle past the threshold.
func TestIdleCheck(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem)
		c := newClient(t, serverOnly(srv), mailer.WithPool(1), mailer.WithIdleCheck(100*time.Millisecond))
		for i := range 5 {
			_, err := c.Send(bg, numbered(t, i))
			require.NoError(t, err)
		}
		assert.Zero(t, count(srv, "NOOP"))
		time.Sleep(150 * time.Millisecond)
		_, err := c.Send(bg, numbered(t, 5))
		require.NoError(t, err)
		assert.Equal(t, 1, count(srv, "NOOP"))
		assert.Equal(t, 1, srv.Connections())
	})
}

// TestIdleTimeout: the Client closes connections idle past the timeout.
func TestIdleTimeout(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem)
		c := newClient(t, serverOnly(srv), mailer.WithPool(2), mailer.WithIdleTimeout(50*time.Millisecond))
		_, err := c.SendAll(bg, batch(t, 4)...)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return srv.Open() == 0 }, 5*time.Second, 5*time.Millisecond)
		assert.Equal(t, srv.Connections(), count(srv, "QUIT"), "closed with QUIT")
		_, err = c.Send(bg, numbered(t, 9))
		require.NoError(t, err)
	})
}

// TestPerMessageDeadlines: each message in a batch over one connection has
// its own deadline for the reply to its final dot (reliability.md 1.8).
func TestPerMessageDeadlines(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Delay: 150 * time.Millisecond}))
		c := newClient(t, serverOnly(srv), mailer.WithPool(1), mailer.WithTimeouts(mailer.Timeouts{DataEnd: 300 * time.Millisecond}))
		msgs := batch(t, 4)
		receipts, err := c.SendAll(bg, msgs...)
		require.NoError(t, err)
		for _, r := range receipts {
			assert.Equal(t, 1, r.Attempts)
		}
		assert.Equal(t, 1, srv.Connections())
		exactlyOnce(t, srv, msgs)
	})
}

// TestContextPerUse: a pooled connection obeys the context of each Send
// that uses it, not the one it was dialled with.
func TestContextPerUse(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		release := make(chan struct{})
		srv := mailertest.NewServer(t, mem, mailertest.WithFaultFunc(func(s mailertest.Step, n int) *mailertest.Fault {
			if s == mailertest.StepDataEnd && n == 2 {
				<-release
			}
			return nil
		}))
		defer close(release)
		c := newClient(t, serverOnly(srv), mailer.WithPool(1))

		ctx1, cancel1 := context.WithCancel(bg)
		_, err := c.Send(ctx1, numbered(t, 1))
		require.NoError(t, err)
		cancel1() // ends the first use's context: the pooled connection is unaffected

		ctx2, cancel2 := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := c.Send(ctx2, numbered(t, 2))
			done <- err
		}()
		require.Eventually(t, func() bool { return srv.Count(mailertest.StepDataEnd) == 2 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, 1, srv.Connections(), "the second Send reused the connection")
		start := time.Now()
		cancel2()
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Send did not return after its context was cancelled")
		}
		assert.Less(t, time.Since(start), 100*time.Millisecond)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, mailer.ErrMaybeDelivered)

		_, err = c.Send(bg, numbered(t, 3))
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Connections(), "the aborted connection was not reused")
	})
}

// TestPoolWaitHonoursContext: a Send waiting for a busy pool gives up when
// its context ends.
func TestPoolWaitHonoursContext(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv, reached := stallAt(t, mailertest.StepDataEnd)
		c := newClient(t, serverOnly(srv), mailer.WithPool(1))
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		go func() { _, _ = c.Send(ctx, numbered(t, 1)) }()
		<-reached
		ctx2, cancel2 := context.WithTimeout(bg, 30*time.Millisecond)
		defer cancel2()
		start := time.Now()
		_, err := c.Send(ctx2, numbered(t, 2))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second)
		assert.Equal(t, 1, srv.Connections(), "no connection beyond the pool")
		cancel()
	})
}

// TestPoolOptions: the options validate; zero values mean the defaults.
func TestPoolOptions(t *testing.T) {
	for name, o := range map[string]mailer.Option{
		"pool":     mailer.WithPool(-1),
		"big pool": mailer.WithPool(1001),
		"per conn": mailer.WithMessagesPerConnection(-1),
		"idle":     mailer.WithIdleCheck(-time.Second),
		"timeout":  mailer.WithIdleTimeout(-time.Second),
		"rate":     mailer.WithRateLimit(-1, time.Second),
		"period":   mailer.WithRateLimit(10, 0),
	} {
		_, err := mailer.New(mailer.WithServer("smtp.example.com", 587), o)
		assert.ErrorIs(t, err, mailer.ErrInvalidConfig, name)
	}
	c, err := mailer.New(mailer.WithServer("smtp.example.com", 587), mailer.WithPool(0),
		mailer.WithMessagesPerConnection(0), mailer.WithIdleCheck(0), mailer.WithIdleTimeout(0), mailer.WithRateLimit(0, 0))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, mailer.PoolSettings{
		Size: mailer.DefaultPoolSize, MessagesPerConnection: mailer.DefaultMessagesPerConnection,
		IdleCheck: mailer.DefaultIdleCheck, IdleTimeout: mailer.DefaultIdleTimeout,
	}, c.PoolSettings())
	c2, err := mailer.New(mailer.WithServer("smtp.example.com", 587), mailer.WithPool(8), mailer.WithRateLimit(30, time.Minute))
	require.NoError(t, err)
	defer c2.Close()
	assert.Equal(t, 8, c2.PoolSettings().Size)
	assert.InDelta(t, 0.5, c2.PoolSettings().RateLimit, 1e-9)
}

// TestQuirkyServersOnPooledConnections: QQ Mail and 163 send garbage after
// a delivered message or instead of a reply to NOOP or RSET. A pooled
// connection that did so is replaced; no message is sent twice, none uses
// up an attempt.
func TestQuirkyServersOnPooledConnections(t *testing.T) {
	garbage := []byte("\x00\x00\x00\x1a\x00\x00\x00")
	for name, tc := range map[string]struct {
		fault     mailertest.Fault
		idleCheck time.Duration
	}{
		"garbage after 250":        {fault: mailertest.Fault{Step: mailertest.StepDataEnd, On: 2, After: garbage}, idleCheck: time.Hour},
		"garbage line after 250":   {fault: mailertest.Fault{Step: mailertest.StepDataEnd, On: 2, After: []byte("250 2.0.0 Ok\r\n")}, idleCheck: time.Hour},
		"garbage to NOOP":          {fault: mailertest.Fault{Step: mailertest.StepNOOP, On: 1, Raw: garbage}, idleCheck: time.Nanosecond},
		"garbage to NOOP, closing": {fault: mailertest.Fault{Step: mailertest.StepNOOP, On: 1, Raw: garbage, Close: true}, idleCheck: time.Nanosecond},
		"502 to NOOP":              {fault: mailertest.Fault{Step: mailertest.StepNOOP, On: 1, Reply: "502 Unimplemented"}, idleCheck: time.Nanosecond},
	} {
		t.Run(name, func(t *testing.T) {
			inMemory(t, func(t *testing.T) {
				srv := mailertest.NewServer(t, mem, mailertest.WithFaults(tc.fault))
				c := newClient(t, serverOnly(srv), mailer.WithPool(1), mailer.WithIdleCheck(tc.idleCheck),
					mailer.WithTimeouts(mailer.Timeouts{Command: 300 * time.Millisecond}))
				msgs := batch(t, 5)
				for _, m := range msgs {
					rcpt, err := c.Send(bg, m)
					require.NoError(t, err)
					assert.Equal(t, 1, rcpt.Attempts)
					time.Sleep(time.Millisecond) // idle, for the NOOP cases
				}
				exactlyOnce(t, srv, msgs)
				assert.Equal(t, 5, count(srv, "."), "one final dot per message: never a message twice")
				assert.Equal(t, 2, srv.Connections(), "the quirky connection was replaced once")
			})
		})
	}
}
