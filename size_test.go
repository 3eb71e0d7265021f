package mailer_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// mailParam returns the value of param in the client's MAIL FROM command
// on srv, and whether it was there.
func mailParam(t *testing.T, srv *mailertest.Server, param string) (string, bool) {
	t.Helper()
	for _, c := range srv.Commands() {
		if !strings.HasPrefix(c, "MAIL FROM:") {
			continue
		}
		for _, f := range strings.Fields(c)[1:] {
			if v, ok := strings.CutPrefix(f, param+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// TestSizeDeclared: MAIL FROM declares the size when the server offers
// SIZE: exactly for SendRaw, and for Send an estimate that is not above
// the real size.
func TestSizeDeclared(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options())
	raw := []byte("Subject: size\n\nline one\n.line two\r\nno break at the end")
	_, err := c.SendRaw(bg, mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, raw)
	require.NoError(t, err)
	v, ok := mailParam(t, srv, "SIZE")
	require.True(t, ok, "%q", srv.Commands())
	assert.Equal(t, strconv.Itoa(len(srv.Messages()[0].Data)), v)

	for _, m := range []*mailer.Message{testMessage(t), bigMessage(t, 300_000)} {
		srv.Reset()
		_, err = c.Send(bg, m)
		require.NoError(t, err)
		v, ok = mailParam(t, srv, "SIZE")
		require.True(t, ok, "%q", srv.Commands())
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		real := len(srv.Messages()[0].Data)
		assert.LessOrEqual(t, n, real)
		assert.Greater(t, n, real*8/10, "a useful estimate")
	}
}

// bigMessage returns a message with a random attachment of n octets.
func bigMessage(t *testing.T, n int) *mailer.Message {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").Subject("big").
		Text("see attached").AttachBytes("big.bin", data).Build()
	require.NoError(t, err)
	return m
}

// TestSizeLimit: a message larger than the server's SIZE limit fails
// before MAIL FROM, for good, with a *SizeError naming both sizes, for
// Send (in memory or streamed from a file) and SendRaw; smaller ones go.
func TestSizeLimit(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithMaxMessageBytes(100_000))
	c := newClient(t, srv.Options(), fastRetry(3))
	big := bigMessage(t, 300_000)
	data := make([]byte, 300_000)
	_, _ = rand.Read(data)
	fromFile, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").Subject("file").
		Text("see attached").AttachFile(writeFile(t, "big.bin", data)).Build()
	require.NoError(t, err)
	raw := append([]byte("Subject: raw\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdef\r\n"), 10_000)...)
	for name, send := range map[string]func() error{
		"Send":     func() error { _, err := c.Send(bg, big); return err },
		"SendFile": func() error { _, err := c.Send(bg, fromFile); return err },
		"SendRaw": func() error {
			_, err := c.SendRaw(bg, mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, raw)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv.Reset()
			err := send()
			require.ErrorIs(t, err, mailer.ErrMessageTooLarge)
			var sz *mailer.SizeError
			require.True(t, errors.As(err, &sz))
			assert.Equal(t, int64(100_000), sz.Limit)
			assert.Greater(t, sz.Size, sz.Limit)
			se := sendErr(t, err)
			assert.Equal(t, mailer.StageMail, se.Stage)
			assert.Equal(t, 1, se.Attempts, "not retried")
			assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
			assert.Contains(t, err.Error(), "100000")
			assert.Contains(t, err.Error(), strconv.FormatInt(sz.Size, 10))
			assert.False(t, hasCommand(srv, "MAIL"), "%q", srv.Commands())
		})
	}
	_, err = c.Send(bg, testMessage(t))
	require.NoError(t, err)
}

// TestSizeNoLimit: a server that offers SIZE without a limit gets SIZE=
// and any message.
func TestSizeNoLimit(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithMaxMessageBytes(0))
	c := newClient(t, srv.Options())
	_, err := c.Send(bg, bigMessage(t, 300_000))
	require.NoError(t, err)
	_, ok := mailParam(t, srv, "SIZE")
	assert.True(t, ok, "%q", srv.Commands())
}
