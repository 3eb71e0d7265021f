package mailer

// These tests record why mime.go writes MIME itself instead of through
// go-mail's msgWriter: each shows a go-mail v0.8.1 output that breaks a
// rule, next to ours for the same input. If one starts failing after a
// go-mail upgrade, go-mail fixed the trap: revisit the choice.

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gomail "github.com/wneessen/go-mail"

	"github.com/postkit/mailer/internal/eml"
)

func gomailBytes(t *testing.T, build func(m *gomail.Msg)) []byte {
	t.Helper()
	g := gomail.NewMsg()
	require.NoError(t, g.From("a@example.com"))
	require.NoError(t, g.To("b@example.com"))
	build(g)
	var buf bytes.Buffer
	_, err := g.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

func maxLineLen(raw []byte) int {
	n := 0
	for _, l := range bytes.Split(raw, []byte("\r\n")) {
		n = max(n, len(l))
	}
	return n
}

func TestGoMailTrapLongToken(t *testing.T) {
	subject := strings.Repeat("x", 1200)
	theirs := gomailBytes(t, func(g *gomail.Msg) { g.Subject(subject); g.SetBodyString(gomail.TypeTextPlain, "t") })
	assert.Greater(t, maxLineLen(theirs), eml.MaxLine, "go-mail: a 1,200-char token is one line")
	ours := writeMessage(t, mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").Subject(subject)))
	assert.LessOrEqual(t, maxLineLen(ours), 78)
}

func TestGoMailTrapFilename(t *testing.T) {
	name := "报告.pdf"
	theirs := gomailBytes(t, func(g *gomail.Msg) {
		g.SetBodyString(gomail.TypeTextPlain, "t")
		g.AttachReader(name, strings.NewReader("x"))
	})
	assert.Equal(t, []string(nil), filenamesByStdlib(t, theirs, name), "go-mail: RFC 2047 inside a quoted parameter")
	ours := writeMessage(t, mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").AttachBytes(name, []byte("x"))))
	assert.Equal(t, []string{name}, filenamesByStdlib(t, ours, name))
}

// filenamesByStdlib returns the Content-Disposition file names that
// mime.ParseMediaType decodes to want.
func filenamesByStdlib(t *testing.T, raw []byte, want string) []string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(string(raw), "\r\n ", " "), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Content-Disposition: "); ok {
			_, params, err := mime.ParseMediaType(v)
			require.NoError(t, err)
			if params["filename"] == want {
				out = append(out, params["filename"])
			}
		}
	}
	return out
}

func TestGoMailTrapAlternativeOrder(t *testing.T) {
	theirs := gomailBytes(t, func(g *gomail.Msg) {
		g.SetBodyString(gomail.TypeTextHTML, "<p>h</p>")
		g.AddAlternativeString(gomail.TypeTextPlain, "t")
	})
	assert.Less(t, bytes.Index(theirs, []byte("text/html")), bytes.Index(theirs, []byte("text/plain")), "go-mail: HTML first")
	ours := writeMessage(t, mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").HTML("<p>h</p>").Text("t")))
	assert.Greater(t, bytes.Index(ours, []byte("text/html")), bytes.Index(ours, []byte("text/plain")))
}

func TestGoMailTrapDoubleSpace(t *testing.T) {
	subject := strings.Repeat("0", 60) + "  " + strings.Repeat("1", 30)
	decode := func(raw []byte) string {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		var dec mime.WordDecoder
		s, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		require.NoError(t, err)
		return s
	}
	theirs := gomailBytes(t, func(g *gomail.Msg) { g.Subject(subject); g.SetBodyString(gomail.TypeTextPlain, "t") })
	assert.NotEqual(t, subject, decode(theirs), "go-mail: a space is lost at the fold")
	ours := writeMessage(t, mustBuild(t, NewMessage().From("a@example.com").To("b@example.com").Subject(subject)))
	assert.Equal(t, subject, decode(ours))
}
