package mailer

import "errors"

// A TemplateRenderer renders a named mail in the variant that fits a
// locale: its subject, text and HTML. *templates.Set (package
// github.com/postkit/mailer/templates: html/template and text/template
// files with layouts, locales and CSS inlining) is one. text may be "":
// Build then derives the text part from the HTML.
//
// The template engine lives in its own package so that a program that
// sends plain mail does not link it and its CSS inliner.
type TemplateRenderer interface {
	RenderMessage(name, locale string, data any) (subject, text, html string, err error)
}

// Template renders mail name with r in the variant that fits locale and
// sets the Subject, the HTML body and, if the renderer gives one, the Text
// body; without one, Build derives the text part from the HTML. The
// caller sets From, To and the rest. A render error (such as a
// *templates.Error) is reported by Build with the other problems.
func (b *MessageBuilder) Template(r TemplateRenderer, name, locale string, data any) *MessageBuilder {
	if r == nil {
		b.errs = append(b.errs, errors.New("mailer: Template: nil TemplateRenderer"))
		return b
	}
	subject, text, html, err := r.RenderMessage(name, locale, data)
	if err != nil {
		b.errs = append(b.errs, err)
		return b
	}
	b.Subject(subject)
	if text != "" {
		b.Text(text)
	}
	if html != "" {
		b.HTML(html)
	}
	return b
}
