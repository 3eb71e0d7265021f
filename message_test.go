package mailer

import (
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	gmmail "github.com/emersion/go-message/mail"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/internal/eml"
)

func TestBuildJoinsEveryError(t *testing.T) {
	_, err := NewMessage().From("bad").To("also bad", "ok@example.com").Subject("a\nb").
		Header("Bcc", "x").Text("\xff").Embed("<x>", "a.png", nil).Build()
	require.Error(t, err)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		require.ErrorAs(t, e, &fe, "%v", e)
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"From", "To", "Subject", "Header", "Text", "Content-ID"}, fields)
	assert.ErrorIs(t, err, ErrInvalidAddress)
	assert.ErrorIs(t, err, ErrInvalidHeader)
	assert.ErrorIs(t, err, ErrInvalidBody)

	_, err = NewMessage().Build()
	assert.ErrorIs(t, err, ErrNoSender)
	assert.ErrorIs(t, err, ErrNoRecipients)
}

func TestBuilderReuseDoesNotChangeMessage(t *testing.T) {
	b := NewMessage().From("a@example.com").To("b@example.com").Subject("one").
		Header("X-Tag", "1").AttachBytes("a.txt", []byte("a"))
	m1, err := b.Build()
	require.NoError(t, err)
	b.To("c@example.com").Subject("two").Header("X-Tag", "2").AttachBytes("b.txt", []byte("b"))
	m2, err := b.Build()
	require.NoError(t, err)
	assert.Equal(t, "one", m1.Subject())
	assert.Equal(t, []string{"b@example.com"}, m1.Recipients())
	assert.Equal(t, []string{"1"}, m1.Header("x-tag"))
	assert.Equal(t, []string{"a.txt"}, m1.Attachments())
	assert.Equal(t, []string{"1", "2"}, m2.Header("X-Tag"))
	assert.NotEqual(t, m1.MessageID(), m2.MessageID())

	// Accessors return copies.
	to := m1.To()
	to[0].Address = "evil@example.com"
	assert.Equal(t, "b@example.com", m1.To()[0].Address)

	// Writing twice gives the same bytes, boundaries included; another
	// message built by the same builder has other boundaries.
	raw1, raw2 := writeMessage(t, m1), writeMessage(t, m1)
	assert.Equal(t, string(raw1), string(raw2), "the same bytes on each write")
	assert.NotEqual(t, boundaryOf(t, raw1), boundaryOf(t, writeMessage(t, m2)))
}

func TestOptionalHeaders(t *testing.T) {
	m, err := NewMessage().From("a@example.com").To("b@example.com").Subject("s").Text("t").
		Priority(PriorityHigh).ListUnsubscribe("https://example.com/u?id=1", "mailto:u@example.com").
		OneClickUnsubscribe().UserAgent("acme-notify").MessageID("<fixed.1@example.com>").
		Date(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)).Build()
	require.NoError(t, err)
	head, _, _ := strings.Cut(string(writeMessage(t, m)), "\r\n\r\n")
	for _, want := range []string{
		"Date: Tue, 02 Jan 2024 03:04:05 +0000",
		"Message-ID: <fixed.1@example.com>",
		"List-Unsubscribe: <https://example.com/u?id=1>, <mailto:u@example.com>",
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
		"X-Priority: 1 (Highest)",
		"Importance: high",
		"User-Agent: acme-notify",
		"X-Mailer: acme-notify",
		"MIME-Version: 1.0",
	} {
		assert.Contains(t, head, want+"\r\n")
	}
	assert.Equal(t, PriorityHigh, m.Priority())
	assert.Equal(t, "fixed.1@example.com", m.MessageID())

	m, err = NewMessage().From("a@example.com").Bcc("hidden.bcc@example.net").UserAgent("").Build()
	require.NoError(t, err)
	head, _, _ = strings.Cut(string(writeMessage(t, m)), "\r\n\r\n")
	assert.NotContains(t, head, "User-Agent")
	assert.NotContains(t, head, "X-Mailer")
	assert.NotContains(t, head, "Priority")
	assert.NotContains(t, head, "hidden.bcc", "Bcc stays out of the header")
	assert.Contains(t, head, "To: undisclosed-recipients:;\r\n")
	assert.Equal(t, DefaultUserAgent, mustBuild(t, NewMessage().From("a@example.com").To("b@example.com")).UserAgent())
}

func mustBuild(t *testing.T, b *MessageBuilder) *Message {
	t.Helper()
	m, err := b.Build()
	require.NoError(t, err)
	return m
}

func TestAlternativeOrder(t *testing.T) {
	// HTML set before Text: the text part still comes first.
	m := mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").HTML("<p>h</p>").Text("t"))
	d := readStdlib(t, writeMessage(t, m))
	assert.Equal(t, "alternative(text/plain,text/html)", d.Tree)
}

func TestHTMLOnlyDerivesText(t *testing.T) {
	m := mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").
		HTML(`<h1>Title</h1><p>Go <a href="https://example.com/x">there</a> or <a href="https://example.com/y">https://example.com/y</a>.</p><ul><li>one</li><li>two</li></ul><script>alert(1)</script>`))
	assert.Equal(t, "*****\nTitle\n*****\n\nGo there (https://example.com/x) or https://example.com/y.\n\n* one\n* two", m.Text())
	assert.Equal(t, "", mustBuild(t, NewMessage().From("a@example.com").To("b@example.com")).Text())
}

func TestPriorityString(t *testing.T) {
	assert.Equal(t, "normal", PriorityNormal.String())
	assert.Equal(t, "high", PriorityHigh.String())
	assert.Equal(t, "low", PriorityLow.String())
	assert.Equal(t, "priority(7)", Priority(7).String())
	m := mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").Priority(PriorityLow))
	head, _, _ := strings.Cut(string(writeMessage(t, m)), "\r\n\r\n")
	assert.Contains(t, head, "X-Priority: 5 (Lowest)\r\nImportance: low\r\n")
}

func TestUnsubscribeURIs(t *testing.T) {
	for _, ok := range []string{"https://example.com/u", "http://example.com/u?a=1&b=2", "mailto:u@example.com?subject=unsubscribe", "HTTPS://EXAMPLE.COM/"} {
		assert.NoError(t, checkUnsubscribeURI(ok), ok)
	}
	for _, bad := range []string{"", "ftp://x", "https:///nohost", "mailto:", "https://exa mple.com", "https://例子.中国/", "https://x/<y>", "https://x/a,b", strings.Repeat("h", 901)} {
		err := checkUnsubscribeURI(bad)
		assert.True(t, errors.Is(err, ErrInvalidHeader), "%q: %v", bad, err)
	}
}

// TestConcurrentWriteTo writes one Message from several goroutines at
// once (run with -race): a Message is shared, never changed by writing.
func TestConcurrentWriteTo(t *testing.T) {
	m := goldenCases[3].build(t) // Chinese, with an attachment
	want := string(eml.Normalize(writeMessage(t, m)))
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			var buf bytes.Buffer
			if _, err := m.WriteTo(&buf); err == nil {
				got[i] = string(eml.Normalize(buf.Bytes()))
			}
		})
	}
	wg.Wait()
	for _, g := range got {
		assert.Equal(t, want, g)
	}
}

// boundaryOf returns the boundary of the top-level multipart of raw.
func boundaryOf(t *testing.T, raw []byte) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(raw), `boundary="`)
	require.True(t, ok, "no boundary")
	b, _, _ := strings.Cut(rest, `"`)
	return b
}

// TestThreadingHeaders: In-Reply-To and References hold msg-ids (RFC 5322
// section 3.6.4), which encoded words may not replace (RFC 2047 section 5):
// however long the ids (Outlook's pass 80 characters), they are written as
// they are, folded between ids, and read back as ids by go-message and
// net/mail. An id without angle brackets, as Message.MessageID returns
// it, gets them.
func TestThreadingHeaders(t *testing.T) {
	outlook := "AM0PR02MB5521E0B7B2A6C1F3D3B8C4A5E2A4@AM0PR02MB5521.eurprd02.prod.outlook.com"
	gmail := "CAHt6W4dXyZ+abc=def_ghi-JKLmnopQRSTuvwx9Yz0@mail.gmail.com"
	m := mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").Subject("Re: x").Text("t").
		Header("In-Reply-To", "<"+outlook+">").
		Header("References", "<"+gmail+">\t<"+outlook+"> bare.1@example.com")) // bare: as MessageID returns it
	raw := writeMessage(t, m)
	require.NoError(t, eml.CheckStructure(raw, false))

	e, err := gomessage.Read(bytes.NewReader(raw))
	require.NoError(t, err)
	h := gmmail.Header{Header: e.Header}
	got, err := h.MsgIDList("In-Reply-To")
	require.NoError(t, err)
	assert.Equal(t, []string{outlook}, got)
	got, err = h.MsgIDList("References")
	require.NoError(t, err)
	assert.Equal(t, []string{gmail, outlook, "bare.1@example.com"}, got)

	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.Equal(t, "<"+outlook+">", msg.Header.Get("In-Reply-To"))
	assert.Equal(t, "<"+gmail+"> <"+outlook+"> <bare.1@example.com>", msg.Header.Get("References"))

	for _, bad := range []string{"<a@b.example> <c d@e>", "<用户@例子.中国>", "<a@b.example", "plain text"} {
		_, err := NewMessage().From("a@example.com").To("b@example.com").Header("References", bad).Build()
		require.ErrorIs(t, err, ErrInvalidHeader, bad)
	}
}

// TestCustomHeaderLongToken: a printable ASCII value with a token too long
// for a 76-octet line, such as the compact JSON of a provider's API header
// (SparkPost's X-MSYS-API, Mailgun's X-Mailgun-Variables), is written as
// it is on a longer line (RFC 5322 allows 998 octets), not as RFC 2047
// encoded words that the provider's parser and net/mail read literally.
func TestCustomHeaderLongToken(t *testing.T) {
	api := `{"campaign_id":"password-reset","metadata":{"user_id":"12345","tenant":"acme-corporation"}}`
	vars := `{"order":"A-1001"} ` + strings.Repeat("x", 200) + ` end`
	m := mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").Subject("s").Text("t").
		Header("X-MSYS-API", api).Header("X-Mailgun-Variables", vars))
	raw := writeMessage(t, m)
	require.NoError(t, eml.CheckStructure(raw, false))
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.Equal(t, api, msg.Header.Get("X-MSYS-API"))
	assert.Equal(t, vars, msg.Header.Get("X-Mailgun-Variables"))
	e, err := gomessage.Read(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.Equal(t, api, e.Header.Get("X-MSYS-API"))
}
