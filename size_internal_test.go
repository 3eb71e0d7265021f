package mailer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSizeEstimate: the size Send declares is never above the size of the
// message as written, and not far below it.
func TestSizeEstimate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "report.pdf")
	require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte{0xff, 1}, 5000), 0o600))
	for name, b := range map[string]*MessageBuilder{
		"text":    NewMessage().From("a@example.com").To("b@example.com").Text("hi"),
		"minimal": NewMessage().From("a@example.com").Bcc("b@example.com").UserAgent(""),
		"names": NewMessage().From("Ünïcode Näme <a@bücher.example>").To("Bob <b@example.com>", "c@example.com").
			Cc("Carol <c@example.com>").ReplyTo("r@example.com").Subject("Grüße aus Köln, ein längerer Betreff mit Umlauten").
			Text("héllo wörld\n").Header("X-Campaign", "spring").ListUnsubscribe("https://example.com/u"),
		"cjk":  NewMessage().From("a@example.com").To("b@example.com").Subject("你好").Text("你好，世界\n"),
		"html": NewMessage().From("a@example.com").To("b@example.com").HTML("<p>Hello <b>world</b></p>"),
		"everything": NewMessage().From("a@example.com").To("b@example.com").Text("t").
			HTML(`<p><img src="cid:logo"></p>`).Embed("logo", "logo.png", []byte("png")).
			AttachBytes("文件.txt", []byte("data")).AttachFile(file),
	} {
		m, err := b.Build()
		require.NoError(t, err, name)
		var buf bytes.Buffer
		_, err = m.WriteTo(&buf)
		require.NoError(t, err)
		est := m.sizeEstimate()
		assert.LessOrEqual(t, est, int64(buf.Len()), name)
		assert.Greater(t, est, int64(buf.Len())*7/10, name)
	}
}
