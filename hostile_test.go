package mailer

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/internal/eml"
)

// hostileCase is one bad input. Either Build fails with wantErr (and the
// error names wantField), or the output is proven safe: it passes
// eml.CheckStructure, has exactly the expected header names, ends DATA
// exactly once after dot-stuffing, and check (if any) sees the decoded
// value equal to the input.
type hostileCase struct {
	name      string
	apply     func(b *MessageBuilder)
	wantErr   error
	wantField string
	check     func(t *testing.T, d decoded, raw []byte)
	extra     []string // header names beyond baseHeaders
	// stdlibOnly skips go-message in check: it decodes RFC 2047 words even
	// inside an RFC 2231 value, so a name that is literally an encoded
	// word cannot round-trip through it.
	stdlibOnly bool
}

// baseHeaders are the header names of a message built by hostileBase.
var baseHeaders = []string{"Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id",
	"Mime-Version", "Subject", "To", "User-Agent", "X-Mailer"}

func hostileBase() *MessageBuilder {
	return NewMessage().From("Sender <sender@example.com>").To("rcpt@example.com").Subject("s").Text("t")
}

func subjectIs(want string) func(*testing.T, decoded, []byte) {
	return func(t *testing.T, d decoded, _ []byte) { assert.Equal(t, want, d.Subject) }
}

func textIs(want string) func(*testing.T, decoded, []byte) {
	return func(t *testing.T, d decoded, _ []byte) {
		assert.Equal(t, strings.TrimSuffix(want, "\r\n")+"\r\n", d.Text)
	}
}

func fileNameIs(want string) func(*testing.T, decoded, []byte) {
	return func(t *testing.T, d decoded, _ []byte) {
		require.Len(t, d.Files, 1)
		assert.Equal(t, want, d.Files[0].Name)
		assert.Equal(t, want, d.Files[0].TypeName)
	}
}

var longToken = strings.Repeat("A", 2000)

var hostileCases = []hostileCase{
	// Subject
	{name: "subject CRLF Bcc", apply: func(b *MessageBuilder) { b.Subject("Hi\r\nBcc: evil@attacker.test") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject LF", apply: func(b *MessageBuilder) { b.Subject("Hi\nBcc: evil@attacker.test") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject CR", apply: func(b *MessageBuilder) { b.Subject("Hi\rBcc: evil@attacker.test") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject NUL", apply: func(b *MessageBuilder) { b.Subject("Hi\x00there") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject ESC", apply: func(b *MessageBuilder) { b.Subject("Hi\x1b[31mred") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject DEL", apply: func(b *MessageBuilder) { b.Subject("Hi\x7f") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject C1 NEL", apply: func(b *MessageBuilder) { b.Subject("Hi\u0085there") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject bidi override", apply: func(b *MessageBuilder) { b.Subject("invoice \u202efdp.exe") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject invalid UTF-8", apply: func(b *MessageBuilder) { b.Subject("bad \xff\xfe") }, wantErr: ErrInvalidHeader, wantField: "Subject"},
	{name: "subject U+2028 encoded", apply: func(b *MessageBuilder) { b.Subject("line\u2028separator") }, check: subjectIs("line\u2028separator")},
	{name: "subject percent CRLF literal", apply: func(b *MessageBuilder) { b.Subject("Hi%0d%0aBcc: x@y") }, check: subjectIs("Hi%0d%0aBcc: x@y")},
	{name: "subject 2000-char token", apply: func(b *MessageBuilder) { b.Subject(longToken) }, check: subjectIs(longToken)},
	{name: "subject literal encoded word", apply: func(b *MessageBuilder) { b.Subject("=?UTF-8?B?SGFja2Vk?=") }, check: subjectIs("=?UTF-8?B?SGFja2Vk?=")},
	{name: "subject leading trailing spaces", apply: func(b *MessageBuilder) { b.Subject("  padded  ") }, check: subjectIs("  padded  ")},
	{name: "subject double spaces at folds", apply: func(b *MessageBuilder) { b.Subject(strings.Repeat("word  ", 30) + "end") },
		check: subjectIs(strings.Repeat("word  ", 30) + "end")},
	{name: "subject tab", apply: func(b *MessageBuilder) { b.Subject("a\tb") }, check: subjectIs("a\tb")},
	{name: "subject ZWJ emoji", apply: func(b *MessageBuilder) { b.Subject("dev 👨\u200d💻 ☝️💪👍") }, check: subjectIs("dev 👨\u200d💻 ☝️💪👍")},

	// Header names
	{name: "header name CRLF", apply: func(b *MessageBuilder) { b.Header("X-A: b\r\nBcc", "evil@x.test") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name space", apply: func(b *MessageBuilder) { b.Header("X A", "v") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name colon", apply: func(b *MessageBuilder) { b.Header("X:A", "v") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name empty", apply: func(b *MessageBuilder) { b.Header("", "v") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name non-ASCII", apply: func(b *MessageBuilder) { b.Header("X-Ünï", "v") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name 2000 chars", apply: func(b *MessageBuilder) { b.Header("X-"+longToken, "v") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name Bcc", apply: func(b *MessageBuilder) { b.Header("Bcc", "evil@x.test") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name content-type", apply: func(b *MessageBuilder) { b.Header("content-type", "text/html") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name Content-Foo", apply: func(b *MessageBuilder) { b.Header("Content-Foo", "x") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name MIME-Version", apply: func(b *MessageBuilder) { b.Header("MIME-Version", "2.0") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name List-Unsubscribe", apply: func(b *MessageBuilder) { b.Header("List-Unsubscribe", "<https://x>") }, wantErr: ErrInvalidHeader, wantField: "Header"},
	{name: "header name Message-ID", apply: func(b *MessageBuilder) { b.Header("Message-Id", "<x@y>") }, wantErr: ErrInvalidHeader, wantField: "Header"},

	// Header values
	{name: "header value CRLF", apply: func(b *MessageBuilder) { b.Header("X-Tag", "v\r\nBcc: evil@x.test") }, wantErr: ErrInvalidHeader, wantField: `Header "X-Tag"`},
	{name: "header value LF", apply: func(b *MessageBuilder) { b.Header("X-Tag", "v\n") }, wantErr: ErrInvalidHeader, wantField: `Header "X-Tag"`},
	{name: "header value NUL", apply: func(b *MessageBuilder) { b.Header("X-Tag", "v\x00") }, wantErr: ErrInvalidHeader, wantField: `Header "X-Tag"`},
	{name: "header value DEL", apply: func(b *MessageBuilder) { b.Header("X-Tag", "v\x7f") }, wantErr: ErrInvalidHeader, wantField: `Header "X-Tag"`},
	{name: "header value 2000-char token", apply: func(b *MessageBuilder) { b.Header("X-Tag", longToken) }, extra: []string{"X-Tag"},
		check: func(t *testing.T, _ decoded, raw []byte) {
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			require.NoError(t, err)
			var dec mime.WordDecoder
			got, err := dec.DecodeHeader(msg.Header.Get("X-Tag"))
			require.NoError(t, err)
			assert.Equal(t, longToken, got)
		}},

	// Addresses
	{name: "address CRLF RCPT", apply: func(b *MessageBuilder) { b.To("bob@example.com\r\nRCPT TO:<x@y.test>") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address LF Bcc", apply: func(b *MessageBuilder) { b.To("bob@example.com\nBcc: x@y.test") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address ORCPT quoted", apply: func(b *MessageBuilder) { b.To(`"a@b.com> ORCPT=rfc822;x@y"@b.com`) }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address ORCPT after bracket", apply: func(b *MessageBuilder) { b.To("<a@b.com> ORCPT=rfc822;x@y") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address ORCPT bare", apply: func(b *MessageBuilder) { b.To("a@b.com> ORCPT=rfc822;x@y") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address SIZE param", apply: func(b *MessageBuilder) { b.From("a@b.com> SIZE=1") }, wantErr: ErrInvalidAddress, wantField: "From"},
	{name: "address leading dash", apply: func(b *MessageBuilder) { b.To("-oQ/tmp/@example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address sendmail argv", apply: func(b *MessageBuilder) { b.From(`"attacker\" -oQ/tmp/ -X/var/www/x.php"@example.com`) }, wantErr: ErrInvalidAddress, wantField: "From"},
	{name: "address NUL", apply: func(b *MessageBuilder) { b.To("a\x00b@example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address name CRLF", apply: func(b *MessageBuilder) { b.From("Evil\r\nBcc: x@y.test <a@example.com>") }, wantErr: ErrInvalidAddress, wantField: "From"},
	{name: "address encoded name CRLF", apply: func(b *MessageBuilder) { b.From("=?UTF-8?Q?Evil=0D=0ABcc:_x@y?= <a@example.com>") }, wantErr: ErrInvalidAddress, wantField: "From"},
	{name: "address list in one", apply: func(b *MessageBuilder) { b.To("a@example.com, c@example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address comment", apply: func(b *MessageBuilder) { b.To("a@example.com (x)evil.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address comment as name", apply: func(b *MessageBuilder) { b.To("a@example.com (Admin)") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address group", apply: func(b *MessageBuilder) { b.To("G: a@example.com;") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address IP literal", apply: func(b *MessageBuilder) { b.To("a@[127.0.0.1]") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address ZWNJ domain", apply: func(b *MessageBuilder) { b.To("user@exam\u200cple.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address local 65 octets", apply: func(b *MessageBuilder) { b.To(strings.Repeat("a", 65) + "@example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address 2000 chars", apply: func(b *MessageBuilder) { b.To(longToken + "@example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address double dot", apply: func(b *MessageBuilder) { b.To("a..b@example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "address bad label", apply: func(b *MessageBuilder) { b.To("a@-example.com") }, wantErr: ErrInvalidAddress, wantField: "To"},
	{name: "reply-to CRLF", apply: func(b *MessageBuilder) { b.ReplyTo("x@example.com\r\n") }, wantErr: ErrInvalidAddress, wantField: "Reply-To"},
	{name: "cc tab", apply: func(b *MessageBuilder) { b.Cc("x@example.com\t") }, wantErr: ErrInvalidAddress, wantField: "Cc"},
	{name: "bcc injection", apply: func(b *MessageBuilder) { b.Bcc("x@example.com\r\nDATA") }, wantErr: ErrInvalidAddress, wantField: "Bcc"},
	{name: "address quoted name with specials", apply: func(b *MessageBuilder) { b.To(`"Evil\" <x@y.test>, z@w.test" <a@example.com>`) },
		check: func(t *testing.T, d decoded, _ []byte) {
			assert.Equal(t, []string{"rcpt@example.com", `Evil" <x@y.test>, z@w.test <a@example.com>`}, d.To)
		}},

	// File names
	{name: "filename CRLF", apply: func(b *MessageBuilder) { b.AttachBytes("a\r\nContent-Type: text/html", []byte("x")) }, wantErr: ErrInvalidHeader, wantField: "AttachBytes name"},
	{name: "filename LF", apply: func(b *MessageBuilder) { b.AttachBytes("a\nb.txt", []byte("x")) }, wantErr: ErrInvalidHeader, wantField: "AttachBytes name"},
	{name: "filename NUL", apply: func(b *MessageBuilder) { b.AttachBytes("a\x00.txt", []byte("x")) }, wantErr: ErrInvalidHeader, wantField: "AttachBytes name"},
	{name: "filename path", apply: func(b *MessageBuilder) { b.AttachBytes("../../etc/passwd", []byte("x")) }, wantErr: ErrInvalidHeader, wantField: "AttachBytes name"},
	{name: "filename 2000 chars", apply: func(b *MessageBuilder) { b.AttachBytes(longToken+".txt", []byte("x")) }, wantErr: ErrInvalidHeader, wantField: "AttachBytes name"},
	{name: "filename reader CRLF", apply: func(b *MessageBuilder) { b.AttachReader("x\r\n.txt", strings.NewReader("x")) }, wantErr: ErrInvalidHeader, wantField: "AttachReader name"},
	{name: "filename quote and semicolon", apply: func(b *MessageBuilder) { b.AttachBytes(`a"; filename="evil.exe`, []byte("x")) }, check: fileNameIs(`a"; filename="evil.exe`)},
	{name: "filename literal encoded word", apply: func(b *MessageBuilder) { b.AttachBytes("=?UTF-8?B?ZXZpbA==?=.txt", []byte("x")) }, check: fileNameIs("=?UTF-8?B?ZXZpbA==?=.txt"), stdlibOnly: true},
	{name: "filename 250 CJK octets", apply: func(b *MessageBuilder) { b.AttachBytes(strings.Repeat("报", 82)+".pdf", []byte("x")) }, check: fileNameIs(strings.Repeat("报", 82) + ".pdf")},

	// Content-IDs
	{name: "content-id CRLF", apply: func(b *MessageBuilder) { b.HTML("<img src=cid:x>").Embed("logo\r\nX-Evil: 1", "a.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "content-id brackets", apply: func(b *MessageBuilder) { b.HTML("x").Embed("<logo>", "a.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "content-id two at", apply: func(b *MessageBuilder) { b.HTML("x").Embed("a@b@c", "a.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "content-id space", apply: func(b *MessageBuilder) { b.HTML("x").Embed("lo go", "a.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "content-id quote", apply: func(b *MessageBuilder) { b.HTML("x").Embed(`a"onerror="x`, "a.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "content-id 2000 chars", apply: func(b *MessageBuilder) { b.HTML("x").Embed(longToken, "a.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "content-id duplicate", apply: func(b *MessageBuilder) { b.HTML("x").Embed("a", "a.png", tinyPNG).Embed("a", "b.png", tinyPNG) }, wantErr: ErrInvalidHeader, wantField: "Content-ID"},
	{name: "embed without HTML", apply: func(b *MessageBuilder) { b.Embed("a", "a.png", tinyPNG) }, wantErr: ErrEmbedWithoutHTML, wantField: "Embed"},

	// Bodies
	{name: "body bare CR", apply: func(b *MessageBuilder) { b.Text("a\rb\rc") }, check: textIs("a\r\nb\r\nc")},
	{name: "body bare LF", apply: func(b *MessageBuilder) { b.Text("a\nb\n") }, check: textIs("a\r\nb\r\n")},
	{name: "body CRLF.CRLF", apply: func(b *MessageBuilder) { b.Text("a\r\n.\r\nMAIL FROM:<x@y.test>\r\n") }, check: textIs("a\r\n.\r\nMAIL FROM:<x@y.test>\r\n")},
	{name: "body smuggling vectors", apply: func(b *MessageBuilder) { b.Text("a\n.\nb\r.\rc\r.\nd\n.\r\ne\r\n.\nf\r.\r\ng") },
		check: textIs("a\r\n.\r\nb\r\n.\r\nc\r\n.\r\nd\r\n.\r\ne\r\n.\r\nf\r\n.\r\ng")},
	{name: "body dot lines", apply: func(b *MessageBuilder) { b.Text(".\n..x\n.") }, check: textIs(".\r\n..x\r\n.")},
	{name: "body 5000-char line", apply: func(b *MessageBuilder) { b.Text(strings.Repeat("y", 5000)) }, check: textIs(strings.Repeat("y", 5000))},
	{name: "body boundary lookalike", apply: func(b *MessageBuilder) { b.Text("--=_abc\n--=_abc--\n").HTML("<p>--=_x</p>") },
		check: func(t *testing.T, d decoded, _ []byte) {
			assert.Equal(t, "alternative(text/plain,text/html)", d.Tree)
			assert.Equal(t, "--=_abc\r\n--=_abc--\r\n", d.Text)
		}},
	{name: "body invalid UTF-8", apply: func(b *MessageBuilder) { b.Text("bad \xc3\x28") }, wantErr: ErrInvalidBody, wantField: "Text"},
	{name: "html NUL", apply: func(b *MessageBuilder) { b.HTML("<p>\x00</p>") }, wantErr: ErrInvalidBody, wantField: "HTML"},
	{name: "html invalid UTF-8", apply: func(b *MessageBuilder) { b.HTML("<p>\xff</p>") }, wantErr: ErrInvalidBody, wantField: "HTML"},

	// List-Unsubscribe, Message-ID, User-Agent
	{name: "unsubscribe CRLF", apply: func(b *MessageBuilder) { b.ListUnsubscribe("https://x.test/u\r\nBcc: y@z.test") }, wantErr: ErrInvalidHeader, wantField: "ListUnsubscribe"},
	{name: "unsubscribe javascript", apply: func(b *MessageBuilder) { b.ListUnsubscribe("javascript:alert(1)") }, wantErr: ErrInvalidHeader, wantField: "ListUnsubscribe"},
	{name: "unsubscribe bracket break", apply: func(b *MessageBuilder) { b.ListUnsubscribe("https://x.test/a>, <mailto:evil@x.test") }, wantErr: ErrInvalidHeader, wantField: "ListUnsubscribe"},
	{name: "one-click without https", apply: func(b *MessageBuilder) { b.ListUnsubscribe("mailto:u@x.test").OneClickUnsubscribe() }, wantErr: ErrInvalidHeader, wantField: "OneClickUnsubscribe"},
	{name: "message-id CRLF", apply: func(b *MessageBuilder) { b.MessageID("a@b\r\nBcc: x@y.test") }, wantErr: ErrInvalidHeader, wantField: "Message-ID"},
	{name: "message-id no at", apply: func(b *MessageBuilder) { b.MessageID("no-at-sign") }, wantErr: ErrInvalidHeader, wantField: "Message-ID"},
	{name: "user-agent CRLF", apply: func(b *MessageBuilder) { b.UserAgent("x\r\nBcc: y@z.test") }, wantErr: ErrInvalidHeader, wantField: "UserAgent"},
	// Headers that carry addresses
	{name: "header Resent-Bcc", apply: func(b *MessageBuilder) { b.Header("Resent-Bcc", "hidden@example.com") }, wantErr: ErrInvalidHeader, wantField: `Header "Resent-Bcc"`},
	{name: "header resent-bcc lower case", apply: func(b *MessageBuilder) { b.Header("resent-bcc", "hidden@example.com") }, wantErr: ErrInvalidHeader, wantField: `Header "resent-bcc"`},
	{name: "header Errors-To not an address", apply: func(b *MessageBuilder) { b.Header("Errors-To", "bounces, <evil") }, wantErr: ErrInvalidAddress, wantField: `Header "Errors-To"`},
	{name: "header Return-Receipt-To group", apply: func(b *MessageBuilder) { b.Header("Return-Receipt-To", "G: a@example.com;") }, wantErr: ErrInvalidAddress, wantField: `Header "Return-Receipt-To"`},
	{name: "header Resent-To comment", apply: func(b *MessageBuilder) { b.Header("Resent-To", "a@example.com (x)evil.com") }, wantErr: ErrInvalidAddress, wantField: `Header "Resent-To"`},
	{name: "header Resent-Cc empty", apply: func(b *MessageBuilder) { b.Header("Resent-Cc", "") }, wantErr: ErrInvalidAddress, wantField: `Header "Resent-Cc"`},
	{name: "header Disposition-Notification-To non-ASCII local part", apply: func(b *MessageBuilder) { b.Header("Disposition-Notification-To", "zoë@example.com") },
		wantErr: ErrInvalidAddress, wantField: `Header "Disposition-Notification-To"`},
	{name: "header Disposition-Notification-To addresses", extra: []string{"Disposition-Notification-To"},
		apply: func(b *MessageBuilder) {
			b.Header("Disposition-Notification-To", `"Doe, Jane" <jane@example.com>, Zoë Ünal <zoe@example.com>,bob@example.com`)
		},
		check: func(t *testing.T, _ decoded, raw []byte) {
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			require.NoError(t, err)
			list, err := msg.Header.AddressList("Disposition-Notification-To")
			require.NoError(t, err)
			assert.Equal(t, []*mail.Address{{Name: "Doe, Jane", Address: "jane@example.com"},
				{Name: "Zoë Ünal", Address: "zoe@example.com"}, {Address: "bob@example.com"}}, list)
		}},

	// Date
	{name: "date year 10000", apply: func(b *MessageBuilder) { b.Date(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) }, wantErr: ErrInvalidHeader, wantField: "Date"},
	{name: "date year -1", apply: func(b *MessageBuilder) { b.Date(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)) }, wantErr: ErrInvalidHeader, wantField: "Date"},
	{name: "date offset +24h", apply: func(b *MessageBuilder) { b.Date(time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))) }, wantErr: ErrInvalidHeader, wantField: "Date"},
	{name: "date offset -24h", apply: func(b *MessageBuilder) { b.Date(time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600))) }, wantErr: ErrInvalidHeader, wantField: "Date"},
	{name: "date sub-minute offset", apply: func(b *MessageBuilder) { b.Date(time.Date(1920, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 19*60+32))) }, wantErr: ErrInvalidHeader, wantField: "Date"},
	{name: "date offset -23:59 year 9999", apply: func(b *MessageBuilder) {
		b.Date(time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60))))
	}, check: func(t *testing.T, _ decoded, raw []byte) {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		d, err := msg.Header.Date()
		require.NoError(t, err)
		assert.True(t, d.Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))), "%v", d)
	}},
	{name: "priority unknown", apply: func(b *MessageBuilder) { b.Priority(Priority(9)) }, wantErr: ErrInvalidHeader, wantField: "Priority"},
}

func TestHostileInput(t *testing.T) {
	require.GreaterOrEqual(t, len(hostileCases), 50)
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			b := hostileBase()
			c.apply(b)
			m, err := b.Build()
			if c.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, c.wantErr)
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, c.wantField, fe.Field)
				assert.Nil(t, m)
				return
			}
			require.NoError(t, err)
			raw := writeMessage(t, m)
			assertSafe(t, raw, c.extra)
			if c.check != nil {
				c.check(t, readStdlib(t, raw), raw)
				if !c.stdlibOnly {
					c.check(t, readGoMessage(t, raw), raw)
				}
			}
		})
	}
}

// assertSafe proves that raw cannot inject anything: it passes
// CheckStructure, its header names are exactly the expected ones, and
// after SMTP dot-stuffing the data ends exactly once, at its end.
func assertSafe(t testing.TB, raw []byte, extra []string) {
	t.Helper()
	require.NoError(t, eml.CheckStructure(raw, false))
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	var names []string
	for k := range msg.Header {
		names = append(names, k)
	}
	want := slices.Clone(baseHeaders)
	for _, e := range extra {
		want = append(want, textproto.CanonicalMIMEHeaderKey(e))
	}
	if strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/") {
		want = slices.DeleteFunc(want, func(s string) bool { return s == "Content-Transfer-Encoding" })
	}
	slices.Sort(names)
	slices.Sort(want)
	assert.Equal(t, slices.Compact(want), names, "header names")

	var wire bytes.Buffer
	bw := bufio.NewWriter(&wire)
	dw := textproto.NewWriter(bw).DotWriter()
	_, err = dw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, dw.Close())
	require.NoError(t, bw.Flush())
	data := wire.Bytes()
	assert.Equal(t, 1, bytes.Count(data, []byte("\r\n.\r\n")), "end of data")
	assert.True(t, bytes.HasSuffix(data, []byte("\r\n.\r\n")))
}
