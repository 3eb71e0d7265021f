package html2text

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, html, want string }{
		{"paragraphs", "<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"link", `<a href="https://example.com/a?b=1&amp;c=2">Reset</a>`, "Reset (https://example.com/a?b=1&c=2)"},
		{"link equal to text", `<a href="https://example.com">https://example.com</a>`, "https://example.com"},
		{"mailto", `<a href="mailto:help@example.com">help@example.com</a>`, "help@example.com"},
		{"empty link", `<a href="https://example.com"></a>`, "https://example.com"},
		{"anchor and cid links hidden", `<a href="#top">Top</a> <a href="cid:x">img</a> <a href="javascript:alert(1)">js</a>`, "Top img js"},
		{"unordered list", "<ul><li>a</li><li>b</li></ul>", "* a\n* b"},
		{"ordered list", "<ol><li>a</li><li>b</li></ol>", "1. a\n2. b"},
		{"scripts and styles dropped", "<style>p{}</style><script>x()</script><p>kept</p>", "kept"},
		{"Chinese", "<h3>标题</h3><p>您好，<b>张三</b>！</p>", "标题\n--\n\n您好， *张三* ！"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Convert(tt.html)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
