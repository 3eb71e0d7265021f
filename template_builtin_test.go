package mailer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/internal/eml"
	"github.com/postkit/mailer/templates"
)

// The built-in templates of package templates, rendered with realistic
// data and checked against golden files in testdata/templates: NAME.LOCALE
// .txt (the subject, a blank line, the text part), .html (the HTML part)
// and .eml (the whole message, normalised). go test -run TestBuiltin
// -update rewrites them.

// builtinCase is one built-in mail in one locale.
type builtinCase struct {
	name, locale string
	data         any
}

// id names the case in files and subtests: "verification.zh-CN".
func (c builtinCase) id() string { return c.name + "." + c.locale }

const resetToken = "eyJ1IjoiYm9iQGV4YW1wbGUuY29tIiwiZSI6MTcxMDQ4NjIwMH0.3q2-7wL8cHkQv9yXw1pZ4sNfUe0aTgRbK6mJdC5oViA"

// builtinCases returns every built-in mail × locale with sample data,
// whose user fields are filled by name (and URL, for hostile data).
func builtinCases(name, url string) []builtinCase {
	brand := templates.Brand{Product: "Acme", SupportEmail: "help@acme.example"}
	var out []builtinCase
	for _, loc := range []string{"en", "zh-CN"} {
		n := name
		if n == "" && loc == "zh-CN" {
			n = "张伟"
		} else if n == "" {
			n = "Bob"
		}
		u := url
		out = append(out,
			builtinCase{templates.NameVerification, loc, templates.Verification{
				Brand: brand, Name: n, Code: "493817", Expires: 10 * time.Minute}},
			builtinCase{templates.NameConfirmAddress, loc, templates.ConfirmAddress{
				Brand: brand, Name: n, URL: or(u, "https://acme.example/confirm?token="+resetToken), Expires: 24 * time.Hour}},
			builtinCase{templates.NamePasswordReset, loc, templates.PasswordReset{
				Brand: brand, Name: n, URL: or(u, "https://acme.example/reset?token="+resetToken), Expires: 30 * time.Minute, SingleUse: true}},
		)
	}
	return out
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// builtinSet parses the built-in templates once per test binary.
func builtinSet(t testing.TB) *templates.Set {
	t.Helper()
	set, err := templates.Parse(templates.FS, nil)
	require.NoError(t, err)
	return set
}

// build renders c into a message with a fixed date and Message-ID.
func (c builtinCase) build(t testing.TB, set *templates.Set) *Message {
	t.Helper()
	m, err := NewMessage().From("Acme <noreply@acme.example>").To("bob@example.com").
		Template(set, c.name, c.locale, c.data).
		Date(goldenDate).MessageID("golden." + c.id() + "@acme.example").Build()
	require.NoError(t, err)
	return m
}

func TestBuiltinNames(t *testing.T) {
	set := builtinSet(t)
	assert.Equal(t, []string{templates.NameConfirmAddress, templates.NamePasswordReset, templates.NameVerification}, set.Names())
	for _, name := range set.Names() {
		assert.Equal(t, []string{"en", "zh-CN"}, set.Locales(name), name)
	}
	assert.Equal(t, "zh-CN", set.Locale(templates.NameVerification, "zh-TW"))
	assert.Equal(t, "zh-CN", set.Locale(templates.NameVerification, "zh"))
	assert.Equal(t, "en", set.Locale(templates.NameVerification, "fr-FR"))
}

func TestBuiltinGolden(t *testing.T) {
	set := builtinSet(t)
	for _, c := range builtinCases("", "") {
		t.Run(c.id(), func(t *testing.T) {
			m := c.build(t, set)
			raw := writeMessage(t, m)
			require.NoError(t, eml.CheckStructure(raw, false))

			golden := map[string][]byte{
				".eml":  eml.Normalize(raw),
				".html": []byte(m.HTML()),
				".txt":  []byte("Subject: " + m.Subject() + "\n\n" + m.Text()),
			}
			for ext, got := range golden {
				path := filepath.Join("testdata", "templates", c.id()+ext)
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, got, 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test -run TestBuiltinGolden -update to create it")
				assert.Equal(t, string(want), string(got), path)
			}
		})
	}
}

// TestBuiltinReaders parses every built-in mail back with three
// independent readers and compares the decoded subject and bodies with
// the golden files.
func TestBuiltinReaders(t *testing.T) {
	t.Parallel() // waits on a child process (python3)
	set := builtinSet(t)
	cases := builtinCases("", "")
	raws := make([][]byte, len(cases))
	for i, c := range cases {
		raws[i] = writeMessage(t, c.build(t, set))
	}
	readers := readersFor(t, raws)
	for i, c := range cases {
		txt, err := os.ReadFile(filepath.Join("testdata", "templates", c.id()+".txt"))
		require.NoError(t, err)
		subject, text, ok := strings.Cut(string(txt), "\n\n")
		require.True(t, ok)
		html, err := os.ReadFile(filepath.Join("testdata", "templates", c.id()+".html"))
		require.NoError(t, err)
		raw := raws[i]
		for _, r := range readers {
			t.Run(c.id()+"/"+r.name, func(t *testing.T) {
				d := r.read(t, raw)
				assert.Equal(t, strings.TrimPrefix(subject, "Subject: "), d.Subject)
				assert.Equal(t, "alternative(text/plain,text/html)", d.Tree)
				assert.Equal(t, crlf(text), d.Text)
				assert.Equal(t, crlf(string(html)), d.HTML)
			})
		}
	}
}

// TestBuiltinHTMLRules checks what every built-in HTML part must and must
// not contain for mail clients.
func TestBuiltinHTMLRules(t *testing.T) {
	set := builtinSet(t)
	for _, c := range builtinCases("", "") {
		t.Run(c.id(), func(t *testing.T) {
			r, err := set.Render(c.name, c.locale, c.data)
			require.NoError(t, err)
			h := r.HTML
			assert.True(t, strings.HasPrefix(h, "<!DOCTYPE html>"))
			assert.Contains(t, h, `<html lang="`+c.locale+`"`)
			assert.Contains(t, h, `<meta name="color-scheme" content="light dark"/>`)
			assert.Contains(t, h, `<meta name="viewport" content="width=device-width, initial-scale=1"/>`)
			assert.Contains(t, h, `role="presentation"`)
			assert.Contains(t, h, `width="600"`)
			assert.Contains(t, h, `max-width:600px`)
			assert.Contains(t, h, "prefers-color-scheme: dark")
			for _, bad := range []string{"<script", "@font-face", "@import", "fonts.googleapis", "<link", "javascript:"} {
				assert.NotContains(t, h, bad)
			}
			// Everything but the @media rules is inlined: the one <style>
			// element left holds only @media blocks.
			style := between(h, "<style", "</style>")
			assert.True(t, strings.HasPrefix(strings.TrimSpace(style[strings.Index(style, ">")+1:]), "@media"), style)
			assert.Regexp(t, `class="card" bgcolor="#ffffff" align="left" style="[^"]*;background-color:#ffffff;`, h)
			if c.name == templates.NameVerification {
				assert.Contains(t, h, `>493817</td>`)
			} else {
				assert.Contains(t, h, `<td class="button" align="center" bgcolor="#2563eb" style="`)
				assert.Contains(t, h, `token=`+resetToken+`" rel="noopener" target="_blank" style="display:inline-block;`)
			}
		})
	}
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	before, _, _ := strings.Cut(after, end)
	return before
}

// TestBuiltinEscaping renders every built-in mail with hostile user data:
// it stays text in the HTML (as every reader decodes it) and is shown as
// typed in the text part.
func TestBuiltinEscaping(t *testing.T) {
	set := builtinSet(t)
	const name = `Bob <script>alert("x")</script><img src=x onerror=alert(1)>`
	for _, c := range builtinCases(name, `javascript:alert(1)//"><script>`) {
		t.Run(c.id(), func(t *testing.T) {
			m := c.build(t, set)
			for _, d := range []decoded{readStdlib(t, writeMessage(t, m)), readGoMessage(t, writeMessage(t, m))} {
				assert.NotContains(t, d.HTML, "<script")
				assert.NotContains(t, d.HTML, "<img src=x")
				assert.NotContains(t, d.HTML, `href="javascript:`)
				assert.Contains(t, d.HTML, `Bob &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;`)
				assert.Contains(t, d.Text, name, "the text part shows the name as typed")
			}
			if c.name != templates.NameVerification {
				assert.Contains(t, m.HTML(), `href="#ZgotmplZ"`, "html/template replaces an unsafe URL")
			}
		})
	}
}

// TestBuiltinLogo shows an embedded logo instead of the product name.
func TestBuiltinLogo(t *testing.T) {
	set := builtinSet(t)
	m, err := NewMessage().From("Acme <noreply@acme.example>").To("bob@example.com").
		Template(set, templates.NameVerification, "en", templates.Verification{
			Brand: templates.Brand{Product: "Acme", LogoURL: "cid:logo"}, Code: "1234",
		}).
		Embed("logo", "logo.png", tinyPNG).Build()
	require.NoError(t, err)
	assert.Contains(t, m.HTML(), `<img src="cid:logo" alt="Acme" height="40"`)
	assert.NotContains(t, m.HTML(), "expires in", "no Expires, no sentence about it")
	d := readStdlib(t, writeMessage(t, m))
	assert.Equal(t, "related(alternative(text/plain,text/html),image/png)", d.Tree)
	assert.Contains(t, d.HTML, `src="cid:logo@acme.example"`)
	assert.True(t, strings.HasPrefix(d.Text, "Hi,\r\n"), "no name, plain greeting")
}
