package mailer

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnstructured(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    string // exact output, or "" to check only the round trip
		encoded bool
	}{
		{name: "short ASCII", value: "Hello world", want: "Subject: Hello world\r\n"},
		{name: "empty", value: "", want: "Subject:\r\n"},
		{name: "folds at single spaces", value: strings.Repeat("lorem ipsum ", 10) + "end"},
		{name: "CJK is B", value: "重置您的密码", want: "Subject: =?UTF-8?B?6YeN572u5oKo55qE5a+G56CB?=\r\n", encoded: true},
		{name: "mostly Latin is Q", value: "Your café order is ready", want: "Subject: =?UTF-8?Q?Your_caf=C3=A9_order_is_ready?=\r\n", encoded: true},
		{name: "short accented is B when shorter", value: "Café crème", want: "Subject: =?UTF-8?B?Q2Fmw6kgY3LDqG1l?=\r\n", encoded: true},
		{name: "leading space", value: " x", encoded: true},
		{name: "literal encoded word", value: "=?x?q?y?=", encoded: true},
		{name: "double spaces need folding", value: strings.Repeat("ab  ", 40), encoded: true},
		{name: "long token", value: strings.Repeat("t", 1200), encoded: true},
		{name: "emoji", value: strings.Repeat("👍", 40), encoded: true},
		{name: "200 CJK and emoji", value: strings.Repeat("验证码", 67) + "☝️💪👍", encoded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h headerBlock
			h.unstructured("Subject", tt.value)
			require.NoError(t, h.err)
			got := string(h.b)
			if tt.want != "" {
				assert.Equal(t, tt.want, got)
			}
			assert.Equal(t, tt.encoded, strings.Contains(got, "=?UTF-8?"))
			for _, line := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
				assert.LessOrEqual(t, len(line), 76, "line %q", line)
			}
			value := strings.TrimPrefix(strings.ReplaceAll(strings.TrimSuffix(got, "\r\n"), "\r\n", ""), "Subject:")
			value = strings.TrimPrefix(value, " ")
			var dec mime.WordDecoder
			decoded, err := dec.DecodeHeader(value)
			require.NoError(t, err)
			assert.Equal(t, tt.value, decoded)
		})
	}
}

func TestEncodeWords(t *testing.T) {
	for _, s := range []string{"a", "é", strings.Repeat("中", 100), strings.Repeat("é", 100), "mixed 中文 and English " + strings.Repeat("x", 90)} {
		words := encodeWords(s, 30)
		var dec mime.WordDecoder
		var joined strings.Builder
		for i, w := range words {
			limit := encodedWordMax
			if i == 0 {
				limit = 30
			}
			assert.LessOrEqual(t, len(w), limit, "word %d %q", i, w)
			// Each word decodes on its own to valid UTF-8: no split characters.
			part, err := dec.Decode(w)
			require.NoError(t, err)
			assert.True(t, utf8.ValidString(part), "word %q", w)
			joined.WriteString(part)
		}
		assert.Equal(t, s, joined.String())
	}
	assert.True(t, strings.HasPrefix(encodeWords("中文中文", 75)[0], "=?UTF-8?B?"), "CJK uses B")
	assert.True(t, strings.HasPrefix(encodeWords("Ärger with the order", 75)[0], "=?UTF-8?Q?"), "mostly Latin uses Q")
	// Q writes only characters allowed in a phrase (RFC 2047 section 5(3)).
	var q []byte
	for c := 0; c < 256; c++ {
		q = appendQ(q, byte(c))
	}
	assert.Empty(t, strings.Trim(string(q), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/=_"))
}

func TestFieldChokePoint(t *testing.T) {
	tests := []struct {
		name   string
		field  string
		tokens []string
		utf8OK bool
	}{
		{"CR in token", "X-A", []string{"a\rb"}, false},
		{"LF in token", "X-A", []string{"a\nb"}, false},
		{"NUL in token", "X-A", []string{"a\x00"}, false},
		{"tab in token", "X-A", []string{"a\tb"}, false},
		{"DEL in token", "X-A", []string{"\x7f"}, false},
		{"non-ASCII not allowed", "X-A", []string{"é"}, false},
		{"invalid UTF-8", "To", []string{"\xff@x"}, true},
		{"empty token", "X-A", []string{""}, false},
		{"name with colon", "X:A", []string{"v"}, false},
		{"name with space", "X A", []string{"v"}, false},
		{"empty name", "", []string{"v"}, false},
		{"token over 998", "X-A", []string{strings.Repeat("a", 1000)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h headerBlock
			h.field(tt.field, tt.utf8OK, tt.tokens...)
			require.ErrorIs(t, h.err, ErrInvalidHeader)
			assert.Empty(t, h.b, "nothing may be written")
		})
	}
	var h headerBlock
	h.field("To", true, "用户@例子.中国")
	require.NoError(t, h.err)
	assert.Equal(t, "To: 用户@例子.中国\r\n", string(h.b))
}

func TestFileParams(t *testing.T) {
	ct, disp := fileParams("report.pdf")
	assert.Equal(t, []string{`name="report.pdf"`}, ct)
	assert.Equal(t, []string{`filename="report.pdf"`}, disp)

	ct, disp = fileParams("报告.pdf")
	assert.Equal(t, []string{`name="=?UTF-8?B?5oql5ZGKLnBkZg==?="`}, ct)
	assert.Equal(t, []string{`filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf`}, disp)

	name := strings.Repeat("数据", 30) + ".xlsx"
	ct, disp = fileParams(name)
	assert.Greater(t, len(ct), 1)
	assert.True(t, strings.HasPrefix(ct[0], `name="=?UTF-8?B?`))
	assert.True(t, strings.HasSuffix(ct[len(ct)-1], `?="`))
	for i, d := range disp {
		assert.True(t, strings.HasPrefix(d, "filename*"+string(rune('0'+i%10))) || i >= 10, d)
		assert.LessOrEqual(t, len(d), 80, d)
	}
	// mime.ParseMediaType reassembles the continuations.
	value := "attachment; " + strings.Join(disp, "; ")
	_, params, err := mime.ParseMediaType(value)
	require.NoError(t, err)
	assert.Equal(t, name, params["filename"])
}

func TestPlainParamValue(t *testing.T) {
	assert.True(t, plainParamValue("a b.txt"))
	for _, v := range []string{"", `a"b`, `a\b`, "é", "=?x", strings.Repeat("a", 61)} {
		assert.False(t, plainParamValue(v), v)
	}
}
