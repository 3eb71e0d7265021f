package mailer_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// withDKIM is the option of a Client signing for example.com with the key
// in file.
func withDKIM(t testing.TB, file, selector string) mailer.Option {
	return mailer.WithDKIM(mailer.DKIM{Domain: "example.com", Selector: selector, Key: dkimKey(t, file)})
}

// dkimMessages are messages From example.com with the hard cases: Chinese
// names and subject, attachments, long folded headers, dot lines.
func dkimMessages(t testing.TB) []*mailer.Message {
	t.Helper()
	var out []*mailer.Message
	for _, b := range []*mailer.MessageBuilder{
		mailer.NewMessage().From("张三 <zhangsan@example.com>").To("李四 <lisi@example.net>").
			Subject("您的订单已发货：请查收附件中的发票与物流单号，感谢您选择我们的服务，祝您生活愉快").
			Text("尊敬的李四：\n\n您的订单已发货。").ListUnsubscribe("https://example.com/u/1").OneClickUnsubscribe(),
		mailer.NewMessage().From("billing@example.com").To("a@example.net").Cc("b@example.net").
			Subject("Invoice").Text("Attached.").HTML(`<p>Attached <img src="cid:logo"></p>`).
			Embed("logo", "logo.png", pngBytes()).
			AttachBytes("发票.pdf", bytes.Repeat([]byte("%PDF-1.4\x00\xff\r\n.\r\n"), 3000)),
		mailer.NewMessage().From(`"Long display name for folding, with a comma" <news@mail.example.com>`).
			To(manyAddrs(10)...).Subject(string(bytes.Repeat([]byte("Folded subject words "), 8))).
			Text(".\n..\n.hidden\nend"),
	} {
		m, err := b.Build()
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// TestWithDKIMSend sends signed messages through the test server, over
// Send and SendRaw, with an RSA and an Ed25519 key, and has both verifiers
// check what the server received.
func TestWithDKIMSend(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	srv := mailertest.NewServer(t)
	rsa := newClient(t, srv.Options(), withDKIM(t, "rsa2048-pkcs8.pem", "rsa"))
	ed := newClient(t, srv.Options(), withDKIM(t, "ed25519.pem", "ed"))
	for _, m := range dkimMessages(t) {
		_, err := rsa.Send(bg, m)
		require.NoError(t, err)
		raw, err := m.Bytes()
		require.NoError(t, err)
		_, err = ed.SendRaw(bg, m.Envelope(), raw)
		require.NoError(t, err)
	}
	dns := dnsOf(newDKIMSigner(t, "rsa2048-pkcs8.pem", "rsa"), newDKIMSigner(t, "ed25519.pem", "ed"))
	var got [][]byte
	for _, m := range srv.Messages() {
		require.NoError(t, verifyGo(t, m.Data, dns), "%s", m.Data)
		assert.Equal(t, 1, bytes.Count(m.Data, []byte("DKIM-Signature:")))
		got = append(got, m.Data)
	}
	require.Len(t, got, 6)
	for i, ok := range verifyPython(t, dns, got...) {
		assert.True(t, ok, "dkimpy rejects message %d:\n%s", i, got[i])
	}
}

// TestWithDKIMRetrySendsSameBytes: the first attempt is lost after the
// final dot (the server kept it), the second delivers; both copies are the
// same bytes, signature included, and both verify.
func TestWithDKIMRetrySendsSameBytes(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true},
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 3, Reply: "451 4.3.0 try again"},
	))
	c := newClient(t, srv.Options(), withDKIM(t, "ed25519.pem", "ed"), fastRetry(3))
	msgs := dkimMessages(t)
	rcpt, err := c.Send(bg, msgs[1]) // attachments: streamed, not prerendered
	require.NoError(t, err)
	assert.True(t, rcpt.MaybeDuplicate)
	rcpt, err = c.Send(bg, msgs[0]) // small: prerendered
	require.NoError(t, err)
	assert.Equal(t, 2, rcpt.Attempts)

	got := srv.Messages()
	require.Len(t, got, 3)
	assert.Equal(t, got[0].Data, got[1].Data, "the retry sent other bytes")
	dns := dnsOf(newDKIMSigner(t, "ed25519.pem", "ed"))
	for _, m := range got {
		require.NoError(t, verifyGo(t, m.Data, dns))
	}
	for i, ok := range verifyPython(t, dns, got[0].Data, got[1].Data, got[2].Data) {
		assert.True(t, ok, "dkimpy rejects copy %d", i)
	}
}

// TestWithDKIMAlignment: a message From another domain is not sent.
func TestWithDKIMAlignment(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, srv.Options(), withDKIM(t, "ed25519.pem", "ed"))
	m, err := mailer.NewMessage().From("alice@example.org").To("bob@example.net").Subject("x").Text("x").Build()
	require.NoError(t, err)
	_, err = c.Send(bg, m)
	require.ErrorIs(t, err, mailer.ErrDKIMAlignment)
	var ae *mailer.DKIMAlignmentError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "alice@example.org", ae.From)
	assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
	assert.Contains(t, err.Error(), `"example.org"`)
	assert.Empty(t, srv.Messages())
	assert.False(t, hasCommand(srv, "MAIL"))
}

// TestWithDKIMValidates: an invalid DKIM option makes New fail naming the
// field.
func TestWithDKIMValidates(t *testing.T) {
	_, err := mailer.New(mailer.WithServer("localhost", 25), mailer.WithDKIM(mailer.DKIM{Domain: "example.com", Selector: "s"}))
	var ce *mailer.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "DKIM.Key", ce.Option)
}
