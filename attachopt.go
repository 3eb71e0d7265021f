package mailer

import (
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"
)

// An AttachOption adjusts one attachment or inline part. Pass it to the
// Attach and Embed methods of MessageBuilder.
type AttachOption func(*attachOptions)

type attachOptions struct {
	contentType string
	set         bool
}

// ContentType sets the media type of an attachment or inline part, with
// its parameters, instead of the one guessed from the file name and
// content. A calendar invitation that mail clients offer to accept needs
// its method:
//
//	b.AttachBytes("invite.ics", ics, mailer.ContentType("text/calendar; method=REQUEST"))
//
// The value is parsed and written again, never copied raw: Build fails
// with ErrInvalidHeader for anything but "type/subtype" followed by
// "; key=value" parameters of printable ASCII (values may be quoted), for
// multipart types (the builder makes the structure), for message types
// such as message/rfc822 (attachments are sent in base64, which RFC 2046
// forbids for them: attach an .eml file as application/octet-stream), and
// for a "name" parameter (the builder writes it from the file name). A text type
// without a charset gets "charset=utf-8" when its content is UTF-8.
func ContentType(mediaType string) AttachOption {
	return func(o *attachOptions) { o.contentType, o.set = mediaType, true }
}

// applyAttachOptions applies opts to a, which has its guessed content
// type, and reports false after recording an error.
func (b *MessageBuilder) applyAttachOptions(field string, a *attachment, opts []AttachOption) bool {
	var o attachOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if !o.set {
		return true
	}
	ct, err := cleanContentType(o.contentType)
	if err == nil && strings.HasPrefix(ct, "text/") && !strings.Contains(ct, "; charset=") {
		var head []byte
		if head, err = a.head(); err == nil && utf8.Valid(trimPartialRune(head)) {
			ct += "; charset=utf-8"
		}
	}
	if err != nil {
		b.errs = append(b.errs, fieldError(field+" content type", o.contentType, err))
		return false
	}
	a.ctype = ct
	return true
}

// cleanContentType parses a media type given by the user and formats it
// again from its parsed parts, as paramGroups expects: "type/subtype",
// then "; key=value" with lower-case keys in sorted order.
func cleanContentType(s string) (string, error) {
	if err := checkHeaderValue(s); err != nil {
		return "", err
	}
	mt, params, err := mime.ParseMediaType(s)
	if err != nil || !isMediaType(mt) {
		return "", fmt.Errorf("%w: want type/subtype; key=value", ErrInvalidHeader)
	}
	if strings.HasPrefix(mt, "multipart/") {
		return "", fmt.Errorf("%w: a multipart type is made by the builder", ErrInvalidHeader)
	}
	if !leafType(mt) {
		return "", fmt.Errorf("%w: a message type cannot be sent in base64 (RFC 2046 section 5.2); use application/octet-stream", ErrInvalidHeader)
	}
	if len(params) > 10 {
		return "", fmt.Errorf("%w: more than 10 parameters", ErrInvalidHeader)
	}
	keys := make([]string, 0, len(params))
	for k, v := range params {
		switch {
		case k == "name":
			return "", fmt.Errorf("%w: the name parameter is written from the file name", ErrInvalidHeader)
		case !isToken(k) || len(k) > 40:
			return "", fmt.Errorf("%w: invalid parameter name %q", ErrInvalidHeader, k)
		case len(v) > 200 || strings.ContainsAny(v, "\"\\") || !isPrintableASCII(v):
			return "", fmt.Errorf("%w: parameter %s: want at most 200 printable ASCII characters without quotes or backslashes", ErrInvalidHeader, k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	sb.WriteString(mt)
	for _, k := range keys {
		v := params[k]
		sb.WriteString("; " + k + "=")
		if isToken(v) {
			sb.WriteString(v)
		} else {
			sb.WriteString(`"` + v + `"`)
		}
	}
	return sb.String(), nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// head returns the first octets of the content of a, as far as the
// content type is sniffed.
func (a *attachment) head() ([]byte, error) {
	if a.data != nil {
		return a.data[:min(len(a.data), sniffLen)], nil
	}
	f, err := a.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return head[:n], err
}
