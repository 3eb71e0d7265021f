package exampleenv

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	c, err := FromEnv(env(nil))
	require.NoError(t, err)
	assert.True(t, c.Local)
	assert.Equal(t, localFrom, c.From)
	assert.Equal(t, localTo, c.To)
	assert.Equal(t, "en", c.Locale)

	c, err = FromEnv(env(map[string]string{
		"MAILER_PROVIDER": "163", "MAILER_USER": "alice@163.com", "MAILER_PASSWORD": "auth-code-1234",
		"MAILER_TO": "bob@example.com", "MAILER_LOCALE": "zh-CN",
	}))
	require.NoError(t, err)
	assert.False(t, c.Local)
	assert.Equal(t, "alice@163.com", c.From)
	assert.Equal(t, "zh-CN", c.Locale)
	client, err := mailer.New(c.Options...)
	require.NoError(t, err)
	defer client.Close()
	assert.Equal(t, "mailer.Client(smtp.163.com:465 tls=implicit auth=PLAIN(alice@163.com, [REDACTED]))", client.String())

	c, err = FromEnv(env(map[string]string{"MAILER_PROVIDER": "mailpit", "MAILER_FROM": "a@example.com", "MAILER_TO": "b@example.com"}))
	require.NoError(t, err, "a preset without auth needs no user")
	assert.Equal(t, "MAILER_PROVIDER mailpit", c.Server)

	c, err = FromEnv(env(map[string]string{"MAILER_URL": "smtps://bob%40example.com:pw@mail.example.com", "MAILER_TO": "x@example.com"}))
	require.NoError(t, err)
	assert.Equal(t, "bob@example.com", c.From, "the URL's user is the default sender")

	_, err = FromEnv(env(map[string]string{"MAILER_URL": "smtp://mail.example.com", "MAILER_USER": "bob", "MAILER_TO": "x@example.com"}))
	assert.ErrorContains(t, err, "MAILER_USER needs MAILER_PASSWORD")
}

func TestDecode(t *testing.T) {
	m, err := mailer.NewMessage().From("系统 <a@example.com>").To("b@example.com").Subject("你好，世界").
		Text("正文\n").HTML("<p>正文</p>").Build()
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = m.WriteTo(&buf)
	require.NoError(t, err)
	r, err := Decode(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, [2]string{"Subject", "你好，世界"}, r.Header[2])
	assert.Equal(t, [2]string{"From", "系统 <a@example.com>"}, r.Header[0])
	assert.Equal(t, "multipart/alternative(text/plain, text/html)", r.Structure)
	assert.Equal(t, "正文\n", r.Text)
	assert.Equal(t, "<p>正文</p>", r.HTML)
}
