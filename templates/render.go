package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/vanng822/go-premailer/premailer"

	"github.com/postkit/mailer/internal/html2text"
)

// Rendered is the result of [Set.Render]: the subject and bodies of
// one mail in one locale.
type Rendered struct {
	// Name is the mail's name, such as "reset".
	Name string
	// Locale is the locale of the variant that was rendered, which may
	// differ from the one asked for (see [Set.Render]).
	Locale string
	// Subject is the subject on one line.
	Subject string
	// Text is the plain-text body: the text template's output, or text
	// derived from HTML when the variant has no text template.
	Text string
	// HTML is the HTML body with its CSS inlined, or "" for a variant
	// without an HTML template.
	HTML string
}

// Render renders mail name in the variant that fits locale best, with
// data. The variant is the first that exists of: locale itself, then
// locale without its last subtag down to language and one more subtag
// ("zh-Hans-CN", "zh-Hans"); then, for a locale with a script (written,
// or for Chinese implied by its region), a variant of the same language
// and script, so that Traditional stays Traditional ("zh-TW" finds
// "zh-Hant", "zh-HK" finds "zh-TW") and Simplified Simplified ("zh-SG"
// finds "zh-CN"; a plain "zh" counts as Simplified); then the language
// alone ("zh"); then any variant of the same language ("zh" finds
// "zh-CN"); then the same steps for the set's default locale, which
// always finds one. An empty or
// invalid locale means the default one. Locales are matched without
// regard to case, and "_" works as "-" ("zh_cn" is "zh-CN").
//
// Data is given to the subject, text and HTML templates alike. HTML
// templates escape it according to its context, so a user's name such as
// "<script>" is shown as text, never run. A missing map key or struct
// field is an error. Errors are [*Error] values naming the mail,
// the locale, the part and, when the template package says, the file and
// line. Render is safe for concurrent use.
func (s *Set) Render(name, locale string, data any) (*Rendered, error) {
	return s.render(name, locale, data, true)
}

// render does Render's work; with deriveText false, a variant without a
// text template leaves Text empty (mailer.MessageBuilder.Build derives it).
func (s *Set) render(name, locale string, data any, deriveText bool) (*Rendered, error) {
	m := s.mails[name]
	if m == nil {
		return nil, &Error{Name: name, Locale: locale, Err: ErrNotFound}
	}
	v := m.variants[pickLocale(m.locales, locale, s.defaultLocale)]
	r := &Rendered{Name: name, Locale: v.locale}
	var b strings.Builder
	if err := v.subject.Execute(&b, data); err != nil {
		return nil, v.error(partSubject, err)
	}
	r.Subject = strings.Join(strings.Fields(b.String()), " ")
	if v.text != nil {
		b.Reset()
		if err := v.text.Execute(&b, data); err != nil {
			return nil, v.error(partText, err)
		}
		r.Text = b.String()
	}
	if v.html != nil {
		html, err := executeHTML(v.html, data)
		if err != nil {
			if v.source != nil {
				// Report the error of the template as written, whose
				// names and lines are the user's files.
				if _, serr := executeHTML(v.source, data); serr != nil {
					err = serr
				}
			}
			return nil, v.error(partHTML, err)
		}
		if v.source != nil {
			html = asReserialized(html)
		}
		if s.inlineCSS && v.source == nil {
			if html, err = inlineCSS(html); err != nil {
				return nil, v.error(partHTML, fmt.Errorf("inlining CSS: %w", err))
			}
		}
		r.HTML = html
		if r.Text == "" && deriveText {
			if r.Text, err = html2text.Convert(html); err != nil {
				return nil, v.error(partHTML, fmt.Errorf("deriving the text part: %w", err))
			}
		}
	}
	return r, nil
}

// bufPool holds the buffers HTML is rendered into.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func executeHTML(t *htmltemplate.Template, data any) (string, error) {
	b := bufPool.Get().(*bytes.Buffer)
	defer func() {
		b.Reset()
		bufPool.Put(b)
	}()
	if err := t.Execute(b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// inlineCSS copies the rules of the <style> elements of html into style
// attributes with github.com/vanng822/go-premailer. A document without
// <style> is returned as it is.
func inlineCSS(html string) (string, error) {
	if !containsFold(html, "<style") {
		return html, nil
	}
	p, err := premailer.NewPremailerFromString(html, premailer.NewOptions())
	if err != nil {
		return "", err
	}
	return p.Transform()
}

// containsFold reports whether s contains the ASCII string sub, ignoring
// case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func (v *variant) error(part string, err error) *Error {
	return newTemplateError(v.name, v.locale, part, v.files[part], err)
}

// RenderMessage renders mail name in the variant that fits locale (see
// [Set.Render]) for mailer.MessageBuilder.Template, which makes Set a
// mailer.TemplateRenderer. text is "" when the variant has no text
// template: the message builder then derives the text part from the HTML.
func (s *Set) RenderMessage(name, locale string, data any) (subject, text, html string, err error) {
	if s == nil {
		return "", "", "", &Error{Name: name, Locale: locale, Err: errors.New("nil *templates.Set")}
	}
	r, err := s.render(name, locale, data, false)
	if err != nil {
		return "", "", "", err
	}
	return r.Subject, r.Text, r.HTML, nil
}

// An Error reports a template that could not be parsed or
// rendered. Errors from the template packages are wrapped, so errors.As
// reaches an html/template *Error or a text/template ExecError.
type Error struct {
	// Name is the mail, such as "reset", or "" for an error about a file
	// or the whole set.
	Name string
	// Locale is the locale of the variant, such as "zh-CN".
	Locale string
	// Part is "subject", "text" or "html", or "".
	Part string
	// File is the file at fault, as named in the fs.FS, when known. An
	// error in a layout names the layout's file.
	File string
	// Line is the line in File, when the template package reports one;
	// otherwise 0.
	Line int
	// Err describes the problem.
	Err error
}

// Error returns a message such as
// `mailer: template "reset" (zh-CN, html): template: reset.zh-CN.html.tmpl:5:12: executing …`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mailer: template")
	if e.Name != "" {
		b.WriteString(" " + strconv.Quote(e.Name))
	}
	var ctx []string
	if e.Locale != "" {
		ctx = append(ctx, e.Locale)
	}
	if e.Part != "" {
		ctx = append(ctx, e.Part)
	}
	if len(ctx) > 0 {
		b.WriteString(" (" + strings.Join(ctx, ", ") + ")")
	}
	msg := strings.TrimPrefix(e.Err.Error(), "mailer: ")
	if e.File != "" && !strings.Contains(msg, e.File) {
		b.WriteString(" " + e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
	}
	b.WriteString(": " + msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errPosRe finds the file and line in the errors of text/template
// ("template: NAME:LINE:…") and html/template ("html/template:NAME:LINE:…").
var errPosRe = regexp.MustCompile(`template: ?([^:\s]+):(\d+):`)

// newTemplateError wraps err, taking the file and line from its text when
// the template package put them there.
func newTemplateError(name, loc, part, file string, err error) *Error {
	e := &Error{Name: name, Locale: loc, Part: part, File: file, Err: err}
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.Line > 0 && he.Name != "" {
		e.File, e.Line = he.Name, he.Line
		return e
	}
	if m := errPosRe.FindStringSubmatch(err.Error()); m != nil {
		e.File = m[1]
		e.Line, _ = strconv.Atoi(m[2])
	}
	return e
}
