package mailer_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
)

// dkimGoldens are the messages every key signs: the hard cases for a
// signature (non-ASCII words, attachments, folding, dot lines).
func dkimGoldens(t testing.TB) map[string][]byte {
	t.Helper()
	date := time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	build := func(b *mailer.MessageBuilder) []byte {
		m, err := b.Date(date).Build()
		require.NoError(t, err)
		var buf bytes.Buffer
		_, err = m.WriteTo(&buf)
		require.NoError(t, err)
		return buf.Bytes()
	}
	out := map[string][]byte{
		"chinese": build(mailer.NewMessage().
			From("张三 <zhangsan@example.com>").
			To("李四 <lisi@example.net>", "王五 <wangwu@example.org>").
			ReplyTo("客服中心 <support@example.com>").
			Subject("您的订单已发货：请查收附件中的发票与物流单号，感谢您选择我们的服务").
			Text("尊敬的李四：\n\n您的订单已发货。\n\n此致\n敬礼").
			ListUnsubscribe("https://example.com/u/abc", "mailto:unsub@example.com").
			OneClickUnsubscribe().
			MessageID("order-1@example.com")),
		"attachments": build(mailer.NewMessage().
			From("Billing <billing@example.com>").
			To("customer@example.net").
			Cc("accounts@example.net").
			Subject("Invoice 2026-03").
			Text("Your invoice is attached.").
			HTML(`<p>Your invoice is attached. <img src="cid:logo"></p>`).
			Embed("logo", "logo.png", pngBytes()).
			AttachBytes("发票 2026-03.pdf", bytes.Repeat([]byte("%PDF-1.4 binary\x00\x01\xff"), 500)).
			AttachBytes("data.csv", []byte("a,b\n1,2\n"))),
		"folded": build(mailer.NewMessage().
			From("A very long display name that goes on and on for the folding <sender@mail.example.com>").
			To(manyAddrs(12)...).
			Subject(strings.Repeat("A long subject line that must be folded ", 6)).
			Header("X-Campaign", strings.Repeat("token-without-spaces-", 10)+" and "+strings.Repeat("words ", 30)).
			Text("Short body.")),
		"dots": build(mailer.NewMessage().
			From("dots@example.com").
			To("bob@example.net").
			Subject("Dot lines").
			Text(".\n..\n.hidden line\n. \nline with trailing spaces   \n\ttabbed\n\n\n\n")),
	}
	return out
}

func manyAddrs(n int) []string {
	var a []string
	for i := range n {
		a = append(a, "Recipient Number "+string(rune('A'+i))+" <recipient-"+string(rune('a'+i))+"@example.net>")
	}
	return a
}

// pngBytes is a small PNG, enough for an inline part.
func pngBytes() []byte {
	return []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
}

var dkimKeys = []struct{ file, selector string }{
	{"rsa2048-pkcs1.pem", "rsa1"},
	{"rsa2048-pkcs8.pem", "rsa8"},
	{"ed25519.pem", "ed"},
}

// TestDKIMVerifiedByTwoVerifiers signs the golden messages with RSA (PKCS#1
// and PKCS#8) and Ed25519 keys and has go-msgauth and dkimpy verify every
// one; the same messages with the Subject changed after signing fail both.
func TestDKIMVerifiedByTwoVerifiers(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	var signers []*mailer.DKIMSigner
	for _, k := range dkimKeys {
		signers = append(signers, newDKIMSigner(t, k.file, k.selector))
	}
	dns := dnsOf(signers...)
	var names []string
	var signed, tampered [][]byte
	for name, msg := range dkimGoldens(t) {
		for i, s := range signers {
			out, err := s.Sign(msg)
			require.NoError(t, err, name)
			label := name + "/" + dkimKeys[i].file
			require.NoError(t, verifyGo(t, out, dns), label)
			names = append(names, label)
			signed = append(signed, out)

			bad := tamperSubject(t, out)
			require.Error(t, verifyGo(t, bad, dns), label+" tampered")
			tampered = append(tampered, bad)
		}
	}
	// One run of dkimpy for both lists (each run costs an interpreter start).
	verdicts := verifyPython(t, dns, append(append([][]byte(nil), signed...), tampered...)...)
	for i, ok := range verdicts[:len(signed)] {
		assert.True(t, ok, "dkimpy rejects %s:\n%s", names[i], signed[i])
	}
	for i, ok := range verdicts[len(signed):] {
		assert.False(t, ok, "dkimpy accepts %s with its Subject changed", names[i])
	}
}

// tamperSubject changes one letter of the Subject's encoded value.
func tamperSubject(t testing.TB, msg []byte) []byte {
	t.Helper()
	i := bytes.Index(msg, []byte("\r\nSubject: "))
	require.Positive(t, i)
	out := bytes.Clone(msg)
	j := i + len("\r\nSubject: ") + 3
	if out[j] == 'x' {
		out[j] = 'y'
	} else {
		out[j] = 'x'
	}
	return out
}

// TestDKIMSignatureHeader checks what the signature says: relaxed/relaxed,
// the header list with From oversigned, and lines of at most 78
// octets.
func TestDKIMSignatureHeader(t *testing.T) {
	s := newDKIMSigner(t, "ed25519.pem", "ed")
	msg := dkimGoldens(t)["chinese"]
	sig, err := s.Signature(msg)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sig, "DKIM-Signature: "))
	require.True(t, strings.HasSuffix(sig, "\r\n"))
	for _, line := range strings.Split(strings.TrimSuffix(sig, "\r\n"), "\r\n") {
		assert.LessOrEqual(t, len(line), 78, line)
	}
	tags := dkimTags(sig)
	assert.Equal(t, "relaxed/relaxed", tags["c"])
	assert.Equal(t, "ed25519-sha256", tags["a"])
	assert.Equal(t, "example.com", tags["d"])
	assert.Equal(t, "ed", tags["s"])
	assert.Equal(t, "From:From:Subject:Date:Message-ID:To:Reply-To:MIME-Version:Content-Type:List-Unsubscribe:List-Unsubscribe-Post", tags["h"])
}

// dkimTags parses a DKIM-Signature field's tags, whitespace removed.
func dkimTags(sig string) map[string]string {
	_, v, _ := strings.Cut(sig, ":")
	tags := map[string]string{}
	for _, t := range strings.Split(v, ";") {
		t = strings.Join(strings.Fields(t), "")
		if k, val, ok := strings.Cut(t, "="); ok {
			tags[k] = val
		}
	}
	return tags
}

// TestDKIMCanonicalizationEdges signs a hand-written message with bare LF
// line ends, tabs, whitespace runs, folded headers and empty lines at the
// end, in all four canonicalizations, and has both verifiers check it.
func TestDKIMCanonicalizationEdges(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	raw, err := os.ReadFile("testdata/dkim/edges.eml")
	require.NoError(t, err)
	key := dkimKey(t, "rsa2048-pkcs1.pem")
	var msgs [][]byte
	var dns = fakeDNS{}
	for _, c := range []string{"relaxed/relaxed", "relaxed/simple", "simple/relaxed", "simple/simple"} {
		s, err := mailer.NewDKIMSigner(mailer.DKIM{Domain: "example.com", Selector: "edges", Key: key, Canonicalization: c})
		require.NoError(t, err)
		r := s.DNSRecord()
		dns[r.Name] = r.Value
		sig, err := s.Signature(raw)
		require.NoError(t, err)
		// The message goes out with CRLF line ends, as SendRaw writes
		// it: bare LFs and bare CRs become CRLF.
		out := []byte(strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(sig + string(raw)))
		require.NoError(t, verifyGo(t, out, dns), c)
		msgs = append(msgs, out)
	}
	for i, ok := range verifyPython(t, dns, msgs...) {
		assert.True(t, ok, "dkimpy rejects canonicalization %d", i)
	}
}

// TestDKIMAlignment: the signing domain must be the From domain, a parent
// or a subdomain of it; otherwise a typed error says so and names both.
func TestDKIMAlignment(t *testing.T) {
	key := dkimKey(t, "ed25519.pem")
	signer := func(domain string) *mailer.DKIMSigner {
		s, err := mailer.NewDKIMSigner(mailer.DKIM{Domain: domain, Selector: "s", Key: key})
		require.NoError(t, err)
		return s
	}
	msg := func(from string) []byte {
		return []byte("From: " + from + "\r\nTo: x@example.net\r\nSubject: hi\r\n\r\nbody\r\n")
	}
	for _, c := range []struct {
		domain, from string
		ok           bool
	}{
		{"example.com", "a@example.com", true},
		{"example.com", "=?utf-8?q?J=C3=B6rg?= <a@EXAMPLE.com>", true},
		{"example.com", "a@mail.example.com", true},
		{"mail.example.com", "a@example.com", true},
		{"example.com", "a@example.net", false},
		{"example.com", "a@notexample.com", false},
		{"example.com", "a@example.com, b@example.com", false},
		{"bücher.example", "a@xn--bcher-kva.example", true},
	} {
		_, err := signer(c.domain).Signature(msg(c.from))
		if c.ok {
			assert.NoError(t, err, "%s / %s", c.domain, c.from)
			continue
		}
		require.ErrorIs(t, err, mailer.ErrDKIMAlignment, "%s / %s", c.domain, c.from)
		var ae *mailer.DKIMAlignmentError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, c.domain, ae.Domain)
	}
	_, err := signer("example.com").Signature([]byte("To: x@example.net\r\n\r\nno from\r\n"))
	require.ErrorIs(t, err, mailer.ErrDKIMAlignment)
	assert.Contains(t, err.Error(), "no single From")
}

// TestParseDKIMKey reads PKCS#1 and PKCS#8 keys and refuses short,
// encrypted and malformed ones with errors that never quote the key.
func TestParseDKIMKey(t *testing.T) {
	for _, f := range []string{"rsa2048-pkcs1.pem", "rsa2048-pkcs8.pem", "ed25519.pem"} {
		dkimKey(t, f)
	}
	for file, want := range map[string]string{
		"rsa1024.pem":           "1024 bits",
		"ed25519-encrypted.pem": "encrypted",
	} {
		pemBytes, err := os.ReadFile("testdata/dkim/" + file)
		require.NoError(t, err)
		_, err = mailer.ParseDKIMKey(pemBytes)
		require.ErrorIs(t, err, mailer.ErrInvalidConfig, file)
		assert.Contains(t, err.Error(), want)
	}
	_, err := mailer.ParseDKIMKey([]byte("not a key"))
	require.ErrorIs(t, err, mailer.ErrInvalidConfig)
	garbled := []byte("-----BEGIN PRIVATE KEY-----\nTUlJQ2RnSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NBbUF3\n-----END PRIVATE KEY-----\n")
	_, err = mailer.ParseDKIMKey(garbled)
	require.ErrorIs(t, err, mailer.ErrInvalidConfig)
	assert.NotContains(t, err.Error(), "TUlJQ2")
}

// TestNewDKIMSignerValidates names the field at fault.
func TestNewDKIMSignerValidates(t *testing.T) {
	key := dkimKey(t, "ed25519.pem")
	for field, d := range map[string]mailer.DKIM{
		"DKIM.Domain":           {Selector: "s", Key: key},
		"DKIM.Selector":         {Domain: "example.com", Key: key},
		"DKIM.Key":              {Domain: "example.com", Selector: "s"},
		"DKIM.Canonicalization": {Domain: "example.com", Selector: "s", Key: key, Canonicalization: "loose"},
		"DKIM.Headers":          {Domain: "example.com", Selector: "s", Key: key, Headers: []string{"Bad Name"}},
	} {
		_, err := mailer.NewDKIMSigner(d)
		var ce *mailer.ConfigError
		require.True(t, errors.As(err, &ce), field)
		assert.Equal(t, field, ce.Option)
	}
}

// TestDKIMRecord prints the TXT record, split into strings of at most 255
// octets; go-msgauth accepted the same Value in the tests above.
func TestDKIMRecord(t *testing.T) {
	r := newDKIMSigner(t, "rsa2048-pkcs1.pem", "s1").DNSRecord()
	assert.Equal(t, "s1._domainkey.example.com", r.Name)
	assert.True(t, strings.HasPrefix(r.Value, "v=DKIM1; k=rsa; p=MII"), r.Value)
	line := r.String()
	assert.True(t, strings.HasPrefix(line, `s1._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=`), line)
	assert.Equal(t, 2, strings.Count(line, `" "`)+1, "a 2048-bit key takes two strings: %s", line)
	e := newDKIMSigner(t, "ed25519.pem", "ed").DNSRecord()
	assert.Regexp(t, `^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$`, e.Value)
}

// TestDKIMLongDomainAndSelector: a signing domain or selector too long to
// share a 76-octet line is written whole on a line of its own, never
// folded inside (RFC 6376 allows no white space in a domain name), so
// that both verifiers find the key and accept the signature.
func TestDKIMLongDomainAndSelector(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	domain := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + ".example.com"
	selector := strings.Repeat("s", 63) + "." + strings.Repeat("t", 20)
	m, err := mailer.NewMessage().From("Sender <sender@" + domain + ">").To("bob@example.net").
		Subject("long d=").Text("hello\n").Build()
	require.NoError(t, err)
	raw, err := m.Bytes()
	require.NoError(t, err)
	s, err := mailer.NewDKIMSigner(mailer.DKIM{Domain: domain, Selector: selector, Key: dkimKey(t, "ed25519.pem")})
	require.NoError(t, err)
	out, err := s.Sign(raw)
	require.NoError(t, err)
	sig, _, _ := strings.Cut(string(out), "\r\nFrom:")
	unfolded := strings.ReplaceAll(sig, "\r\n", "")
	assert.Contains(t, unfolded, " d="+domain+";", "d= folded inside:\n%s", sig)
	assert.Contains(t, unfolded, " s="+selector+";", "s= folded inside:\n%s", sig)
	for _, line := range strings.Split(sig, "\r\n") {
		assert.LessOrEqual(t, len(line), 998)
	}
	dns := dnsOf(s)
	require.NoError(t, verifyGo(t, out, dns))
	assert.Equal(t, []bool{true}, verifyPython(t, dns, out), "dkimpy rejects:\n%s", sig)
}
