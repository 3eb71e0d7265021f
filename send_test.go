package mailer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// stallAt returns a server that stalls forever at step and a channel that
// is closed when it starts stalling. The server is on the in-memory
// network: call stallAt inside a synctest bubble (inMemory).
func stallAt(t *testing.T, step mailertest.Step) (*mailertest.Server, <-chan struct{}) {
	reached := make(chan struct{})
	var once sync.Once
	srv := mailertest.NewServer(t, mem, mailertest.WithFaultFunc(func(s mailertest.Step, n int) *mailertest.Fault {
		if s != step {
			return nil
		}
		once.Do(func() { close(reached) })
		return &mailertest.Fault{Delay: time.Hour}
	}))
	return srv, reached
}

// TestCancelDuringData: cancelling the context while the server stalls in
// DATA ends Send within 100 ms with context.Canceled in the chain.
func TestCancelDuringData(t *testing.T) {
	for _, step := range []mailertest.Step{mailertest.StepDATA, mailertest.StepDataEnd, mailertest.StepGreeting, mailertest.StepRCPT} {
		t.Run(string(step), func(t *testing.T) {
			inMemory(t, func(t *testing.T) {
				srv, reached := stallAt(t, step)
				c := newClient(t, serverOnly(srv))
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				type result struct {
					err     error
					elapsed time.Duration
				}
				done := make(chan result, 1)
				go func() {
					_, err := c.Send(ctx, testMessage(t))
					done <- result{err: err}
				}()
				<-reached
				start := time.Now()
				cancel()
				var res result
				select {
				case res = <-done:
					res.elapsed = time.Since(start)
				case <-time.After(5 * time.Second):
					t.Fatal("Send did not return after cancel")
				}
				assert.Less(t, res.elapsed, 100*time.Millisecond)
				assert.ErrorIs(t, res.err, context.Canceled)
				if step == mailertest.StepDataEnd {
					// Cancelled while waiting for the reply to the final dot:
					// the server may have the message.
					assert.ErrorIs(t, res.err, mailer.ErrMaybeDelivered)
					assert.Equal(t, mailer.OutcomeUnknown, mailer.Classify(res.err))
				} else {
					assert.NotErrorIs(t, res.err, mailer.ErrMaybeDelivered)
				}
			})
		})
	}
}

// TestDeadlineBoundsTransaction: a context deadline also bounds a stalled
// transaction, and a cancelled context fails before dialing.
func TestDeadlineBoundsTransaction(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv, _ := stallAt(t, mailertest.StepMAIL)
		c := newClient(t, serverOnly(srv))
		ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
		defer cancel()
		_, err := c.Send(ctx, testMessage(t))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, mailer.StageMail, sendErr(t, err).Stage)

		done, cancel2 := context.WithCancel(bg)
		cancel2()
		before := srv.Connections()
		_, err = c.Send(done, testMessage(t))
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, before, srv.Connections(), "no connection after the context ended")
	})
}

// TestCommandTimeout: a silent server trips the command timeout; the error
// is a temporary timeout.
func TestCommandTimeout(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv, _ := stallAt(t, mailertest.StepEHLO)
		c := newClient(t, serverOnly(srv), mailer.WithTimeouts(mailer.Timeouts{Command: 30 * time.Millisecond}))
		_, err := c.Send(bg, testMessage(t))
		se := sendErr(t, err)
		assert.True(t, se.Timeout(), "%v", err)
		assert.True(t, se.Temporary())
		assert.Equal(t, mailer.StageDial, se.Stage)
	})
}

// TestDataEndTimeoutIsUnknown: no reply to the final dot within DataEnd
// leaves the outcome unknown.
func TestDataEndTimeoutIsUnknown(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv, _ := stallAt(t, mailertest.StepDataEnd)
		c := newClient(t, serverOnly(srv), mailer.WithTimeouts(mailer.Timeouts{DataEnd: 30 * time.Millisecond}))
		_, err := c.Send(bg, testMessage(t))
		se := sendErr(t, err)
		assert.Equal(t, mailer.StageDataEnd, se.Stage)
		assert.ErrorIs(t, err, mailer.ErrMaybeDelivered)
		assert.Equal(t, mailer.OutcomeUnknown, mailer.Classify(err))
		assert.False(t, se.Temporary())
		assert.Len(t, srv.Messages(), 1, "the server did commit the message")
	})
}

// TestGarbageAfterDelivery: QQ and 163 answer QUIT (and RSET) with garbage
// after accepting the message; the message is reported delivered.
func TestGarbageAfterDelivery(t *testing.T) {
	garbage := []byte("\x00\x00\x00\x1a\x00\x00\x00")
	for name, f := range map[string]mailertest.Fault{
		"garbage instead of 221": {Step: mailertest.StepQUIT, Raw: garbage},
		"garbage after 250":      {Step: mailertest.StepDataEnd, After: garbage},
		"drop at QUIT":           {Step: mailertest.StepQUIT, Drop: true},
		"502 to QUIT":            {Step: mailertest.StepQUIT, Reply: "502 Unimplemented (#5.5.1)"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithFaults(f))
			c := newClient(t, serverOnly(srv))
			rcpt, err := c.Send(bg, testMessage(t))
			require.NoError(t, err)
			assert.Equal(t, []string{"bob@example.com"}, rcpt.Recipients)
			assert.Len(t, srv.Messages(), 1)
			assert.Equal(t, 1, srv.Count(mailertest.StepDataEnd), "exactly one DATA")
		})
	}
}

// TestRecipientsRefused: refused recipients are reported with their own
// codes; the message still goes to the others.
func TestRecipientsRefused(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Reply: "550 5.1.1 <carol@example.com>: no such user"},
		mailertest.Fault{Step: mailertest.StepRCPT, On: 3, Reply: "450 4.2.1 mailbox busy"},
	))
	c := newClient(t, serverOnly(srv))
	m, err := mailer.NewMessage().From("alice@example.com").
		To("bob@example.com", "carol@example.com").Cc("dave@example.com").Subject("s").Text("t").Build()
	require.NoError(t, err)

	rcpt, err := c.Send(bg, m)
	assert.Equal(t, []string{"bob@example.com"}, rcpt.Recipients)
	assert.Equal(t, m.MessageID(), rcpt.MessageID)
	se := sendErr(t, err)
	assert.Equal(t, mailer.StageRcpt, se.Stage)
	assert.Equal(t, []string{"carol@example.com", "dave@example.com"}, se.Recipients)
	require.Len(t, se.Rejections, 2)
	assert.Equal(t, 550, se.Rejections[0].Code)
	assert.False(t, se.Rejections[0].Temporary())
	assert.Equal(t, 450, se.Rejections[1].Code)
	assert.True(t, se.Rejections[1].Temporary())
	assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(err), "one recipient can still succeed")
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"bob@example.com"}, msgs[0].To)

	// All refused: nothing sent, no DATA.
	srv2 := mailertest.NewServer(t, mailertest.WithoutPipelining(), mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepRCPT, Reply: "550 5.1.1 no such user"}))
	_, err = newClient(t, serverOnly(srv2)).Send(bg, m)
	se = sendErr(t, err)
	assert.Equal(t, mailer.StageRcpt, se.Stage)
	assert.Len(t, se.Recipients, 3)
	assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
	assert.False(t, hasCommand(srv2, "DATA"))
}

// TestBccOnlyInEnvelope: Bcc recipients get the message but appear in no
// header.
func TestBccOnlyInEnvelope(t *testing.T) {
	srv := mailertest.NewServer(t)
	m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").
		Bcc("secret-boss@example.com").Subject("s").Text("t").Build()
	require.NoError(t, err)
	_, err = newClient(t, serverOnly(srv)).Send(bg, m)
	require.NoError(t, err)
	got := srv.Messages()[0]
	assert.ElementsMatch(t, []string{"bob@example.com", "secret-boss@example.com"}, got.To)
	assert.NotContains(t, string(got.Data), "secret-boss")
	assert.Empty(t, got.Header.Get("Bcc"))
}

// TestServerReplies: errors carry the reply's code, enhanced code and
// sanitised text at the right stage.
func TestServerReplies(t *testing.T) {
	for _, tc := range []struct {
		fault     mailertest.Fault
		stage     mailer.Stage
		code      int
		enh       mailer.EnhancedCode
		text      string
		temporary bool
	}{
		{mailertest.Fault{Step: mailertest.StepGreeting, Reply: "554 5.7.1 No service for you", Close: true}, mailer.StageDial, 554, mailer.EnhancedCode{5, 7, 1}, "No service for you", false},
		{mailertest.Fault{Step: mailertest.StepGreeting, Reply: "421 4.3.2 Try later", Close: true}, mailer.StageDial, 421, mailer.EnhancedCode{4, 3, 2}, "Try later", true},
		{mailertest.Fault{Step: mailertest.StepEHLO, Reply: "421 4.7.0 Too many connections", Close: true}, mailer.StageDial, 421, mailer.EnhancedCode{4, 7, 0}, "Too many connections", true},
		{mailertest.Fault{Step: mailertest.StepMAIL, Reply: "553 5.7.1 Sender address rejected: not owned by user"}, mailer.StageMail, 553, mailer.EnhancedCode{5, 7, 1}, "Sender address rejected: not owned by user", false},
		{mailertest.Fault{Step: mailertest.StepDATA, Reply: "451 4.3.0 Queue full"}, mailer.StageData, 451, mailer.EnhancedCode{4, 3, 0}, "Queue full", true},
		{mailertest.Fault{Step: mailertest.StepDataEnd, Reply: "554 DT:SPM 163 smtp10,DsCowAD3"}, mailer.StageDataEnd, 554, mailer.EnhancedCode{}, "DT:SPM 163 smtp10,DsCowAD3", false},
		{mailertest.Fault{Step: mailertest.StepDataEnd, Reply: "451 4.3.0 Error: queue file write error"}, mailer.StageDataEnd, 451, mailer.EnhancedCode{4, 3, 0}, "Error: queue file write error", true},
		{mailertest.Fault{Step: mailertest.StepMAIL, Reply: "550 \x1b[31mbad\x00 \xc7\xeb\xca\xb9\xd3\xc3\xca\xda\xc8\xa8\xc2\xeb"}, mailer.StageMail, 550, mailer.EnhancedCode{}, "[31mbad 请使用授权码", false},
	} {
		t.Run(tc.fault.Reply, func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithFaults(tc.fault))
			_, err := newClient(t, serverOnly(srv)).Send(bg, testMessage(t))
			se := sendErr(t, err)
			assert.Equal(t, tc.stage, se.Stage)
			assert.Equal(t, tc.code, se.Code)
			assert.Equal(t, tc.enh, se.EnhancedCode)
			assert.Equal(t, tc.text, se.Message)
			assert.Equal(t, tc.temporary, se.Temporary())
			assert.Equal(t, 1, se.Attempts)
			assert.NotEmpty(t, se.MessageID)
			assert.NotContains(t, err.Error(), "\x00")
			assert.NotContains(t, err.Error(), "\x1b")
			if tc.stage != mailer.StageDataEnd {
				assert.Empty(t, srv.Messages())
			}
		})
	}
}

// TestDroppedConnections: a connection lost before the final dot is
// temporary; lost after it, unknown.
func TestDroppedConnections(t *testing.T) {
	for _, tc := range []struct {
		step    mailertest.Step
		stage   mailer.Stage
		outcome mailer.Outcome
	}{
		{mailertest.StepGreeting, mailer.StageDial, mailer.OutcomeTemporary},
		{mailertest.StepEHLO, mailer.StageDial, mailer.OutcomeTemporary},
		{mailertest.StepMAIL, mailer.StageMail, mailer.OutcomeTemporary},
		{mailertest.StepRCPT, mailer.StageRcpt, mailer.OutcomeTemporary},
		{mailertest.StepDATA, mailer.StageData, mailer.OutcomeTemporary},
		{mailertest.StepDataEnd, mailer.StageDataEnd, mailer.OutcomeUnknown},
	} {
		t.Run(string(tc.step), func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: tc.step, Drop: true}))
			_, err := newClient(t, serverOnly(srv)).Send(bg, testMessage(t))
			se := sendErr(t, err)
			assert.Equal(t, tc.stage, se.Stage)
			assert.Zero(t, se.Code)
			assert.Equal(t, tc.outcome, mailer.Classify(err))
		})
	}
}

// TestConnectionRefused: nothing listening is a temporary dial failure.
func TestConnectionRefused(t *testing.T) {
	srv := mailertest.NewServer(t)
	port := srv.Port()
	require.NoError(t, srv.Close())
	c := newClient(t, mailer.WithServer("127.0.0.1", port))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, mailer.StageDial, se.Stage)
	assert.True(t, se.Temporary())
}

// TestReplyRules: a matching rule attaches its hint and may override the
// outcome.
func TestReplyRules(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser(testUser, testPassword), mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepAUTH, Reply: "535 Login Fail. Please enter your authorization code to login"}))
	c := newClient(t, srv.Options(), mailer.WithReplyRules(
		mailer.ReplyRule{Stage: mailer.StageMail, Code: 535, Hint: "wrong stage"},
		mailer.ReplyRule{Code: 535, Contains: "AUTHORIZATION CODE", Hint: "use the 授权码"},
		mailer.ReplyRule{Code: 535, Hint: "second rule"},
	))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, "use the 授权码", se.Hint)
	assert.Contains(t, err.Error(), "hint: use the 授权码")

	srv2 := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepMAIL, Reply: "550 Connection frequency limited"}))
	c2 := newClient(t, serverOnly(srv2), mailer.WithReplyRules(
		mailer.ReplyRule{Code: 550, Contains: "frequency limited", Outcome: mailer.OutcomeTemporary}))
	_, err = c2.Send(bg, testMessage(t))
	assert.True(t, sendErr(t, err).Temporary())
}

// TestBadMessageSendsNothing: invalid input fails in Build with typed
// errors naming each field, and Send refuses a nil message.
func TestBadMessageSendsNothing(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, serverOnly(srv))

	_, err := mailer.NewMessage().
		From("").
		To("bob@", "ok@example.com", "eve@example.com\r\nRCPT TO:<x@y.z>").
		Cc("a@b.com> ORCPT=rfc822;x@y.z").
		Subject("Hi\r\nBcc: evil@attacker.test").
		Header("X-Ok", "fine").
		Header("X-A: b\r\nBcc", "x").
		Header("X-Tag", "line\nbreak").
		Header("Content-Type", "text/html").
		Build()
	require.Error(t, err)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *mailer.FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe.Field)
		}
	}
	assert.Equal(t, []string{"From", "To", "To", "Cc", "Subject", "Header", `Header "X-Tag"`, "Header"}, fields)
	assert.ErrorIs(t, err, mailer.ErrInvalidAddress)
	assert.ErrorIs(t, err, mailer.ErrInvalidHeader)
	for _, line := range strings.Split(err.Error(), "\n") {
		assert.NotContains(t, line, "\r")
	}

	_, err = mailer.NewMessage().Subject("x").Build()
	assert.ErrorIs(t, err, mailer.ErrNoSender)
	assert.ErrorIs(t, err, mailer.ErrNoRecipients)

	_, err = c.Send(bg, nil)
	assert.ErrorIs(t, err, mailer.ErrNilMessage)
	assert.Zero(t, srv.Connections(), "nothing was sent")
}

// TestConcurrentSends: one Client shared by many goroutines.
func TestConcurrentSends(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser(testUser, testPassword))
	c := newClient(t, srv.Options())
	m := testMessage(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Send(bg, m)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	msgs := srv.Messages()
	assert.Len(t, msgs, 20)
	for _, got := range msgs {
		assert.Equal(t, "<"+m.MessageID()+">", got.Header.Get("Message-Id"), "same Message-ID on every send")
	}
}

// TestCloseWaitsForSends: Close waits for a send in flight, then refuses
// new ones.
func TestCloseWaitsForSends(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		release := make(chan struct{})
		reached := make(chan struct{})
		srv := mailertest.NewServer(t, mem, mailertest.WithFaultFunc(func(s mailertest.Step, n int) *mailertest.Fault {
			if s == mailertest.StepDataEnd {
				close(reached)
				<-release
			}
			return nil
		}))
		c, err := mailer.New(serverOnly(srv))
		require.NoError(t, err)
		sent := make(chan error, 1)
		go func() {
			_, err := c.Send(bg, testMessage(t))
			sent <- err
		}()
		<-reached
		closed := make(chan struct{})
		go func() {
			_ = c.Close()
			close(closed)
		}()
		select {
		case <-closed:
			t.Fatal("Close returned while a send was in flight")
		case <-time.After(20 * time.Millisecond):
		}
		close(release)
		require.NoError(t, <-sent)
		<-closed
		_, err = c.Send(bg, testMessage(t))
		assert.ErrorIs(t, err, mailer.ErrClientClosed)
		assert.NoError(t, c.Close(), "Close twice")
	})
}
