package mailer_test

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/internal/eml"
	"github.com/postkit/mailer/mailertest"
)

// mimeClient returns a Client for srv, closed when the test ends.
func mimeClient(t *testing.T, srv *mailertest.Server) *mailer.Client {
	t.Helper()
	c, err := mailer.New(srv.Options())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestWireMatchesWriteTo sends a message with every kind of part through a
// real SMTP server and checks that the bytes it received are, once
// boundaries are normalised, exactly what Message.WriteTo writes.
func TestWireMatchesWriteTo(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "报告 2024.pdf")
	require.NoError(t, os.WriteFile(report, bytes.Repeat([]byte("%PDF-1.4 data "), 5000), 0o644))
	logo := filepath.Join(dir, "logo.png")
	require.NoError(t, os.WriteFile(logo, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644))

	m, err := mailer.NewMessage().
		From("系统通知 <noreply@example.com>").To("张三 <zhangsan@example.com>").Cc("ops@example.com").
		Bcc("audit@example.com").ReplyTo("support@example.com").
		Subject("重置您的密码").
		Text("验证码：123456\n.\nline after a lone dot\n").
		HTML(`<p>验证码：<b>123456</b></p><img src="cid:logo">`).
		EmbedFile("logo", logo).AttachFile(report).
		Header("X-Campaign", "reset").
		ListUnsubscribe("https://example.com/u?id=1", "mailto:unsubscribe@example.com").OneClickUnsubscribe().
		Date(time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)).
		Build()
	require.NoError(t, err)

	srv := mailertest.NewServer(t)
	rcpt, err := mimeClient(t, srv).Send(t.Context(), m)
	require.NoError(t, err)
	assert.Equal(t, m.MessageID(), rcpt.MessageID)

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	got := msgs[0]
	assert.Equal(t, []string{"zhangsan@example.com", "ops@example.com", "audit@example.com"}, got.To)
	require.NoError(t, eml.CheckStructure(got.Data, false))
	assert.NotContains(t, string(got.Data), "audit@example.com", "Bcc must not appear in the message")

	var local bytes.Buffer
	_, err = m.WriteTo(&local)
	require.NoError(t, err)
	assert.Equal(t, string(eml.Normalize(local.Bytes())), string(eml.Normalize(got.Data)))
	assert.Equal(t, "<"+m.MessageID()+">", got.Header.Get("Message-Id"))
}

// TestSMTPUTF8LocalPart: a non-ASCII local part fails before MAIL when the
// server does not offer SMTPUTF8, and goes through when it does.
func TestSMTPUTF8LocalPart(t *testing.T) {
	m, err := mailer.NewMessage().From("noreply@example.com").To("用户@例子.中国").
		Subject("你好").Text("你好").Build()
	require.NoError(t, err)

	t.Run("without SMTPUTF8", func(t *testing.T) {
		srv := mailertest.NewServer(t)
		_, err := mimeClient(t, srv).Send(t.Context(), m)
		require.ErrorIs(t, err, mailer.ErrSMTPUTF8Required)
		var se *mailer.SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, mailer.StageMail, se.Stage)
		for _, cmd := range srv.Commands() {
			assert.False(t, strings.HasPrefix(cmd, "MAIL"), "no MAIL may be sent: %s", cmd)
		}
		assert.Empty(t, srv.Messages())
	})
	t.Run("with SMTPUTF8", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithSMTPUTF8())
		_, err := mimeClient(t, srv).Send(t.Context(), m)
		require.NoError(t, err)
		cmds := srv.Commands()
		assert.True(t, slices.ContainsFunc(cmds, func(c string) bool {
			return strings.HasPrefix(c, "MAIL FROM:<noreply@example.com> SMTPUTF8")
		}), "%q", cmds)
		assert.Contains(t, cmds, "RCPT TO:<用户@xn--fsqu00a.xn--fiqs8s>")
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		require.NoError(t, eml.CheckStructure(msgs[0].Data, true))
		assert.Contains(t, string(msgs[0].Data), "\r\nTo: 用户@例子.中国\r\n")
	})
}

// TestIDNDomainPunycode: an internationalised domain goes as punycode in
// the envelope and in the headers when the server lacks SMTPUTF8.
func TestIDNDomainPunycode(t *testing.T) {
	m, err := mailer.NewMessage().From("Bücher <info@bücher.example>").To("user@例子.中国").
		Subject("IDN").Text("hi").Build()
	require.NoError(t, err)
	srv := mailertest.NewServer(t)
	_, err = mimeClient(t, srv).Send(t.Context(), m)
	require.NoError(t, err)
	cmds := srv.Commands()
	assert.True(t, slices.Contains(cmds, "RCPT TO:<user@xn--fsqu00a.xn--fiqs8s>"), "%q", cmds)
	assert.True(t, slices.ContainsFunc(cmds, func(c string) bool {
		return strings.HasPrefix(c, "MAIL FROM:<info@xn--bcher-kva.example> ")
	}), "%q", cmds)
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	require.NoError(t, eml.CheckStructure(msgs[0].Data, false))
	assert.Equal(t, "user@xn--fsqu00a.xn--fiqs8s", msgs[0].Header.Get("To"))
	assert.True(t, strings.HasSuffix(m.MessageID(), "@xn--bcher-kva.example"), m.MessageID())
}

// TestSmugglingBodyOnTheWire sends each SMTP smuggling vector in a body
// and checks that the server received exactly one message whose text is
// the input with CRLF line breaks.
func TestSmugglingBodyOnTheWire(t *testing.T) {
	body := "a\n.\nMAIL FROM:<x@evil.test>\nb\r.\rc\r\n.\r\nd\n.\r\ne\r\n..\r\n"
	m, err := mailer.NewMessage().From("noreply@example.com").To("bob@example.com").
		Subject("smuggle").Text(body).Build()
	require.NoError(t, err)
	srv := mailertest.NewServer(t)
	_, err = mimeClient(t, srv).Send(t.Context(), m)
	require.NoError(t, err)
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	require.NoError(t, eml.CheckStructure(msgs[0].Data, false))
	_, text, _ := strings.Cut(string(msgs[0].Data), "\r\n\r\n")
	want := "a\r\n.\r\nMAIL FROM:<x@evil.test>\r\nb\r\n.\r\nc\r\n.\r\nd\r\n.\r\ne\r\n..\r\n"
	assert.Equal(t, want, text)
	assert.Equal(t, 1, srv.Count(mailertest.StepDataEnd))
}

// TestSMTPUTF8HeaderOnlyAddress: an address with a non-ASCII local part
// that is in the headers but not in the envelope (a From behind an
// EnvelopeFrom, a Reply-To) is written in UTF-8 (RFC 6532), so the message
// needs SMTPUTF8 as much as a non-ASCII recipient does: Envelope says so,
// and Send fails before MAIL when the server does not offer it.
func TestSMTPUTF8HeaderOnlyAddress(t *testing.T) {
	for name, b := range map[string]*mailer.MessageBuilder{
		"From behind EnvelopeFrom": mailer.NewMessage().From("用户@例子.中国").EnvelopeFrom("bounces@example.com"),
		"Reply-To":                 mailer.NewMessage().From("noreply@example.com").ReplyTo("客服 <客服@example.com>"),
	} {
		t.Run(name, func(t *testing.T) {
			m, err := b.To("bob@example.com").Subject("你好").Text("你好").Build()
			require.NoError(t, err)
			raw, err := m.Bytes()
			require.NoError(t, err)
			// Read back on its own: the header holds raw UTF-8.
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			require.NoError(t, err)
			hdr := msg.Header.Get("From") + msg.Header.Get("Reply-To")
			require.False(t, isASCIIString(hdr), "%q", hdr)

			assert.True(t, m.Envelope().SMTPUTF8, "Envelope().SMTPUTF8")

			srv := mailertest.NewServer(t)
			_, err = mimeClient(t, srv).Send(t.Context(), m)
			require.ErrorIs(t, err, mailer.ErrSMTPUTF8Required)
			assert.Empty(t, srv.Messages())

			srv = mailertest.NewServer(t, mailertest.WithSMTPUTF8())
			_, err = mimeClient(t, srv).Send(t.Context(), m)
			require.NoError(t, err)
			assert.True(t, slices.ContainsFunc(srv.Commands(), func(c string) bool {
				return strings.HasPrefix(c, "MAIL FROM:<") && strings.Contains(c, " SMTPUTF8")
			}), "%q", srv.Commands())
		})
	}
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
