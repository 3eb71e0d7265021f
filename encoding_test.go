package mailer

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCanonicalCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a\r\nb", "a\r\nb"},
		{"a\nb", "a\r\nb"},
		{"a\rb", "a\r\nb"},
		{"a\r\r\nb", "a\r\n\r\nb"},
		{"a\n\rb", "a\r\n\r\nb"},
		{"\r", "\r\n"},
		{"\n.\n", "\r\n.\r\n"},
		{"x\r.\r\n", "x\r\n.\r\n"},
		{"\n", "\r\n"},
		{"a\n\n", "a\r\n\r\n"},
		{"\na", "\r\na"},
		{"\r\n\n", "\r\n\r\n"},
		{"\n\r", "\r\n\r\n"},
		{"\r\r\n\n", "\r\n\r\n\r\n"},
		{"\r\n\r\n", "\r\n\r\n"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, canonicalCRLF(tt.in), "%q", tt.in)
		assert.Equal(t, tt.want, canonicalCRLFByByte(tt.in), "%q", tt.in)
	}
}

// FuzzCanonicalCRLF checks canonicalCRLF against the plain byte-by-byte
// rewrite it is an optimisation of.
func FuzzCanonicalCRLF(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\nb\n", "\r\r\n\n\r", "x\r.\r\n", "\n.\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := canonicalCRLF(s), canonicalCRLFByByte(s); got != want {
			t.Fatalf("canonicalCRLF(%q) = %q, want %q", s, got, want)
		}
	})
}

// canonicalCRLFByByte writes every CRLF, lone CR and lone LF of s as CRLF.
func canonicalCRLFByByte(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b.WriteString("\r\n")
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestChooseEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want transferEncoding
	}{
		{"ASCII", "Hello\r\nworld\r\n", enc7bit},
		{"empty", "", enc7bit},
		{"998-octet line", strings.Repeat("a", 998), enc7bit},
		{"999-octet line", strings.Repeat("a", 999), encQP},
		{"mostly Latin", "Grüße aus Köln, wir freuen uns auf Ihren Besuch.", encQP},
		{"Chinese", strings.Repeat("您的验证码是 123456，10 分钟内有效。", 20), encBase64},
		{"control character", "a\x01b", encQP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, chooseEncoding(tt.in))
		})
	}
}

func TestWriteTextRoundTrip(t *testing.T) {
	inputs := []string{"", "a", "a\r\n", "line\r\n.\r\n..x\r\n", "trailing space \r\nend",
		strings.Repeat("é", 500), strings.Repeat("中", 3000) + "\r\n", strings.Repeat("x", 5000)}
	for _, in := range inputs {
		for _, enc := range []transferEncoding{enc7bit, encQP, encBase64} {
			if enc == enc7bit && chooseEncoding(in) != enc7bit {
				continue
			}
			var buf bytes.Buffer
			endsCRLF, err := writeText(&buf, in, enc)
			require.NoError(t, err)
			out := buf.String()
			assert.Equal(t, strings.HasSuffix(out, "\r\n"), endsCRLF, "%s %q", enc, in)
			for _, line := range strings.Split(out, "\r\n") {
				assert.LessOrEqual(t, len(line), 998)
				assert.NotContains(t, line, "\r")
				assert.NotContains(t, line, "\n")
			}
			var r io.Reader = strings.NewReader(out)
			switch enc {
			case encQP:
				r = quotedprintable.NewReader(r)
			case encBase64:
				r = base64.NewDecoder(base64.StdEncoding, r)
			}
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			assert.Equal(t, in, string(got), "%s", enc)
		}
	}
}

func TestWriteBase64(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 57 * 1024, 57*1024 + 1, 200_000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 31)
		}
		var buf bytes.Buffer
		// HalfReader makes ReadFull work harder: short reads must not
		// produce short lines.
		require.NoError(t, writeBase64(&buf, iotest.HalfReader(bytes.NewReader(data))))
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\r\n"), "\r\n")
		for i, l := range lines {
			if i < len(lines)-1 {
				assert.Len(t, l, 76, "line %d of %d", i, n)
			}
		}
		want := base64.StdEncoding.EncodeToString(data)
		assert.Equal(t, want, strings.ReplaceAll(buf.String(), "\r\n", ""), "n=%d", n)
	}
	errRead := errors.New("disk on fire")
	err := writeBase64(io.Discard, iotest.ErrReader(errRead))
	assert.ErrorIs(t, err, errRead)
}

// FuzzIs7bit checks the fast test of chooseEncoding against its count:
// printable ASCII and tabs, CRLF line ends, lines of at most 998 octets.
func FuzzIs7bit(f *testing.F) {
	for _, s := range []string{"", "abc\r\n", "a\tb\r\nc", "\x7f", "é", "a\rb", "a\nb", strings.Repeat("x", 998) + "\r\n",
		strings.Repeat("x", 999), "12345678\x1f", "1234567\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, in := range []string{s, canonicalCRLF(s)} {
			if got, want := is7bit(in), is7bitByCount(in); got != want {
				t.Fatalf("is7bit(%q) = %v, want %v", in, got, want)
			}
		}
	})
}

// is7bitByCount is chooseEncoding's count, one octet at a time.
func is7bitByCount(s string) bool {
	var nonASCII, line, maxLine int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			maxLine, line = max(maxLine, line), 0
			i++
			continue
		case c >= 0x80, c < 0x20 && c != '\t', c == 0x7f:
			nonASCII++
		}
		line++
	}
	return nonASCII == 0 && max(maxLine, line) <= lineHardMax
}
