package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/postkit/mailer"
)

// buildMessage makes the message from the flags. from is the default
// sender. Errors are *invalidError and name the flag at fault.
func buildMessage(o *options, t *target) (*mailer.Message, error) {
	from := o.from
	if from == "" {
		if t.from == "" {
			return nil, invalidf("-from is required: %s", t.fromWhy)
		}
		from = t.from
	}
	text, err := body("-text", o.text, "-text-file", o.textFile)
	if err != nil {
		return nil, err
	}
	html, err := body("-html", o.html, "-html-file", o.htmlFile)
	if err != nil {
		return nil, err
	}
	if len(o.inline) > 0 && html == "" {
		return nil, invalidf("-inline needs -html or -html-file: the HTML shows the image with <img src=\"cid:CID\">")
	}

	b := mailer.NewMessage().From(from).To(o.to...)
	if o.template != "" {
		if err := applyTemplate(b, o); err != nil {
			return nil, err
		}
	} else {
		b.Subject(o.subject)
	}
	if len(o.cc) > 0 {
		b.Cc(o.cc...)
	}
	if len(o.bcc) > 0 {
		b.Bcc(o.bcc...)
	}
	if o.replyTo != "" {
		b.ReplyTo(o.replyTo)
	}
	if text != "" {
		b.Text(text)
	}
	if html != "" {
		b.HTML(html)
	}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, invalidf("-header %q: want 'Name: value'", h)
		}
		// Only spaces and tabs are trimmed: a line break stays in the
		// value, where the builder refuses it.
		b.Header(strings.TrimSpace(name), strings.Trim(value, " \t"))
	}
	for _, path := range o.attach {
		b.AttachFile(path)
	}
	for _, spec := range o.inline {
		cid, path, ok := strings.Cut(spec, "=")
		if !ok || cid == "" || path == "" {
			return nil, invalidf("-inline %q: want CID=FILE, such as logo=logo.png", spec)
		}
		b.EmbedFile(cid, path)
	}
	m, err := b.Build()
	if err != nil {
		return nil, &invalidError{msg: describeBuildError(err)}
	}
	return m, nil
}

// body returns the text of flag or the content of fileFlag's file.
func body(flag, text, fileFlag, path string) (string, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", invalidf("%s %q: %s", fileFlag, path, causeText(err))
		}
		text, flag = string(data), fileFlag+" "+path
	}
	if !utf8.ValidString(text) {
		return "", invalidf("%s is not UTF-8 text; convert it first, for example with iconv -f GB18030 -t UTF-8", flag)
	}
	return text, nil
}

// fieldFlags maps the builder's field names to the flags that set them.
var fieldFlags = map[string]string{
	"From": "-from", "To": "-to", "Cc": "-cc", "Bcc": "-bcc", "Reply-To": "-reply-to",
	"Subject": "-subject", "Header": "-header", "Text": "-text", "HTML": "-html",
	"AttachFile": "-attach", "EmbedFile": "-inline", "Content-ID": "-inline",
}

// describeBuildError words the errors of MessageBuilder.Build in terms of
// flags, all on one line.
func describeBuildError(err error) string {
	var parts []string
	for _, e := range flatten(err) {
		var fe *mailer.FieldError
		switch {
		case errors.As(e, &fe):
			parts = append(parts, describeField(fe))
		case errors.Is(e, mailer.ErrNoSender):
			parts = append(parts, "-from is required")
		case errors.Is(e, mailer.ErrNoRecipients):
			parts = append(parts, "-to is required")
		default:
			parts = append(parts, strings.TrimPrefix(e.Error(), "mailer: "))
		}
	}
	return strings.Join(parts, "; ")
}

// describeField formats a *mailer.FieldError as `-to "bob@": invalid
// address: want local@domain`. Field names with a qualifier, such as
// `Header "X-Tag"` or "AttachFile name", keep it after the flag.
func describeField(fe *mailer.FieldError) string {
	name, qualifier, _ := strings.Cut(fe.Field, " ")
	flag, ok := fieldFlags[name]
	if !ok {
		flag, qualifier = fe.Field, ""
	}
	s := flag
	if qualifier != "" {
		s += " " + qualifier
	}
	if fe.Value != "" {
		s += " " + fe.Value
	}
	return s + ": " + causeText(fe.Err)
}

// flatten returns the errors joined in err, or err alone.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// causeText returns the text of err without the "mailer: " prefix, and
// without the operation and path of an *fs.PathError, which the message
// shows already.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return strings.TrimPrefix(err.Error(), "mailer: ")
}
