package mailertest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake image bytes \x00\xff")

// TestDecodedMessage sends a message whose every part is encoded (a
// Chinese subject and names in RFC 2047, a base64 Chinese text body, a
// quoted-printable HTML body, attachments and an inline image) and reads
// it back decoded, as a test of a user's service would.
func TestDecodedMessage(t *testing.T) {
	srv := mailertest.NewServer(t)
	c, err := mailer.New(srv.Options())
	require.NoError(t, err)
	defer c.Close()

	link := "https://acme.example/reset?token=abc123-very-long-token-" + strings.Repeat("x", 80)
	text := "张伟，您好：\n请点击以下链接重置密码：" + link + "\n该链接 30 分钟内有效。\n"
	html := `<p>张伟，您好：</p><p><a href="` + link + `">重置密码</a></p><img src="cid:logo">`
	ics := []byte("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n")
	msg, err := mailer.NewMessage().From("系统通知 <noreply@acme.example>").
		To("张伟 <zhang@example.com>").Cc("Ops <ops@example.com>").Bcc("audit@example.com").
		ReplyTo("help@acme.example").Subject("重置您的密码").Text(text).HTML(html).
		AttachBytes("报告 2026.pdf", []byte("%PDF-1.4 not really")).
		AttachBytes("invite.ics", ics).
		Embed("logo", "logo.png", png).Build()
	require.NoError(t, err)
	_, err = c.Send(context.Background(), msg)
	require.NoError(t, err)

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.NoError(t, m.DecodeError)
	assert.NotContains(t, string(m.Data), "重置您的密码", "the raw subject is encoded")
	assert.NotContains(t, string(m.Data), link, "the raw bodies are encoded")

	assert.Equal(t, "重置您的密码", m.Subject)
	require.Len(t, m.HeaderFrom, 1)
	assert.Equal(t, "系统通知", m.HeaderFrom[0].Name)
	assert.Equal(t, "noreply@acme.example", m.HeaderFrom[0].Address)
	require.Len(t, m.HeaderTo, 1)
	assert.Equal(t, "张伟", m.HeaderTo[0].Name)
	assert.Equal(t, "zhang@example.com", m.HeaderTo[0].Address)
	require.Len(t, m.Cc, 1)
	assert.Equal(t, "ops@example.com", m.Cc[0].Address)
	require.Len(t, m.ReplyTo, 1)
	assert.Equal(t, "help@acme.example", m.ReplyTo[0].Address)
	assert.Equal(t, "noreply@acme.example", m.From, "envelope sender")
	assert.ElementsMatch(t, []string{"zhang@example.com", "ops@example.com", "audit@example.com"}, m.To, "envelope: Bcc included")

	assert.Equal(t, text, m.Text)
	assert.Contains(t, m.Text, link)
	assert.Equal(t, strings.Replace(html, "cid:logo", "cid:logo@acme.example", 1), m.HTML, "the cid gets the sender's domain")

	require.Len(t, m.Attachments, 2)
	pdf, ok := m.Attachment("报告 2026.pdf")
	require.True(t, ok, "%+v", m.Attachments)
	assert.Equal(t, "application/pdf", pdf.ContentType)
	assert.Equal(t, []byte("%PDF-1.4 not really"), pdf.Data)
	inv, ok := m.Attachment("invite.ics")
	require.True(t, ok)
	assert.Equal(t, "text/calendar", inv.ContentType)
	assert.Equal(t, ics, inv.Data)

	require.Len(t, m.Inline, 1)
	assert.Equal(t, "logo.png", m.Inline[0].Filename)
	assert.Equal(t, "image/png", m.Inline[0].ContentType)
	assert.Equal(t, "logo@acme.example", m.Inline[0].ContentID)
	assert.Equal(t, png, m.Inline[0].Data)
}

// TestDecodedForeignCharset decodes a message that package mailer could
// not have written: a GB18030 subject, name and body, as older Chinese
// systems send, delivered with net/smtp.
func TestDecodedForeignCharset(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	gb := func(s string) []byte {
		b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
		require.NoError(t, err)
		return b
	}
	word := func(s string) string { return "=?GB18030?B?" + base64.StdEncoding.EncodeToString(gb(s)) + "?=" }
	raw := "From: " + word("系统") + " <sys@example.com>\r\nTo: bob@example.com\r\nSubject: " + word("验证码") + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=GB18030\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(gb("您的验证码是 493817。\r\n")) + "\r\n"
	c := stdClient(t, srv)
	require.NoError(t, c.Mail("sys@example.com"))
	require.NoError(t, c.Rcpt("bob@example.com"))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte(raw))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	m := srv.Messages()[0]
	require.NoError(t, m.DecodeError)
	assert.Equal(t, "验证码", m.Subject)
	assert.Equal(t, "系统", m.HeaderFrom[0].Name)
	assert.Equal(t, "您的验证码是 493817。\n", m.Text)
	assert.Empty(t, m.HTML)
	assert.Empty(t, m.Attachments)
}

// TestDecodeErrorKeepsTheRest records a message whose header does not
// parse as an address list: the error is reported, the rest is decoded.
func TestDecodeErrorKeepsTheRest(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	c := stdClient(t, srv)
	require.NoError(t, c.Mail("a@example.com"))
	require.NoError(t, c.Rcpt("b@example.com"))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte("From: not an address\r\nSubject: hi\r\n\r\nbody\r\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	m := srv.Messages()[0]
	require.Error(t, m.DecodeError)
	assert.Contains(t, m.DecodeError.Error(), "From")
	assert.Equal(t, "hi", m.Subject)
	assert.Equal(t, "body\n", m.Text)
}

// sendData delivers raw with net/smtp and returns the message as the
// server recorded it.
func sendData(t *testing.T, srv *mailertest.Server, raw string) mailertest.Message {
	t.Helper()
	c := stdClient(t, srv)
	require.NoError(t, c.Mail("a@example.com"))
	require.NoError(t, c.Rcpt("b@example.com"))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte(raw))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	msgs := srv.Messages()
	require.NotEmpty(t, msgs)
	return msgs[len(msgs)-1]
}

// TestDecodeUnknownCharsetKeepsTheRest decodes a message whose text part
// names a charset no decoder knows ("unknown-8bit", as old gateways
// write), then a part in an unknown transfer encoding: the errors are
// reported, and the text as sent and the attachment after them are still
// there.
func TestDecodeUnknownCharsetKeepsTheRest(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	m := sendData(t, srv, "From: a@example.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n"+
		"--B\r\nContent-Type: text/plain; charset=unknown-8bit\r\n\r\nthe report\r\n"+
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n"+
		"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--B--\r\n")
	require.Error(t, m.DecodeError)
	assert.Contains(t, m.DecodeError.Error(), "unknown-8bit")
	assert.Contains(t, m.DecodeError.Error(), "x-uuencode")
	assert.Equal(t, "report", m.Subject)
	assert.Equal(t, "the report", m.Text)
	pdf, ok := m.Attachment("a.pdf")
	require.True(t, ok, "attachments: %+v", m.Attachments)
	assert.Equal(t, []byte("%PDF-1.4"), pdf.Data)
}

// TestDecodeInlineWithoutDisposition decodes an HTML message whose image
// has a Content-ID but no Content-Disposition, as Python's add_related and
// many other writers send it: the image is inline (the HTML shows it with
// "cid:"), not an attachment. A PDF without disposition or Content-ID is
// an attachment, as mail clients show it.
func TestDecodeInlineWithoutDisposition(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	m := sendData(t, srv, "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=M\r\n\r\n"+
		"--M\r\nContent-Type: multipart/related; boundary=R\r\n\r\n"+
		"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<img src=\"cid:logo@example.com\">\r\n"+
		"--R\r\nContent-Type: image/png\r\nContent-ID: <logo@example.com>\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
		base64.StdEncoding.EncodeToString(png)+"\r\n--R--\r\n"+
		"--M\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--M--\r\n")
	require.NoError(t, m.DecodeError)
	assert.Equal(t, `<img src="cid:logo@example.com">`, m.HTML)
	require.Len(t, m.Inline, 1, "attachments: %+v", m.Attachments)
	assert.Equal(t, "logo@example.com", m.Inline[0].ContentID)
	assert.Equal(t, "image/png", m.Inline[0].ContentType)
	assert.Equal(t, png, m.Inline[0].Data)
	require.Len(t, m.Attachments, 1)
	assert.Equal(t, "a.pdf", m.Attachments[0].Filename)
}

// TestFinders finds messages by envelope recipient and subject.
func TestFinders(t *testing.T) {
	srv := mailertest.NewServer(t)
	c, err := mailer.New(srv.Options())
	require.NoError(t, err)
	defer c.Close()
	send := func(to, subject string, bcc ...string) {
		msg, err := mailer.NewMessage().From("app@example.com").To(to).Bcc(bcc...).Subject(subject).Text("x").Build()
		require.NoError(t, err)
		_, err = c.Send(context.Background(), msg)
		require.NoError(t, err)
	}
	send("bob@example.com", "Welcome, Bob")
	send("alice@example.com", "Your code", "Bob@Example.com")
	send("carol@example.com", "欢迎")

	got := srv.MessagesTo("BOB@example.com")
	require.Len(t, got, 2, "envelope recipients, Bcc included, without regard to case")
	assert.Equal(t, "Welcome, Bob", got[0].Subject)
	assert.Equal(t, "Your code", got[1].Subject)
	assert.Len(t, srv.MessagesWithSubject("欢迎"), 1)
	assert.Empty(t, srv.MessagesWithSubject("nothing"))
	assert.Len(t, srv.Find(func(m mailertest.Message) bool { return len(m.To) == 1 }), 2)
}

// TestWaitForMessages waits for mail sent in the background, and gives up
// with the context, saying how many arrived.
func TestWaitForMessages(t *testing.T) {
	srv := mailertest.NewServer(t)
	c, err := mailer.New(srv.Options())
	require.NoError(t, err)
	defer c.Close()
	done := make(chan error, 1)
	go func() { // a queue worker of the code under test
		for i := range 3 {
			msg, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").
				Subject("n" + string(rune('0'+i))).Text("x").Build()
			if err == nil {
				_, err = c.Send(context.Background(), msg)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.WaitForMessages(ctx, 3)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	assert.Equal(t, "n2", msgs[2].Subject)
	require.NoError(t, <-done)

	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	msgs, err = srv.WaitForMessages(short, 4)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "3 of 4 messages arrived")
	assert.Len(t, msgs, 3)
}

// TestFastRetry runs a failure path, a server that answers 451 to every
// MAIL, in milliseconds: three attempts, then the temporary error.
func TestFastRetry(t *testing.T) {
	// In a synctest bubble the deadline is on the fake clock: only the
	// waits count, not how long a loaded machine takes for the handshakes.
	synctest.Test(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithInMemoryNetwork(), mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepMAIL, Reply: "451 4.3.0 Try again later"},
			mailertest.Fault{Step: mailertest.StepMAIL, On: 2, Reply: "421 4.7.0 Slow down"},
			mailertest.Fault{Step: mailertest.StepMAIL, On: 3, Reply: "451 4.3.0 Try again later"},
		))
		c, err := mailer.New(srv.Options(), mailer.WithRetry(mailertest.FastRetry()))
		require.NoError(t, err)
		defer c.Close()
		msg, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("x").Text("x").Build()
		require.NoError(t, err)
		// A deadline far below the default backoff (1 s, and a minute after
		// the 421): the attempts fit in it only with the fast policy.
		ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
		defer cancel()
		_, err = c.Send(ctx, msg)
		var se *mailer.SendError
		require.True(t, errors.As(err, &se), "%v", err)
		assert.True(t, se.Temporary())
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 3, srv.Count(mailertest.StepMAIL), "%v", err)
	})
}
