package mailer_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// countingConn counts the writes a client makes.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestPipelining: with PIPELINING the Client writes MAIL, RCPT and DATA at
// once and the message after 354, two writes per message; without it, one
// write per command.
func TestPipelining(t *testing.T) {
	for _, tc := range []struct {
		pipelining bool
		writes     int
	}{{true, 2}, {false, 5}} {
		t.Run(fmt.Sprintf("pipelining=%v", tc.pipelining), func(t *testing.T) {
			opts := []mailertest.Option{mailertest.WithTLS(mailertest.TLSNone)}
			if !tc.pipelining {
				opts = append(opts, mailertest.WithoutPipelining())
			}
			srv := mailertest.NewServer(t, opts...)
			var writes atomic.Int64
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: c, writes: &writes}, nil
			}
			c := newClient(t, mailer.WithServer(srv.Host(), srv.Port()), mailer.WithTLS(mailer.TLSNone),
				mailer.WithDialContext(dial), mailer.WithPool(1))
			m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").Cc("carol@example.com").
				Subject("s").Text("t").Build()
			require.NoError(t, err)
			_, err = c.Send(bg, m) // connects: EHLO
			require.NoError(t, err)
			before := writes.Load()
			for range 10 {
				_, err := c.Send(bg, m)
				require.NoError(t, err)
			}
			assert.Equal(t, int64(10*tc.writes), writes.Load()-before, "writes for 10 messages")
			assert.Equal(t, 1, srv.Connections())
			assert.Len(t, srv.Messages(), 11)
			for _, got := range srv.Messages() {
				assert.Equal(t, []string{"bob@example.com", "carol@example.com"}, got.To)
			}
		})
	}
}

// TestPipelinedRecipientReplies: with pipelining, each recipient's reply
// still reaches the retry logic: refused ones are reported with their own
// code, 452 splits the transaction, and a refused MAIL leaves the
// connection usable.
func TestPipelinedRecipientReplies(t *testing.T) {
	three := func(t *testing.T) *mailer.Message {
		m, err := mailer.NewMessage().From("alice@example.com").
			To("bob@example.com", "carol@example.com").Cc("dave@example.com").Subject("s").Text("t").Build()
		require.NoError(t, err)
		return m
	}
	t.Run("550 and 452", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Reply: "550 5.1.1 No such user"},
			mailertest.Fault{Step: mailertest.StepRCPT, On: 3, Reply: "452 4.5.3 Too many recipients"}))
		c := newClient(t, serverOnly(srv), fastRetry(3))
		rcpt, err := c.Send(bg, three(t))
		se := sendErr(t, err)
		assert.Equal(t, []string{"carol@example.com"}, se.Recipients)
		assert.Equal(t, 550, se.Code)
		assert.Equal(t, []string{"bob@example.com", "dave@example.com"}, rcpt.Recipients)
		assert.Equal(t, 1, rcpt.Attempts, "the 452 recipient went in a second transaction of the same attempt")
		msgs := srv.Messages()
		require.Len(t, msgs, 2)
		assert.Equal(t, []string{"bob@example.com"}, msgs[0].To)
		assert.Equal(t, []string{"dave@example.com"}, msgs[1].To)
		assert.Equal(t, 1, srv.Connections())
	})
	t.Run("all refused", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepRCPT, Reply: "550 5.1.1 No such user"}))
		c := newClient(t, serverOnly(srv), mailer.WithPool(1))
		_, err := c.Send(bg, three(t))
		se := sendErr(t, err)
		assert.Len(t, se.Recipients, 3)
		assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
		assert.Empty(t, srv.Messages())
		assert.Equal(t, 1, count(srv, "DATA"), "DATA went with the RCPTs and was refused")
		assert.Equal(t, 1, count(srv, "RSET"))
	})
	t.Run("MAIL refused", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepMAIL, On: 1, Reply: "553 5.7.1 Sender address rejected"}))
		c := newClient(t, serverOnly(srv), mailer.WithPool(1))
		_, err := c.Send(bg, three(t))
		se := sendErr(t, err)
		assert.Equal(t, mailer.StageMail, se.Stage)
		assert.Equal(t, 553, se.Code)
		rcpt, err := c.Send(bg, three(t))
		require.NoError(t, err)
		assert.Len(t, rcpt.Recipients, 3)
		assert.Equal(t, 1, srv.Connections(), "the replies were read in step: the connection is reused")
	})
	t.Run("refused, then the connection drops", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepRCPT, On: 1, Reply: "550 5.1.1 No such user"},
			mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Drop: true}))
		c := newClient(t, serverOnly(srv))
		_, err := c.Send(bg, three(t))
		se := sendErr(t, err)
		require.Len(t, se.Rejections, 2)
		assert.Equal(t, 550, se.Rejections[0].Code, "bob keeps his own reply")
		assert.Equal(t, []string{"bob@example.com"}, se.Rejections[0].Recipients)
		assert.True(t, se.Rejections[1].Temporary(), "the drop is temporary for the others")
	})
	t.Run("421 at RCPT", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Reply: "421 4.7.0 Try again later, closing connection", Close: true}))
		c := newClient(t, serverOnly(srv), fastRetry(3))
		rcpt, err := c.Send(bg, three(t))
		require.NoError(t, err)
		assert.Equal(t, 2, rcpt.Attempts)
		assert.Len(t, srv.Messages(), 1)
		assert.Equal(t, 2, srv.Connections())
	})
}

// TestRecipientLimitLearned: after "452 4.5.3" with k recipients accepted,
// the Client sends at most k recipients per later transaction, so that the
// RCPT commands grow linearly with the recipients (they grew with their
// square: 10,001 recipients cost 505,101 RCPT commands).
func TestRecipientLimitLearned(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		const limit, n = 100, 10_001
		var inTx atomic.Int64 // recipients of the current transaction (one connection)
		srv := mailertest.NewServer(t, mem, mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
			switch step {
			case mailertest.StepMAIL:
				inTx.Store(0)
			case mailertest.StepRCPT:
				if inTx.Add(1) > limit {
					return &mailertest.Fault{Reply: "452 4.5.3 Too many recipients"}
				}
			}
			return nil
		}))
		rcpts := make([]string, n)
		for i := range rcpts {
			rcpts[i] = fmt.Sprintf("r%d@example.com", i)
		}
		m, err := mailer.NewMessage().From("alice@example.com").To("list@example.com").Bcc(rcpts...).Subject("s").Text("t").Build()
		require.NoError(t, err)
		c := newClient(t, serverOnly(srv), mailer.WithPool(1))
		rcpt, err := c.Send(bg, m)
		require.NoError(t, err)
		assert.Len(t, rcpt.Recipients, n+1)
		// The first transaction offers every recipient; the others offer at
		// most the limit each: n + (n+1-limit) commands.
		assert.Equal(t, 2*(n+1)-limit, count(srv, "RCPT"))
		assert.Len(t, srv.Messages(), (n+1+limit-1)/limit)
	})
}
