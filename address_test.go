package mailer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAddress(t *testing.T) {
	valid := []struct{ in, name, addr string }{
		{"alice@example.com", "", "alice@example.com"},
		{"Alice <alice@example.com>", "Alice", "alice@example.com"},
		{"张三 <zhangsan@example.com>", "张三", "zhangsan@example.com"},
		{`"Smith, John" <john@example.com>`, "Smith, John", "john@example.com"},
		{"=?UTF-8?B?5byg5LiJ?= <z@example.com>", "张三", "z@example.com"},
		{"user@例子.中国", "", "user@例子.中国"},
		{"用户@例子.中国", "", "用户@例子.中国"},
		{"o'brien+tag@example.com", "", "o'brien+tag@example.com"},
	}
	for _, tt := range valid {
		a, err := ParseAddress(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.name, a.Name, tt.in)
		assert.Equal(t, tt.addr, a.Address, tt.in)
	}
	invalid := []string{"", "plain", "@example.com", "a@", "a@b@c", "a..b@example.com", ".a@example.com",
		"-a@example.com", "a@[10.0.0.1]", "a@example.com (c)", "G: a@example.com;", "a@exa mple.com",
		"a@example.com\r\n", "\xff@example.com", "a@" + strings.Repeat("x", 64) + ".com",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("abcdefghi.", 26) + "com",
		"\"quoted\"@example.com", "a@example.com>", "a@exa\u200dmple.com"}
	for _, in := range invalid {
		_, err := ParseAddress(in)
		assert.ErrorIs(t, err, ErrInvalidAddress, "%q", in)
	}
}

func TestAddressHeader(t *testing.T) {
	tests := []struct {
		name  string
		addrs []Address
		want  string
	}{
		{"bare", []Address{{Address: "a@example.com"}}, "To: a@example.com\r\n"},
		{"atoms", []Address{{Name: "Bob Smith", Address: "b@example.com"}}, "To: Bob Smith <b@example.com>\r\n"},
		{"quoted", []Address{{Name: `J. "Jo" Smith`, Address: "j@example.com"}}, `To: "J. \"Jo\" Smith" <j@example.com>` + "\r\n"},
		{"CJK", []Address{{Name: "张三", Address: "z@example.com"}}, "To: =?UTF-8?B?5byg5LiJ?= <z@example.com>\r\n"},
		{"IDN", []Address{{Address: "u@例子.中国"}}, "To: u@xn--fsqu00a.xn--fiqs8s\r\n"},
		{"UTF-8 local part", []Address{{Address: "用户@例子.中国"}}, "To: 用户@例子.中国\r\n"},
		{"list folds", []Address{{Name: "Alice Example", Address: "alice@example.com"}, {Name: "Bob Example", Address: "bob@example.com"}, {Name: "Carol Example", Address: "carol@example.com"}},
			"To: Alice Example <alice@example.com>, Bob Example <bob@example.com>, Carol\r\n Example <carol@example.com>\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h headerBlock
			h.addressList("To", tt.addrs)
			require.NoError(t, h.err)
			assert.Equal(t, tt.want, string(h.b))
		})
	}
}

func TestEnvelopeAddress(t *testing.T) {
	got, utf8 := envelopeAddress("user@例子.中国")
	assert.Equal(t, "user@xn--fsqu00a.xn--fiqs8s", got)
	assert.False(t, utf8)
	got, utf8 = envelopeAddress("用户@例子.中国")
	assert.Equal(t, "用户@xn--fsqu00a.xn--fiqs8s", got)
	assert.True(t, utf8)
}

func TestNewMessageIDOnSenderDomain(t *testing.T) {
	id := newMessageID("noreply@Bücher.Example")
	left, right, ok := strings.Cut(id, "@")
	require.True(t, ok)
	assert.Equal(t, "xn--bcher-kva.example", right)
	assert.Len(t, left, 24)
	assert.NotEqual(t, id, newMessageID("noreply@bücher.example"))
	assert.NoError(t, checkMsgID(id))
}
