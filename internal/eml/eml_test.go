package eml

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const good = "Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nFrom: a@example.com\r\nTo: b@example.com\r\n" +
	"Message-ID: <x1@example.com>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"=_abc\"\r\n\r\n" +
	"--=_abc\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhi\r\n" +
	"--=_abc\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+aGk8L3A+\r\n--=_abc--\r\n"

func TestCheckStructure(t *testing.T) {
	require.NoError(t, CheckStructure([]byte(good), false))
	tests := []struct{ name, raw, want string }{
		{"bare LF", strings.Replace(good, "hi\r\n", "hi\n\r\n", 1), "bare LF"},
		{"bare CR", strings.Replace(good, "hi", "h\ri", 1), "bare CR"},
		{"long line", strings.Replace(good, "hi", strings.Repeat("h", 999), 1), "999 octets"},
		{"no Date", strings.Replace(good, "Date:", "X-Date:", 1), "0 Date headers"},
		{"Bcc", strings.Replace(good, "To:", "Bcc: c@example.com\r\nTo:", 1), "Bcc header present"},
		{"non-ASCII header", strings.Replace(good, "To: b@", "To: é <b@", 1), "non-ASCII header"},
		{"8bit in 7bit part", strings.Replace(good, "hi", "hé", 1), "7bit part with non-ASCII"},
		{"bad encoding", strings.Replace(good, "7bit", "8bit", 1), "Content-Transfer-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckStructure([]byte(tt.raw), false)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNormalize(t *testing.T) {
	got := string(Normalize([]byte(good)))
	assert.Contains(t, got, "Date: "+FixedDate+"\r\n")
	assert.Contains(t, got, "Message-ID: <ID@example.com>\r\n")
	assert.Contains(t, got, `boundary="BOUNDARY-1"`)
	assert.Contains(t, got, "--BOUNDARY-1--\r\n")
	assert.NotContains(t, got, "=_abc")
}
