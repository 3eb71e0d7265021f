package mailer_test

import (
	"bytes"
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

// The compile-time proof that a Client is a Sender.
var _ mailer.Sender = (*mailer.Client)(nil)

// recordEvents returns an option that records every event, and the record.
func recordEvents() (mailer.Option, func() []mailer.Event) {
	var (
		mu  sync.Mutex
		evs []mailer.Event
	)
	return mailer.WithHook(func(_ context.Context, e mailer.Event) {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		}), func() []mailer.Event {
			mu.Lock()
			defer mu.Unlock()
			return append([]mailer.Event(nil), evs...)
		}
}

// TestSendRaw: a raw message reaches the server with its envelope, line
// ends made CRLF and lines starting with a dot intact, with and without
// pipelining; the Receipt and every event carry the Message-ID of its
// header.
func TestSendRaw(t *testing.T) {
	raw := "From: Alice <alice@example.com>\nTo: Bob <bob@example.com>\nSubject: raw\n" +
		"Message-ID:\n <raw.1@example.com>\n\n.leading dot\n.\n..two\r\nlast line without break"
	want := strings.ReplaceAll(raw, "\r\n", "\n")
	want = strings.ReplaceAll(want, "\n", "\r\n") + "\r\n"
	for _, opts := range [][]mailertest.Option{nil, {mailertest.WithoutPipelining()}} {
		srv := mailertest.NewServer(t, opts...)
		hook, events := recordEvents()
		c := newClient(t, srv.Options(), hook)
		env := mailer.Envelope{From: "bounces@example.com", To: []string{"bob@example.com", "Carol@example.com", "carol@EXAMPLE.com"}}
		r, err := c.SendRaw(bg, env, []byte(raw))
		require.NoError(t, err)
		assert.Equal(t, "raw.1@example.com", r.MessageID)
		assert.Equal(t, []string{"bob@example.com", "Carol@example.com"}, r.Recipients)
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		assert.Equal(t, "bounces@example.com", msgs[0].From)
		assert.Equal(t, []string{"bob@example.com", "Carol@example.com"}, msgs[0].To)
		assert.Equal(t, want, string(msgs[0].Data))
		c.Close() // hooks have run
		evs := events()
		require.NotEmpty(t, evs)
		for _, e := range evs {
			assert.Equal(t, "raw.1@example.com", e.MessageID, "%s event", e.Status)
		}
		assert.Equal(t, mailer.StatusSent, evs[len(evs)-1].Status)
	}
}

// TestSendRawNullSender: an empty Envelope.From sends MAIL FROM:<>.
func TestSendRawNullSender(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options())
	_, err := c.SendRaw(bg, mailer.Envelope{To: []string{"bob@example.com"}}, []byte("Subject: bounce\r\n\r\nbody\r\n"))
	require.NoError(t, err)
	assert.True(t, hasCommand(srv, "MAIL FROM:<> "), "%q", srv.Commands())
	require.Len(t, srv.Messages(), 1)
	assert.Equal(t, "", srv.Messages()[0].From)
}

// TestSendRawBareCR: a bare CR ends a line like a bare LF, so that
// "\r.\r" cannot end the data early on a server that reads it as a line
// break (SMTP smuggling); the whole message arrives.
func TestSendRawBareCR(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options())
	raw := "Subject: cr\r\n\r\nbefore\r.\rMAIL FROM:<evil@example.com>\rafter"
	_, err := c.SendRaw(bg, mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, []byte(raw))
	require.NoError(t, err)
	require.Len(t, srv.Messages(), 1)
	assert.Equal(t, "Subject: cr\r\n\r\nbefore\r\n.\r\nMAIL FROM:<evil@example.com>\r\nafter\r\n", string(srv.Messages()[0].Data))
	assert.Equal(t, 1, srv.Count(mailertest.StepMAIL))
}

// TestSendRawInvalid: a bad envelope or an empty message fails at once
// with a *FieldError naming the field; nothing reaches the server.
func TestSendRawInvalid(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options())
	msg := []byte("Subject: x\r\n\r\nbody\r\n")
	for _, tc := range []struct {
		name  string
		env   mailer.Envelope
		msg   []byte
		field string
		is    error
	}{
		{"no recipient", mailer.Envelope{From: "a@example.com"}, msg, "Envelope.To", mailer.ErrNoRecipients},
		{"bad recipient", mailer.Envelope{To: []string{"bob@"}}, msg, "Envelope.To", mailer.ErrInvalidAddress},
		{"display name", mailer.Envelope{To: []string{"Bob <bob@example.com>"}}, msg, "Envelope.To", mailer.ErrInvalidAddress},
		{"injection", mailer.Envelope{To: []string{"bob@example.com>\r\nRCPT TO:<x@example.com"}}, msg, "Envelope.To", mailer.ErrInvalidAddress},
		{"bad sender", mailer.Envelope{From: "alice", To: []string{"bob@example.com"}}, msg, "Envelope.From", mailer.ErrInvalidAddress},
		{"bad DSN", mailer.Envelope{To: []string{"bob@example.com"}, DSN: mailer.DSN{Notify: mailer.NotifyNever | mailer.NotifyFailure}}, msg, "Envelope.DSN.Notify", nil},
		{"empty message", mailer.Envelope{To: []string{"bob@example.com"}}, []byte(" \r\n"), "msg", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SendRaw(bg, tc.env, tc.msg)
			var fe *mailer.FieldError
			require.True(t, errors.As(err, &fe), "want *FieldError, got %T: %v", err, err)
			assert.Equal(t, tc.field, fe.Field)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
		})
	}
	assert.Zero(t, srv.Connections(), "nothing may be sent")
}

// TestSendRawSMTPUTF8: Envelope.SMTPUTF8 asks for SMTPUTF8, also for
// ASCII addresses; a server without it fails the send before MAIL.
func TestSendRawSMTPUTF8(t *testing.T) {
	msg := []byte("From: 用户@example.com\r\nSubject: utf8\r\n\r\nbody\r\n")
	env := mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}, SMTPUTF8: true}
	t.Run("offered", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithSMTPUTF8())
		_, err := newClient(t, srv.Options()).SendRaw(bg, env, msg)
		require.NoError(t, err)
		assert.True(t, hasCommand(srv, "MAIL FROM:<A@EXAMPLE.COM> SMTPUTF8"), "%q", srv.Commands())
		require.Len(t, srv.Messages(), 1)
	})
	t.Run("not offered", func(t *testing.T) {
		srv := mailertest.NewServer(t)
		_, err := newClient(t, srv.Options()).SendRaw(bg, env, msg)
		assert.ErrorIs(t, err, mailer.ErrSMTPUTF8Required)
		assert.False(t, hasCommand(srv, "MAIL"))
	})
	t.Run("non-ASCII local part", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithSMTPUTF8())
		_, err := newClient(t, srv.Options()).SendRaw(bg, mailer.Envelope{From: "a@example.com", To: []string{"用户@example.com"}}, msg)
		require.NoError(t, err)
		assert.True(t, hasCommand(srv, "MAIL FROM:<A@EXAMPLE.COM> SMTPUTF8"), "%q", srv.Commands())
	})
}

// TestSendEqualsSendRaw: Send(m) and SendRaw(m.Envelope(), m.Bytes())
// deliver the same bytes to the same envelope; Bcc is in the envelope
// only.
func TestSendEqualsSendRaw(t *testing.T) {
	m, err := mailer.NewMessage().From("Alice <alice@example.com>").To("Bob <bob@example.com>").
		Cc("carol@example.com").Bcc("hidden.bcc@example.com").Subject("Grüße").
		Text("Hello\n.dot line\n").HTML("<p>Hello <img src=\"cid:logo\"></p>").
		Embed("logo", "logo.png", []byte("\x89PNG fake")).AttachBytes("a.txt", []byte("attached")).Build()
	require.NoError(t, err)
	raw, err := m.Bytes()
	require.NoError(t, err)
	again, err := m.Bytes()
	require.NoError(t, err)
	assert.Equal(t, raw, again, "Bytes is the same on every call")
	assert.NotContains(t, string(raw), "hidden.bcc")

	env := m.Envelope()
	assert.Equal(t, mailer.Envelope{From: "alice@example.com", To: []string{"bob@example.com", "carol@example.com", "hidden.bcc@example.com"}}, env)

	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options())
	r1, err := c.Send(bg, m)
	require.NoError(t, err)
	r2, err := c.SendRaw(bg, env, raw)
	require.NoError(t, err)
	assert.Equal(t, r1.MessageID, r2.MessageID)
	msgs := srv.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, string(msgs[0].Data), string(msgs[1].Data))
	assert.Equal(t, string(raw), string(msgs[1].Data))
	assert.Equal(t, msgs[0].From, msgs[1].From)
	assert.Equal(t, msgs[0].To, msgs[1].To)
}

// TestIdenticalBytesEveryAttempt: when the connection is lost after the
// final dot (the server kept the message), the retry sends the very same
// bytes, for Send and SendRaw.
func TestIdenticalBytesEveryAttempt(t *testing.T) {
	m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").Subject("s").
		Text("text").HTML("<p>html</p>").AttachBytes("a.bin", []byte{1, 2, 3}).Build()
	require.NoError(t, err)
	raw, err := m.Bytes()
	require.NoError(t, err)
	for name, send := range map[string]func(*mailer.Client) error{
		"Send":    func(c *mailer.Client) error { _, err := c.Send(bg, m); return err },
		"SendRaw": func(c *mailer.Client) error { _, err := c.SendRaw(bg, m.Envelope(), raw); return err },
	} {
		t.Run(name, func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true}))
			require.NoError(t, send(newClient(t, srv.Options(), fastRetry(2))))
			msgs := srv.Messages()
			require.Len(t, msgs, 2)
			assert.Equal(t, string(msgs[0].Data), string(msgs[1].Data))
			assert.Equal(t, string(raw), string(msgs[1].Data))
		})
	}
}

// TestSendRawLarge: a raw message of several write pieces, with dots and
// CRs at every piece boundary, arrives whole.
func TestSendRawLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: large\r\n\r\n")
	for b.Len() < 300<<10 {
		b.WriteString(".dot\r\nplain line of text\n")
		if b.Len()%(32<<10) < 40 {
			b.WriteString("\r")
		}
	}
	raw := b.String()
	want := strings.NewReplacer("\r\n", "\r\n", "\n", "\r\n", "\r", "\r\n").Replace(raw) // ends with a line break
	srv := mailertest.NewServer(t)
	_, err := newClient(t, srv.Options()).SendRaw(bg, mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, []byte(raw))
	require.NoError(t, err)
	require.Len(t, srv.Messages(), 1)
	assert.True(t, want == string(srv.Messages()[0].Data), "data differs")
}

// TestContextWithRetryPolicy: a policy in the context replaces the
// Client's for that send only; an invalid one is a *ConfigError.
func TestContextWithRetryPolicy(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepMAIL, Reply: "451 4.3.0 Try again later"}))
	c := newClient(t, srv.Options(), fastRetry(3))
	m := testMessage(t)

	_, err := c.Send(mailer.ContextWithRetryPolicy(bg, mailer.RetryPolicy{MaxAttempts: 1}), m)
	assert.Equal(t, 1, sendErr(t, err).Attempts)
	assert.Equal(t, 1, srv.Count(mailertest.StepMAIL))

	_, err = c.SendRaw(mailer.ContextWithRetryPolicy(bg, mailer.RetryPolicy{MaxAttempts: 2, MinWait: 1, MaxWait: 1}),
		m.Envelope(), []byte("Subject: x\r\n\r\ny\r\n"))
	assert.Equal(t, 2, sendErr(t, err).Attempts)
	assert.Equal(t, 3, srv.Count(mailertest.StepMAIL))

	_, err = c.Send(bg, m) // the Client's own policy
	assert.Equal(t, 3, sendErr(t, err).Attempts)

	_, err = c.Send(mailer.ContextWithRetryPolicy(bg, mailer.RetryPolicy{MaxAttempts: -1}), m)
	var ce *mailer.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ContextWithRetryPolicy", ce.Option)
}

// TestSendRawAuthAndCancel: SendRaw authenticates over TLS like Send, and
// cancelling its context while a large body is blocked in the middle of
// DATA returns at once, with nothing delivered.
func TestSendRawAuthAndCancel(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, mailertest.WithUser("alice", "secret"))
		c := newClient(t, srv.Options())
		env := mailer.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
		_, err := c.SendRaw(bg, env, []byte("Subject: auth\r\n\r\nbody\r\n"))
		require.NoError(t, err)
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		assert.True(t, msgs[0].TLS)
		assert.Equal(t, "alice", msgs[0].AuthUser)

		stalled, reached := stallAt(t, mailertest.StepBody)
		c = newClient(t, serverOnly(stalled), mailer.WithTLS(mailer.TLSStartTLS))
		big := append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte("a line of the body\r\n"), 8<<20/20)...)
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := c.SendRaw(ctx, env, big)
			done <- err
		}()
		<-reached // the server answered DATA and stopped reading: the body blocks
		start := time.Now()
		cancel()
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("SendRaw did not return after cancel")
		}
		assert.Less(t, time.Since(start), time.Second)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, mailer.ErrMaybeDelivered, "cancelled before the final dot")
		assert.Empty(t, stalled.Messages())
	})
}

// TestSendRaw8BitBody: a raw message with 8-bit octets (a UTF-8 body sent
// as 8bit, which a gateway relays as it got it) is declared with
// BODY=8BITMIME to a server that offers 8BITMIME (RFC 6152); a 7-bit
// message is declared as nothing.
func TestSendRaw8BitBody(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options())
	env := mailer.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	head := "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: s\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n"
	for body, want := range map[string]bool{"Grüße aus Köln, 你好\r\n": true, "plain ASCII\r\n": false} {
		srv.Reset()
		_, err := c.SendRaw(bg, env, []byte(head+body))
		require.NoError(t, err)
		var mail string
		for _, cmd := range srv.Commands() {
			if strings.HasPrefix(cmd, "MAIL FROM:") {
				mail = cmd
			}
		}
		assert.Equal(t, want, strings.Contains(mail, " BODY=8BITMIME"), mail)
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		assert.Contains(t, string(msgs[0].Data), body)
	}
}
