package templates_test

import (
	"errors"
	htmltemplate "html/template"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/templates"
)

// layoutFS is a small set with a layout, a locale-dependent footer partial
// and one mail in three locales.
func layoutFS() fstest.MapFS {
	return fstest.MapFS{
		"emails/_layout.html.tmpl": {Data: []byte(`{{define "layout"}}<!DOCTYPE html>
<html lang="{{locale}}"><head><style>p { color: #333333; } .code { font-size: 24px; }</style></head>
<body>{{block "body" .}}default body{{end}}{{template "footer" .}}</body></html>{{end}}`)},
		"emails/_footer.html.tmpl":       {Data: []byte(`{{define "footer"}}<p class="footer">Sent by {{.Product}}</p>{{end}}`)},
		"emails/_footer.zh.html.tmpl":    {Data: []byte(`{{define "footer"}}<p class="footer">来自 {{.Product}}</p>{{end}}`)},
		"emails/_sig.txt.tmpl":           {Data: []byte(`{{define "sig"}}-- {{.Product}}{{end}}`)},
		"emails/code.subject.tmpl":       {Data: []byte("  Your {{.Product}}\n code \n")},
		"emails/code.html.tmpl":          {Data: []byte(`{{define "body"}}<p>Hi {{.Name}}, your code is <span class="code">{{.Code}}</span>.</p>{{end}}{{template "layout" .}}`)},
		"emails/code.txt.tmpl":           {Data: []byte("Hi {{.Name}}, your code is {{.Code}}.\n{{template \"sig\" .}}\n")},
		"emails/code.zh-CN.subject.tmpl": {Data: []byte(`{{.Product}} 验证码`)},
		"emails/code.zh-CN.html.tmpl":    {Data: []byte(`{{define "body"}}<p>{{.Name}}，您的验证码是 <span class="code">{{.Code}}</span>。</p>{{end}}{{template "layout" .}}`)},
		"emails/code.de.subject.tmpl":    {Data: []byte(`Ihr Code`)},
		"emails/code.de.txt.tmpl":        {Data: []byte(`Ihr Code ist {{.Code}}.`)},
		"emails/README.md":               {Data: []byte("not a template")},
	}
}

var codeData = map[string]any{"Product": "Acme", "Name": "Bob", "Code": "123456"}

func parse(t *testing.T, fsys fstest.MapFS, opts *templates.Options) *templates.Set {
	t.Helper()
	set, err := templates.Parse(fsys, opts)
	require.NoError(t, err)
	return set
}

func TestTemplateRender(t *testing.T) {
	set := parse(t, layoutFS(), nil)
	assert.Equal(t, []string{"code"}, set.Names())
	assert.Equal(t, []string{"de", "en", "zh-CN"}, set.Locales("code"))
	assert.Equal(t, "en", set.DefaultLocale())

	r, err := set.Render("code", "en", codeData)
	require.NoError(t, err)
	assert.Equal(t, "code", r.Name)
	assert.Equal(t, "en", r.Locale)
	assert.Equal(t, "Your Acme code", r.Subject, "one line, white space collapsed")
	assert.Equal(t, "Hi Bob, your code is 123456.\n-- Acme\n", r.Text)
	assert.Contains(t, r.HTML, `<html lang="en">`)
	assert.Contains(t, r.HTML, `<span class="code" style="font-size:24px">123456</span>`, "CSS inlined")
	assert.Contains(t, r.HTML, `<p class="footer" style="color:#333333">Sent by Acme</p>`)
	assert.NotContains(t, r.HTML, "<style", "every rule was inlined")

	r, err = set.Render("code", "zh-CN", codeData)
	require.NoError(t, err)
	assert.Equal(t, "Acme 验证码", r.Subject)
	assert.Contains(t, r.HTML, `<html lang="zh-CN">`)
	assert.Contains(t, r.HTML, "来自 Acme", "the zh footer partial serves zh-CN")
	assert.Contains(t, r.Text, "Bob，您的验证码是 123456", "text derived from the HTML")

	r, err = set.Render("code", "de-AT", codeData)
	require.NoError(t, err)
	assert.Equal(t, "de", r.Locale)
	assert.Equal(t, "Ihr Code ist 123456.", r.Text)
	assert.Empty(t, r.HTML, "a text-only variant")
}

func TestTemplateLocaleFallback(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, loc := range []string{"", ".en-GB", ".zh-CN", ".zh-Hant", ".pt"} {
		fsys["m"+loc+".subject.tmpl"] = &fstest.MapFile{Data: []byte("s")}
		fsys["m"+loc+".txt.tmpl"] = &fstest.MapFile{Data: []byte("{{locale}}")}
	}
	tests := []struct{ want, got string }{
		{"zh-CN", "zh-CN"},
		{"zh_cn", "zh-CN"},
		{"ZH-cn", "zh-CN"},
		{"zh-Hans-CN", "zh-CN"}, // zh-Hans-CN → zh-Hans → zh → same language: zh-CN sorts before zh-Hant
		{"zh-Hant-TW", "zh-Hant"},
		{"zh-TW", "zh-Hant"}, // no zh-TW: the Traditional variant, not zh-CN
		{"zh-HK", "zh-Hant"},
		{"zh-Hant-HK", "zh-Hant"},
		{"zh-SG", "zh-CN"}, // Simplified
		{"zh-Hans", "zh-CN"},
		{"zh", "zh-CN"},
		{"en-GB", "en-GB"},
		{"en-US", "en"},
		{"en", "en"},
		{"pt-BR", "pt"},
		{"fr", "en"},
		{"", "en"},
		{"not a locale!", "en"},
	}
	set := parse(t, fsys, nil)
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.got, set.Locale("m", tt.want))
			r, err := set.Render("m", tt.want, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.got, r.Locale)
			assert.Equal(t, tt.got, r.Text, "the locale function")
		})
	}
	assert.Empty(t, set.Locale("nope", "en"))
	assert.Nil(t, set.Locales("nope"))

	t.Run("script before the bare language", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for _, loc := range []string{"", ".zh", ".zh-TW", ".en-GB"} {
			fsys["m"+loc+".subject.tmpl"] = &fstest.MapFile{Data: []byte("s")}
			fsys["m"+loc+".txt.tmpl"] = &fstest.MapFile{Data: []byte("{{locale}}")}
		}
		set := parse(t, fsys, nil)
		for want, got := range map[string]string{
			"zh-Hant-TW": "zh-TW", // Traditional, not the plain zh (Simplified)
			"zh-HK":      "zh-TW",
			"zh-CN":      "zh",
			"zh-Hans":    "zh",
			"zh":         "zh",
			"en-US":      "en", // no script: the language before a sibling region
			"en-GB":      "en-GB",
		} {
			assert.Equal(t, got, set.Locale("m", want), want)
		}
	})

	t.Run("default locale option", func(t *testing.T) {
		set := parse(t, fstest.MapFS{
			"m.subject.tmpl":    {Data: []byte("默认")},
			"m.txt.tmpl":        {Data: []byte("{{locale}}")},
			"m.en.subject.tmpl": {Data: []byte("s")},
			"m.en.txt.tmpl":     {Data: []byte("{{locale}}")},
		}, &templates.Options{DefaultLocale: "zh_cn"})
		assert.Equal(t, []string{"en", "zh-CN"}, set.Locales("m"))
		r, err := set.Render("m", "fr", nil)
		require.NoError(t, err)
		assert.Equal(t, "zh-CN", r.Locale)
		assert.Equal(t, "默认", r.Subject)
	})
}

func TestTemplateEscaping(t *testing.T) {
	set := parse(t, fstest.MapFS{
		"m.subject.tmpl": {Data: []byte("Hello {{.Name}}")},
		"m.html.tmpl":    {Data: []byte(`<p title="{{.Name}}">Hi {{.Name}}</p><a href="{{.URL}}">link</a>`)},
	}, nil)
	data := map[string]string{"Name": `<script>alert("x")</script>`, "URL": "javascript:alert(1)"}
	r, err := set.Render("m", "", data)
	require.NoError(t, err)
	assert.Equal(t, `Hello <script>alert("x")</script>`, r.Subject, "a subject is text, not HTML")
	assert.NotContains(t, r.HTML, "<script>")
	assert.Contains(t, r.HTML, `Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`)
	assert.Contains(t, r.HTML, `href="#ZgotmplZ"`, "unsafe URL replaced")
	assert.Contains(t, r.Text, `Hi <script>alert("x")</script>`, "the derived text shows the name as typed")
}

func TestTemplateRenderErrors(t *testing.T) {
	set := parse(t, layoutFS(), nil)
	t.Run("missing key", func(t *testing.T) {
		_, err := set.Render("code", "zh-CN", map[string]any{"Product": "Acme", "Name": "Bob"})
		var te *templates.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "code", te.Name)
		assert.Equal(t, "zh-CN", te.Locale)
		assert.Equal(t, "html", te.Part)
		assert.Equal(t, "emails/code.zh-CN.html.tmpl", te.File)
		assert.Equal(t, 1, te.Line)
		assert.Contains(t, err.Error(), `mailer: template "code" (zh-CN, html): `)
		assert.Contains(t, err.Error(), `emails/code.zh-CN.html.tmpl:1:`)
		assert.Contains(t, err.Error(), `no entry for key "Code"`)
	})
	t.Run("missing key in a layout", func(t *testing.T) {
		_, err := set.Render("code", "en", map[string]any{"Name": "Bob", "Code": "1"})
		var te *templates.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "subject", te.Part, "the subject renders first")
		_, err = set.Render("code", "en", struct{ Name, Code string }{"Bob", "1"})
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "subject", te.Part)
		assert.Contains(t, err.Error(), "can't evaluate field Product")
	})
	t.Run("unknown template", func(t *testing.T) {
		_, err := set.Render("nope", "en", codeData)
		assert.ErrorIs(t, err, templates.ErrNotFound)
		assert.EqualError(t, err, `mailer: template "nope" (en): no such template`)
	})
}

func TestTemplateParseErrors(t *testing.T) {
	ok := func() fstest.MapFS {
		return fstest.MapFS{
			"m.subject.tmpl": {Data: []byte("s")},
			"m.html.tmpl":    {Data: []byte("<p>{{.X}}</p>")},
		}
	}
	tests := []struct {
		name  string
		edit  func(fstest.MapFS)
		opts  *templates.Options
		want  []string
		file  string
		line  int
		isErr error
	}{
		{name: "syntax error", edit: func(f fstest.MapFS) {
			f["m.zh-CN.subject.tmpl"] = &fstest.MapFile{Data: []byte("s")}
			f["m.zh-CN.html.tmpl"] = &fstest.MapFile{Data: []byte("<p>\n\n{{.X}</p>")}
		}, want: []string{`template "m" (zh-CN, html)`, "m.zh-CN.html.tmpl:3"}, file: "m.zh-CN.html.tmpl", line: 3},
		{name: "unknown function", edit: func(f fstest.MapFS) {
			f["m.txt.tmpl"] = &fstest.MapFile{Data: []byte("{{upper .X}}")}
		}, want: []string{`(en, text)`, `function "upper" not defined`}, file: "m.txt.tmpl", line: 1},
		{name: "escaping error at parse time", edit: func(f fstest.MapFS) {
			f["m.html.tmpl"] = &fstest.MapFile{Data: []byte("<p>\n{{if .X}}<a href=\"{{end}}\">x</a>")}
		}, want: []string{`(en, html)`, "branches end in different contexts"}, file: "m.html.tmpl", line: 2},
		{name: "missing subject", edit: func(f fstest.MapFS) { delete(f, "m.subject.tmpl") },
			want: []string{`template "m" (en, subject)`, "missing m.en.subject.tmpl"}},
		{name: "missing body", edit: func(f fstest.MapFS) { delete(f, "m.html.tmpl") },
			want: []string{"missing a body: m.en.html.tmpl or m.en.txt.tmpl"}},
		{name: "no default variant", edit: func(f fstest.MapFS) {
			f["n.zh-CN.subject.tmpl"] = &fstest.MapFile{Data: []byte("s")}
			f["n.zh-CN.txt.tmpl"] = &fstest.MapFile{Data: []byte("t")}
		}, want: []string{`template "n" (en): no variant for the default locale (have zh-CN)`}},
		{name: "bad file name", edit: func(f fstest.MapFS) { f["m.en.body.tmpl"] = &fstest.MapFile{} },
			want: []string{`m.en.body.tmpl: unknown part "body"`}},
		{name: "bad locale", edit: func(f fstest.MapFS) { f["m.e.html.tmpl"] = &fstest.MapFile{} },
			want: []string{`"e" is not a locale`}},
		{name: "duplicate", edit: func(f fstest.MapFS) { f["sub/m.en.html.tmpl"] = &fstest.MapFile{} },
			want: []string{"same template as"}},
		{name: "subject partial", edit: func(f fstest.MapFS) { f["_x.subject.tmpl"] = &fstest.MapFile{} },
			want: []string{"a partial is .txt.tmpl or .html.tmpl"}},
		{name: "empty", edit: func(f fstest.MapFS) { clear(f) }, want: []string{"no .tmpl files found"}},
		{name: "bad func", opts: &templates.Options{Funcs: map[string]any{"x": 42}}, want: []string{"Options.Funcs: value for x not a function"}},
		{name: "bad default locale", opts: &templates.Options{DefaultLocale: "english!"}, want: []string{`invalid DefaultLocale "english!"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := ok()
			if tt.edit != nil {
				tt.edit(fsys)
			}
			set, err := templates.Parse(fsys, tt.opts)
			require.Error(t, err)
			assert.Nil(t, set)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			var te *templates.Error
			require.ErrorAs(t, err, &te)
			if tt.file != "" {
				assert.Equal(t, tt.file, te.File)
				assert.Equal(t, tt.line, te.Line)
			}
		})
	}
}

func TestTemplateEscapeErrorIsHTMLTemplateError(t *testing.T) {
	_, err := templates.Parse(fstest.MapFS{
		"m.subject.tmpl": {Data: []byte("s")},
		"m.html.tmpl":    {Data: []byte(`{{if .X}}<a href="{{end}}">x</a>`)},
	}, nil)
	var he *htmltemplate.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, htmltemplate.ErrBranchEnd, he.ErrorCode)
}

func TestTemplateOptions(t *testing.T) {
	fsys := fstest.MapFS{
		"m.subject.tmpl": {Data: []byte("{{shout .}}")},
		"m.html.tmpl":    {Data: []byte(`<html><head><style>p{color:red}</style></head><body><p>{{shout .}}</p></body></html>`)},
	}
	opts := &templates.Options{NoInlineCSS: true, Funcs: map[string]any{"shout": strings.ToUpper}}
	set := parse(t, fsys, opts)
	r, err := set.Render("m", "", "hi")
	require.NoError(t, err)
	assert.Equal(t, "HI", r.Subject)
	assert.Contains(t, r.HTML, "<style>p{color:red}</style>")
	assert.Contains(t, r.HTML, "<p>HI</p>")
	assert.Equal(t, "HI", r.Text)

	opts.NoInlineCSS = false
	set = parse(t, fsys, opts)
	r, err = set.Render("m", "", "hi")
	require.NoError(t, err)
	assert.Contains(t, r.HTML, `<p style="color:red">HI</p>`)
}

// TestTemplateParsedOnce changes the files after parsing: rendering uses
// what was parsed and reads nothing again.
func TestTemplateParsedOnce(t *testing.T) {
	fsys := fstest.MapFS{
		"m.subject.tmpl": {Data: []byte("before")},
		"m.txt.tmpl":     {Data: []byte("before")},
	}
	set := parse(t, fsys, nil)
	fsys["m.subject.tmpl"].Data = []byte("after")
	delete(fsys, "m.txt.tmpl")
	r, err := set.Render("m", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "before", r.Subject)
	assert.Equal(t, "before", r.Text)
}

func TestTemplateConcurrent(t *testing.T) {
	set := parse(t, layoutFS(), nil)
	want := map[string]*templates.Rendered{}
	for _, loc := range []string{"en", "zh-CN", "de"} {
		r, err := set.Render("code", loc, codeData)
		require.NoError(t, err)
		want[loc] = r
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			loc := []string{"en", "zh-CN", "de"}[i%3]
			r, err := set.Render("code", loc, codeData)
			if err == nil && *r != *want[loc] {
				err = errors.New("different output for " + loc)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestBuilderTemplate(t *testing.T) {
	set := parse(t, layoutFS(), nil)
	m, err := mailer.NewMessage().From("Acme <noreply@example.com>").To("bob@example.com").
		Template(set, "code", "zh-CN", codeData).Build()
	require.NoError(t, err)
	assert.Equal(t, "Acme 验证码", m.Subject())
	assert.Contains(t, m.HTML(), `style="font-size:24px"`)
	assert.Contains(t, m.Text(), "您的验证码是 123456", "Build derives the text part")

	m, err = mailer.NewMessage().From("noreply@example.com").To("bob@example.com").
		Template(set, "code", "en", codeData).Build()
	require.NoError(t, err)
	assert.Equal(t, "Hi Bob, your code is 123456.\n-- Acme\n", m.Text(), "the text template")

	_, err = mailer.NewMessage().To("bob@").Template(set, "code", "en", map[string]any{}).Build()
	var te *templates.Error
	require.ErrorAs(t, err, &te, "Build reports the render error")
	assert.ErrorIs(t, err, mailer.ErrInvalidAddress, "with the other problems")

	_, err = mailer.NewMessage().From("a@example.com").To("b@example.com").Template(nil, "code", "en", nil).Build()
	assert.ErrorContains(t, err, "nil TemplateRenderer")
	var none *templates.Set
	_, err = mailer.NewMessage().From("a@example.com").To("b@example.com").Template(none, "code", "en", nil).Build()
	require.ErrorAs(t, err, &te)
	assert.Contains(t, err.Error(), "nil *templates.Set")
}
