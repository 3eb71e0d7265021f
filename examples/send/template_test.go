package main

import (
	"mime"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTemplateFlags(t *testing.T) {
	got := runSend(t, nil, "-to", "you@example.com", "-template", "verification", "-locale", "zh-CN",
		"-data", `{"Product":"Acme","Name":"张伟","Code":"493817","Expires":"10m"}`)
	require.Equal(t, 0, got.code, got.stderr)
	m, err := mail.ReadMessage(strings.NewReader(got.stdout))
	require.NoError(t, err, got.stdout)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "Acme 验证码：493817", subject)
	parts := textOf(t, m.Header, m.Body)
	assert.Contains(t, parts["text/plain"], "张伟，您好：")
	assert.Contains(t, parts["text/plain"], "验证码 10 分钟内有效")
	assert.Contains(t, parts["text/html"], ">493817</td>")

	got = runSend(t, nil, "-to", "you@example.com", "-template", "password-reset",
		"-data", `{"Product":"Acme","URL":"https://acme.example/reset?t=1"}`)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stdout, "Subject: Reset your Acme password\r\n", "en by default")
}

func TestTemplateFlagErrors(t *testing.T) {
	to := []string{"-to", "you@example.com"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown template", []string{"-template", "welcome", "-data", `{"Product":"A"}`}, `-template "welcome": the built-in templates are verification`},
		{"no data", []string{"-template", "verification"}, "-template verification needs -data"},
		{"bad json", []string{"-template", "verification", "-data", `{"Product":`}, "-data: want a JSON object"},
		{"unknown field", []string{"-template", "verification", "-data", `{"Product":"A","Cod":"1"}`}, `unknown field "Cod"`},
		{"bad duration", []string{"-template", "verification", "-data", `{"Product":"A","Code":"1","Expires":"soon"}`}, `Expires "soon"`},
		{"no product", []string{"-template", "verification", "-data", `{"Code":"1"}`}, `needs "Product"`},
		{"no code", []string{"-template", "verification", "-data", `{"Product":"A"}`}, `verification needs "Code"`},
		{"no url", []string{"-template", "confirm-address", "-data", `{"Product":"A"}`}, `confirm-address needs "URL"`},
		{"with subject", []string{"-template", "verification", "-data", `{}`, "-subject", "x"}, "drop -subject"},
		{"data alone", []string{"-subject", "x", "-data", `{}`}, "-data and -locale need -template"},
		{"locale alone", []string{"-subject", "x", "-locale", "zh-CN"}, "-data and -locale need -template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSend(t, nil, append(to, tt.args...)...)
			assert.Equal(t, 2, got.code)
			assert.Empty(t, got.stdout)
			assert.Contains(t, requireOneLine(t, got.stderr), tt.want)
		})
	}
}
