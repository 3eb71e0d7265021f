package mailer

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"os"
	"path"

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
	for _, a := range m.attachments {
		var opts []gomail.FileOption
		if ct := mime.TypeByExtension(path.Ext(a.name)); ct != "" {
			// TypeByExtension returns a clean media type; never user input.
			opts = append(opts, gomail.WithFileContentType(gomail.ContentType(ct)))
		}
		if a.cid != "" {
			opts = append(opts, gomail.WithFileContentID(a.cid)) // checked by checkCID
		}
		opts = append(opts, gomail.WithFileName(a.name))
		add := g.AttachReadSeeker
		if a.cid != "" {
			add = g.EmbedReadSeeker
		}
		switch {
		case a.data != nil:
			add(a.name, bytes.NewReader(a.data), opts...)
		case a.fsys != nil:
			add(a.name, &lazyFile{open: func() (io.ReadCloser, error) { return a.fsys.Open(a.path) }}, opts...)
		default:
			add(a.name, &lazyFile{open: func() (io.ReadCloser, error) { return os.Open(a.path) }}, opts...)
		}
	}
	return g
}

// lazyFile opens its file on the first read, so that building a go-mail Msg
// holds no file open and a file is read only while it is written.
type lazyFile struct {
	open func() (io.ReadCloser, error)
	f    io.ReadCloser
	err  error
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = l.open()
	}
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.f.Read(p)
	if err != nil {
		l.f.Close()
		l.err = err
	}
	return n, err
}

// Seek supports only the rewind go-mail does before writing.
func (l *lazyFile) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("mailer: attachment reader cannot seek")
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.err = nil, nil
	return 0, nil
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
