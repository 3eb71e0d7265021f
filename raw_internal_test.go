package mailer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// dotStuffRawReference normalises every line break of in to CRLF, then
// dot-stuffs it with net/textproto's DotWriter.
func dotStuffRawReference(in string) string {
	norm := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n").Replace(in)
	return dotStuffTextproto([]string{norm})
}

func dotStuffRaw(chunks []string) string {
	var s stuffer
	s.reset(nil)
	for _, c := range chunks {
		s.writeRaw([]byte(c))
	}
	return string(s.close())
}

// TestStufferRaw: the stuffing of raw messages treats a bare CR as a line
// break, whatever the split of the input into pieces.
func TestStufferRaw(t *testing.T) {
	for _, in := range []string{
		"a", "a\r", "a\r\r\n", "\r.\r", "a\r.\rb", ".\r\r\n.", "x\n\r.\n", "\r\n.\r\n", "a\r\n\r\n.b\r",
	} {
		for split := 0; split <= len(in); split++ {
			chunks := []string{in[:split], in[split:]}
			assert.Equal(t, dotStuffRawReference(in), dotStuffRaw(chunks), "%q split at %d", in, split)
		}
	}
}

func FuzzStufferRaw(f *testing.F) {
	f.Add("a\r.\rb\n.c", 3)
	f.Fuzz(func(t *testing.T, in string, split int) {
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		if got, want := dotStuffRaw([]string{in[:split], in[split:]}), dotStuffRawReference(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	})
}

// TestRawSize: the size declared for a raw message is the size of the
// data after line ends are made CRLF (dot-stuffing not counted).
func TestRawSize(t *testing.T) {
	for _, in := range []string{"", "a", "a\r\n", "a\nb\n", "a\rb", ".x\r\n..y", "a\r\r\n\n"} {
		body := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(in)
		if body != "" && !strings.HasSuffix(body, "\r\n") {
			body += "\r\n"
		}
		assert.Equal(t, int64(len(body)), rawSize([]byte(in)), "%q", in)
	}
}

// TestRawMessageID reads the Message-ID of the header only, unfolded and
// without angle brackets.
func TestRawMessageID(t *testing.T) {
	for in, want := range map[string]string{
		"Message-ID: <a.1@example.com>\r\n\r\nbody":              "a.1@example.com",
		"Subject: x\nmessage-id:\n\t<b@example.com>\n\nbody":     "b@example.com",
		"Message-Id : c@example.com\r\n\r\n":                     "c@example.com",
		"Subject: x\r\n\r\nMessage-ID: <not@header.example>\r\n": "",
		"Subject: no id\r\n":                                     "",
		"X-Message-ID: <x@example.com>\r\n\r\n":                  "",
	} {
		assert.Equal(t, want, rawMessageID([]byte(in)), "%q", in)
	}
}
