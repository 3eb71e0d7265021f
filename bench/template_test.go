package bench

import (
	"bytes"
	htmltemplate "html/template"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/templates"
)

var verification = templates.Verification{
	Brand: templates.Brand{Product: "Acme", SupportEmail: "help@acme.example"},
	Name:  "Bob", Code: "493817", Expires: 10 * time.Minute,
}

// BenchmarkTemplate renders the built-in "verification" mail (en): into a
// Message with this package (subject, text and HTML templates, CSS
// inlining, then Build), the same without CSS inlining, and the baseline:
// executing the same HTML template with html/template alone, already
// parsed and escaped, into a reused buffer. The overhead ratio is
// Message / bare.
func BenchmarkTemplate(b *testing.B) {
	build := func(b *testing.B, set *templates.Set) {
		b.ReportAllocs()
		for b.Loop() {
			_, err := mailer.NewMessage().From("Acme <noreply@acme.example>").To("bob@example.com").
				Template(set, templates.NameVerification, "en", verification).Date(date).Build()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Message", func(b *testing.B) {
		set, err := templates.Parse(templates.FS, nil)
		if err != nil {
			b.Fatal(err)
		}
		build(b, set)
	})
	b.Run("Message-NoInlineCSS", func(b *testing.B) {
		set, err := templates.Parse(templates.FS, &templates.Options{NoInlineCSS: true})
		if err != nil {
			b.Fatal(err)
		}
		build(b, set)
	})
	b.Run("Render", func(b *testing.B) {
		set, err := templates.Parse(templates.FS, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := set.Render(templates.NameVerification, "en", verification); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		t, err := htmltemplate.New("").Funcs(htmltemplate.FuncMap{"locale": func() string { return "en" }}).
			ParseFS(templates.FS, "_layout.html.tmpl", "_common.en.html.tmpl", "verification.en.html.tmpl")
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "verification.en.html.tmpl", verification); err != nil {
			b.Fatal(err) // escapes the templates before timing
		}
		b.ReportAllocs()
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			buf.Reset()
			if err := t.ExecuteTemplate(&buf, "verification.en.html.tmpl", verification); err != nil {
				b.Fatal(err)
			}
		}
	})
}
