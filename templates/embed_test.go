package templates_test

import (
	"embed"
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/templates"
)

// emails is embedded the way Parse recommends: all: keeps the
// layout and partials, whose names start with "_".
//
//go:embed all:testdata/embed/emails
var emails embed.FS

// emailsPlain is the same directory without all:, which Go's embed turns
// into a set without its "_" files.
//
//go:embed testdata/embed/emails
var emailsPlain embed.FS

// TestTemplatesFromEmbedFS parses templates from a real embed.FS, with a
// layout and a text partial, as the documentation recommends.
func TestTemplatesFromEmbedFS(t *testing.T) {
	set, err := templates.Parse(emails, nil)
	require.NoError(t, err)
	data := map[string]string{"Product": "Acme", "Name": "Bob"}
	r, err := set.Render("welcome", "en", data)
	require.NoError(t, err)
	assert.Equal(t, "Welcome to Acme", r.Subject)
	assert.Contains(t, r.HTML, `<p style="color:#111827">Hi Bob, welcome to Acme.</p>`, "the layout's CSS is inlined")
	assert.Contains(t, r.Text, "-- \nThe Acme team", "the text partial")
	r, err = set.Render("welcome", "zh-CN", data)
	require.NoError(t, err)
	assert.Contains(t, r.HTML, `<html lang="zh-CN">`)
}

// TestTemplatesEmbedWithoutAll explains the missing layout when the
// directory was embedded without all:, at parse time, for the HTML and
// the text parts alike.
func TestTemplatesEmbedWithoutAll(t *testing.T) {
	_, err := fs.Stat(emailsPlain, "testdata/embed/emails/_layout.html.tmpl")
	require.ErrorIs(t, err, fs.ErrNotExist, "go:embed without all: leaves out _ files")

	_, err = templates.Parse(emailsPlain, nil)
	require.Error(t, err)
	var te *templates.Error
	require.True(t, errors.As(err, &te))
	assert.Contains(t, err.Error(), `no such template "layout"`)
	assert.Contains(t, err.Error(), `no such template "signature"`)
	assert.Contains(t, err.Error(), "//go:embed all:emails")
}
