package mailer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/internal/eml"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.eml")

// goldenDate is the Date of every golden message.
var goldenDate = time.Date(2024, 3, 15, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))

// tinyPNG is a valid 1×1 PNG.
var tinyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" +
	"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// goldenFile is an attachment of a golden case: name and content.
type goldenFile struct {
	name   string
	data   []byte
	cid    string
	inline bool
}

type goldenCase struct {
	name    string
	subject string
	from    string
	to      []string
	text    string
	html    string
	files   []goldenFile
	// wantTree is the MIME tree every reader must find.
	wantTree string
	// wantText is the decoded text part; "" means text itself.
	wantText string
}

func pdfBytes(n int) []byte {
	b := []byte("%PDF-1.4\n")
	for i := 0; len(b) < n; i++ {
		b = append(b, byte(i*7+i/13))
	}
	return b
}

var goldenCases = []goldenCase{
	{
		name: "plain", subject: "Your verification code",
		from: "Example <noreply@example.com>", to: []string{"bob@example.com"},
		text:     "Your code is 123456.\nIt expires in 10 minutes.\n\n-- \nExample\n",
		wantTree: "text/plain",
	},
	{
		name: "alternative", subject: "Reset your password",
		from: "Example Support <support@example.com>", to: []string{"Bob Smith <bob@example.com>"},
		text:     "Hi Bob,\n\nReset your password: https://example.com/reset?t=abc\n",
		html:     "<p>Hi Bob,</p>\n<p><a href=\"https://example.com/reset?t=abc\">Reset your password</a></p>\n",
		wantTree: "alternative(text/plain,text/html)",
	},
	{
		name: "html_only", subject: "Welcome aboard",
		from: "noreply@example.com", to: []string{"bob@example.com"},
		html: `<html><head><style>p{color:red}</style></head><body>
<h2>Welcome</h2>
<p>Thanks for signing up. Please <a href="https://example.com/verify?u=1">verify your address</a>.</p>
<ul><li>Fast</li><li>Safe</li></ul>
<ol><li>Open the app</li><li>Sign in</li></ol>
<p>Questions? Write to <a href="mailto:help@example.com">help@example.com</a>.</p>
</body></html>`,
		wantTree: "alternative(text/plain,text/html)",
		wantText: "-------\nWelcome\n-------\n\nThanks for signing up. Please verify your address (https://example.com/verify?u=1).\n\n" +
			"* Fast\n* Safe\n\n1. Open the app\n2. Sign in\n\nQuestions? Write to help@example.com.",
	},
	{
		name: "chinese", subject: "重置您的密码：验证码 123456（10 分钟内有效）",
		from: "系统通知 <noreply@example.com>", to: []string{"张三 <zhangsan@example.com>"},
		text:     "张三，您好：\n\n您的验证码是 123456，10 分钟内有效。\n如非本人操作，请忽略本邮件。\n",
		html:     "<p>张三，您好：</p><p>您的验证码是 <b>123456</b>，10 分钟内有效。</p>",
		files:    []goldenFile{{name: "报告 2024年第一季度.pdf", data: pdfBytes(300)}},
		wantTree: "mixed(alternative(text/plain,text/html),application/pdf)",
	},
	{
		name: "inline_image", subject: "Your receipt",
		from: "Shop <shop@example.com>", to: []string{"bob@example.com"},
		text:     "Thanks for your order.\n",
		html:     `<p><img src="cid:logo" alt="Shop"></p><p>Thanks for your order.</p>`,
		files:    []goldenFile{{name: "logo.png", data: tinyPNG, cid: "logo", inline: true}},
		wantTree: "related(alternative(text/plain,text/html),image/png)",
	},
	{
		name: "three_attachments", subject: "Monthly statements",
		from: "Billing <billing@example.com>", to: []string{"bob@example.com", "Alice <alice@example.com>"},
		text: "Your statements are attached.\n",
		files: []goldenFile{
			{name: "statement.pdf", data: pdfBytes(1000)},
			{name: "transactions.csv", data: []byte("date,amount\r\n2024-03-01,12.50\r\n2024-03-02,-3.00\r\n")},
			{name: "details with a rather long name that needs RFC 2231 continuations.txt", data: []byte("line 1\nline 2\n")},
		},
		wantTree: "mixed(text/plain,application/pdf,text/csv,text/plain)",
	},
	{
		name: "long_subject", subject: strings.Repeat("x", 1200),
		from: "noreply@example.com", to: []string{"bob@example.com"},
		text:     "A message with a 1,200-character unbroken subject.\n",
		wantTree: "text/plain",
	},
}

func (c goldenCase) build(t testing.TB) *Message {
	t.Helper()
	b := NewMessage().From(c.from).To(c.to...).Subject(c.subject).Text(c.text).HTML(c.html).
		Date(goldenDate).MessageID("golden." + c.name + "@example.com")
	for _, f := range c.files {
		if f.inline {
			b.Embed(f.cid, f.name, f.data)
		} else {
			b.AttachBytes(f.name, f.data)
		}
	}
	m, err := b.Build()
	require.NoError(t, err)
	return m
}

func writeMessage(t testing.TB, m *Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := m.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n, "WriteTo count")
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			raw := writeMessage(t, c.build(t))
			require.NoError(t, eml.CheckStructure(raw, false))
			got := eml.Normalize(raw)
			path := filepath.Join("testdata", "golden", c.name+".eml")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestGolden -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

// TestGoldenReaders parses every golden message with three independent
// readers and compares what they decode with the input.
func TestGoldenReaders(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	msgs := make([]*Message, len(goldenCases))
	raws := make([][]byte, len(goldenCases))
	for i, c := range goldenCases {
		msgs[i] = c.build(t)
		raws[i] = writeMessage(t, msgs[i])
	}
	readers := readersFor(t, raws)
	for i, c := range goldenCases {
		for _, r := range readers {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				m := msgs[i]
				d := r.read(t, raws[i])
				assert.Equal(t, c.subject, d.Subject)
				assert.Equal(t, c.wantTree, d.Tree)
				assert.Equal(t, normalizeAddrs(t, c.from), d.From)
				assert.Equal(t, normalizeAddrs(t, c.to...), d.To)
				wantText := crlf(c.text)
				if c.wantText != "" {
					wantText = crlf(c.wantText)
				}
				if c.html == "" {
					wantText = strings.TrimSuffix(wantText, "\r\n") + "\r\n" // a single part ends with a line break
				}
				assert.Equal(t, wantText, d.Text)
				assert.Equal(t, crlf(m.wireHTML), d.HTML)
				require.Len(t, d.Files, len(c.files))
				for i, f := range c.files {
					got := d.Files[i]
					assert.Equal(t, f.name, got.Name, "filename (RFC 2231)")
					assert.Equal(t, f.name, got.TypeName, "Content-Type name (RFC 2047)")
					assert.Equal(t, f.data, got.Data)
					assert.Equal(t, f.inline, got.Inline)
					if f.cid != "" {
						assert.Equal(t, "<"+f.cid+"@"+senderDomain(m.From().Address)+">", got.ContentID)
						assert.Contains(t, d.HTML, "cid:"+f.cid+"@")
					}
				}
			})
		}
	}
}

// normalizeAddrs parses addresses as the builder does and formats them as
// the readers report them.
func normalizeAddrs(t testing.TB, addrs ...string) []string {
	var out []string
	for _, s := range addrs {
		a, err := ParseAddress(s)
		require.NoError(t, err)
		if a.Name == "" {
			out = append(out, a.Address)
		} else {
			out = append(out, a.Name+" <"+a.Address+">")
		}
	}
	return out
}
