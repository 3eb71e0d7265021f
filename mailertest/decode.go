package mailertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode GB18030, GBK, Big5, ISO-8859-x … bodies and headers
	gomail "github.com/emersion/go-message/mail"
)

// A Part is an attachment or an inline part (such as an image that the
// HTML shows with "cid:") of a received message, decoded.
type Part struct {
	// Filename is the part's file name, decoded (RFC 2231 or RFC 2047):
	// the filename parameter of Content-Disposition, else the name
	// parameter of Content-Type; "" if it has neither.
	Filename string
	// ContentType is the media type in lower case, such as
	// "application/pdf" or "text/calendar", without parameters.
	ContentType string
	// Params are the parameters of Content-Type, such as
	// {"method": "REQUEST", "charset": "utf-8"}, with lower-case keys.
	Params map[string]string
	// ContentID is the Content-ID without its angle brackets, or "".
	ContentID string
	// Data is the content with its transfer encoding (base64,
	// quoted-printable) removed; a text/* part in a known charset other
	// than UTF-8 (GB18030, ISO-8859-1, …) is converted to UTF-8.
	Data []byte
}

// decode fills the decoded fields of m from m.Data with the independent
// MIME parser of github.com/emersion/go-message (not package mailer's
// writer logic), so that a test sees what a mail client shows.
func (m *Message) decode() {
	m.decoded = true
	if err := m.parse(); err != nil {
		m.DecodeError = err
	}
}

func (m *Message) parse() error {
	r, err := gomail.CreateReader(bytes.NewReader(m.Data))
	if r == nil {
		return fmt.Errorf("mailertest: reading the message: %w", err)
	}
	defer r.Close()
	var errs []error
	if err != nil { // an unknown charset: the header is still read
		errs = append(errs, err)
	}
	h := r.Header
	if m.Subject, err = h.Subject(); err != nil {
		errs = append(errs, fmt.Errorf("mailertest: Subject: %w", err))
	}
	for _, f := range []struct {
		name string
		dst  *[]*mail.Address
	}{{"From", &m.HeaderFrom}, {"To", &m.HeaderTo}, {"Cc", &m.Cc}, {"Reply-To", &m.ReplyTo}} {
		list, err := h.AddressList(f.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("mailertest: %s: %w", f.name, err))
		}
		*f.dst = list
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mailertest: reading a part: %w", err))
			if message.IsUnknownEncoding(err) {
				continue // this part is lost; the reader is at the next
			}
			// A part in an unknown charset is kept as sent, and the
			// parts after it are read too.
			if !message.IsUnknownCharset(err) || p == nil {
				break
			}
		}
		data, err := io.ReadAll(p.Body)
		if err != nil {
			errs = append(errs, fmt.Errorf("mailertest: reading a part: %w", err))
			break
		}
		var ph message.Header
		attachment := false
		switch hdr := p.Header.(type) {
		case *gomail.InlineHeader:
			ph = hdr.Header
		case *gomail.AttachmentHeader:
			ph, attachment = hdr.Header, true
		default:
			continue
		}
		part := Part{Data: data, Filename: filename(ph)}
		part.ContentType, part.Params, _ = ph.ContentType()
		part.ContentType = strings.ToLower(part.ContentType)
		part.ContentID = strings.Trim(strings.TrimSpace(ph.Get("Content-ID")), "<>")
		if attachment && part.ContentID != "" && ph.Get("Content-Disposition") == "" {
			// go-message calls every part without a disposition that is
			// not text an attachment; one with a Content-ID is there for
			// the HTML to show with "cid:".
			attachment = false
		}
		if !attachment {
			body := strings.ReplaceAll(string(data), "\r\n", "\n")
			switch {
			case part.ContentType == "text/plain" && m.Text == "" && part.Filename == "":
				m.Text = body
				continue
			case part.ContentType == "text/html" && m.HTML == "" && part.Filename == "":
				m.HTML = body
				continue
			}
			m.Inline = append(m.Inline, part)
			continue
		}
		m.Attachments = append(m.Attachments, part)
	}
	return errors.Join(errs...)
}

// filename returns the file name of a part, from Content-Disposition or
// else Content-Type, decoded.
func filename(h message.Header) string {
	if _, params, err := h.ContentDisposition(); err == nil && params["filename"] != "" {
		return params["filename"]
	}
	if _, params, err := h.ContentType(); err == nil {
		return params["name"]
	}
	return ""
}
