package mailer

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
	"testing"
)

// dotStuffTextproto is the reference: net/textproto's DotWriter.
func dotStuffTextproto(chunks []string) string {
	var out bytes.Buffer
	w := textproto.NewWriter(bufio.NewWriter(&out))
	dw := w.DotWriter()
	for _, c := range chunks {
		_, _ = dw.Write([]byte(c))
	}
	_ = dw.Close()
	return out.String()
}

func dotStuffOurs(chunks []string) string {
	var s stuffer
	s.reset(nil)
	for _, c := range chunks {
		_, _ = s.Write([]byte(c))
	}
	return string(s.close())
}

// TestStufferMatchesTextproto: the fast dot-stuffing writes what
// net/textproto's DotWriter writes, for any split of the input into
// writes (inputs without a bare CR, which the MIME writer never emits and
// DotWriter treats inconsistently).
func TestStufferMatchesTextproto(t *testing.T) {
	for _, in := range []string{
		"a", "a\r\n", "a\n", ".", ".\r\n", "\r\n.\r\n", "..\r\n.a\n.\n", "a\r\n.b\r\nc", "\n\n.", "x\r\n\r\n",
		"Subject: x\r\n\r\n.hidden\r\n..double\r\nend", strings.Repeat(".\r\n", 100),
	} {
		for split := 0; split <= len(in); split++ {
			chunks := []string{in[:split], in[split:]}
			want, got := dotStuffTextproto(chunks), dotStuffOurs(chunks)
			if got != want {
				t.Errorf("%q split at %d: got %q, want %q", in, split, got, want)
			}
		}
	}
}

func FuzzStuffer(f *testing.F) {
	f.Add("a\r\n.b\n", 3)
	f.Add(".\r\n..\n", 1)
	f.Fuzz(func(t *testing.T, in string, split int) {
		in = strings.NewReplacer("\r\n", "\r\n", "\r", "").Replace(in) // no bare CR
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		chunks := []string{in[:split], in[split:]}
		if got, want := dotStuffOurs(chunks), dotStuffTextproto(chunks); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	})
}
