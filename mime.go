package mailer

import (
	"io"

	gomail "github.com/wneessen/go-mail"
)

// userAgent is written as User-Agent instead of go-mail's own.
const userAgent = "postkit-mailer"

// toMsg builds a fresh go-mail Msg for one attempt. go-mail's Send and
// WriteTo change the Msg they are given, so a Msg is never reused.
func (m *Message) toMsg() *gomail.Msg {
	g := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	g.FromMailAddress(ptr(m.from))
	if len(m.to) > 0 {
		g.ToMailAddress(ptrs(m.to)...)
	}
	if len(m.cc) > 0 {
		g.CcMailAddress(ptrs(m.cc)...)
	}
	if len(m.replyTo) > 0 {
		g.ReplyToMailAddress(ptrs(m.replyTo)...)
	}
	g.Subject(m.subject)
	g.SetMessageIDWithValue(m.messageID)
	g.SetDateWithValue(m.date)
	g.SetUserAgent(userAgent)
	for _, h := range m.headers {
		g.SetGenHeader(gomail.Header(h.name), append(g.GetGenHeader(gomail.Header(h.name)), h.value)...)
	}
	switch {
	case m.text != "" && m.html != "":
		g.SetBodyString(gomail.TypeTextPlain, m.text)
		g.AddAlternativeString(gomail.TypeTextHTML, m.html)
	case m.html != "":
		g.SetBodyString(gomail.TypeTextHTML, m.html)
	default:
		g.SetBodyString(gomail.TypeTextPlain, m.text)
	}
	return g
}

// WriteTo writes the message in RFC 5322 form, exactly as it is sent
// (without the SMTP dot-stuffing), for previews and .eml files.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	return m.toMsg().WriteTo(w)
}

func ptr(a Address) *Address { return &a }

func ptrs(as []Address) []*Address {
	out := make([]*Address, len(as))
	for i := range as {
		a := as[i]
		out[i] = &a
	}
	return out
}
