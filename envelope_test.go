package mailer_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestEnvelopeFrom: the envelope sender is where bounces go; the From
// header stays the author.
func TestEnvelopeFrom(t *testing.T) {
	m, err := mailer.NewMessage().From("Alice <alice@example.com>").To("bob@example.com").
		EnvelopeFrom("bounces+bob=example.com@example.com").Subject("VERP").Text("hi").Build()
	require.NoError(t, err)
	assert.Equal(t, "bounces+bob=example.com@example.com", m.Envelope().From)
	assert.Equal(t, "alice@example.com", m.From().Address)

	srv := mailertest.NewServer(t)
	_, err = newClient(t, srv.Options()).Send(bg, m)
	require.NoError(t, err)
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "bounces+bob=example.com@example.com", msgs[0].From)
	assert.Equal(t, "Alice <alice@example.com>", msgs[0].Header.Get("From"))

	_, err = mailer.NewMessage().From("alice@example.com").To("bob@example.com").
		EnvelopeFrom("Bounces <bounces@example.com>").Build()
	var fe *mailer.FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, "EnvelopeFrom", fe.Field)
	assert.ErrorIs(t, err, mailer.ErrInvalidAddress)
}

// rcptLines returns the RCPT commands the server saw.
func rcptLines(srv *mailertest.Server) []string {
	var out []string
	for _, c := range srv.Commands() {
		if strings.HasPrefix(c, "RCPT") {
			out = append(out, c)
		}
	}
	return out
}

// TestDSN: DSN parameters go with MAIL FROM (RET, ENVID as xtext) and
// every RCPT TO (NOTIFY) when the server offers DSN, for Send and SendRaw;
// without DSN they are left out, with a debug log line, and the message
// is still sent.
func TestDSN(t *testing.T) {
	dsn := mailer.DSN{Notify: mailer.NotifyFailure | mailer.NotifyDelay, Return: mailer.ReturnHeaders, EnvelopeID: "id+1=x"}
	m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").Cc("carol@example.com").
		DSN(dsn).Subject("dsn").Text("hi").Build()
	require.NoError(t, err)
	assert.Equal(t, dsn, m.Envelope().DSN)
	raw, err := m.Bytes()
	require.NoError(t, err)

	for name, send := range map[string]func(*mailer.Client) error{
		"Send":    func(c *mailer.Client) error { _, err := c.Send(bg, m); return err },
		"SendRaw": func(c *mailer.Client) error { _, err := c.SendRaw(bg, m.Envelope(), raw); return err },
	} {
		t.Run(name+"/offered", func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithDSN())
			require.NoError(t, send(newClient(t, srv.Options())))
			ret, _ := mailParam(t, srv, "RET")
			envid, _ := mailParam(t, srv, "ENVID")
			assert.Equal(t, "HDRS", ret)
			assert.Equal(t, "id+2B1+3Dx", envid)
			assert.Equal(t, []string{"RCPT TO:<bob@example.com> NOTIFY=FAILURE,DELAY", "RCPT TO:<carol@example.com> NOTIFY=FAILURE,DELAY"}, rcptLines(srv))
			require.Len(t, srv.Messages(), 1)
		})
		t.Run(name+"/not offered", func(t *testing.T) {
			srv := mailertest.NewServer(t)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			require.NoError(t, send(newClient(t, srv.Options(), mailer.WithLogger(log))))
			_, ok := mailParam(t, srv, "RET")
			assert.False(t, ok)
			assert.Equal(t, []string{"RCPT TO:<bob@example.com>", "RCPT TO:<carol@example.com>"}, rcptLines(srv))
			require.Len(t, srv.Messages(), 1)
			assert.Contains(t, logs.String(), "does not offer DSN")
		})
	}

	_, err = mailer.NewMessage().From("alice@example.com").To("bob@example.com").
		DSN(mailer.DSN{EnvelopeID: "bad\x00id"}).Build()
	var fe *mailer.FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, "DSN.EnvelopeID", fe.Field)
}

// TestDSNNever: NotifyNever alone is sent as NOTIFY=NEVER.
func TestDSNNever(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithDSN())
	_, err := newClient(t, srv.Options()).SendRaw(bg, mailer.Envelope{
		From: "a@example.com", To: []string{"b@example.com"}, DSN: mailer.DSN{Notify: mailer.NotifyNever},
	}, []byte("Subject: x\r\n\r\ny\r\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"RCPT TO:<b@example.com> NOTIFY=NEVER"}, rcptLines(srv))
	_, ok := mailParam(t, srv, "RET")
	assert.False(t, ok)
}
