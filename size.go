package mailer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// This file holds the SMTP SIZE extension (RFC 1870): the size declared
// with MAIL FROM, and the local refusal of a message larger than the
// server's advertised limit, before any of it is sent.

// ErrMessageTooLarge is matched by a [*SizeError]: the message is larger
// than the server accepts.
var ErrMessageTooLarge = errors.New("mailer: message larger than the server accepts")

// SizeError reports a message larger than the limit the server advertised
// with the SIZE extension (RFC 1870). It is found before MAIL FROM, so
// nothing of the message was sent, and it is permanent: the same message
// would be refused again. A [*SendError] of stage StageMail wraps it; it
// matches [ErrMessageTooLarge] with errors.Is.
type SizeError struct {
	// Size is the size of the message in octets: exact for
	// [Client.SendRaw], an estimate that is never above the real size
	// for [Client.Send].
	Size int64
	// Limit is the largest size the server accepts, from its EHLO reply.
	Limit int64
}

// Error names both sizes.
func (e *SizeError) Error() string {
	return fmt.Sprintf("mailer: message of %d octets is larger than the server's limit of %d octets (SIZE)", e.Size, e.Limit)
}

// Is reports whether target is ErrMessageTooLarge.
func (e *SizeError) Is(target error) bool { return target == ErrMessageTooLarge }

// rawSize returns the size of msg as sent, before dot-stuffing: every bare
// LF and bare CR becomes CRLF, and a missing line break at the end is
// added. It reads msg without copying it.
func rawSize(msg []byte) int64 {
	crlf := bytes.Count(msg, []byte("\r\n"))
	bareLF := bytes.Count(msg, []byte("\n")) - crlf
	bareCR := bytes.Count(msg, []byte("\r")) - crlf
	n := int64(len(msg) + bareLF + bareCR)
	if len(msg) > 0 && msg[len(msg)-1] != '\n' && msg[len(msg)-1] != '\r' {
		n += 2
	}
	return n
}

// encodedSize returns the size of n octets written with enc, or a lower
// bound of it for quoted-printable.
func encodedSize(n int64, enc transferEncoding) int64 {
	if enc != encBase64 {
		return n
	}
	chars := (n + 2) / 3 * 4
	return chars + (chars+75)/76*2 // lines of 76 characters and CRLF
}

// fixedPartsSize returns the encoded size of m's bodies and of its
// attachments held in memory: with headerSize, all of the size that Build
// can know cheaply.
func (m *Message) fixedPartsSize() int64 {
	n := encodedSize(int64(len(m.wireText)), m.textEnc)
	if m.html != "" {
		n += encodedSize(int64(len(m.wireHTML)), m.htmlEnc)
	}
	for i := range m.attachments {
		if a := &m.attachments[i]; a.data != nil {
			n += encodedSize(int64(len(a.data)), encBase64)
		}
	}
	return n
}

// headerSize estimates, without writing them, the size of m's headers and
// MIME structure: the values as given, with field names, separators and
// line breaks, but without encoded words and folding, which only add.
func (m *Message) headerSize() int64 {
	const crlf = 2
	n := len("Date: Mon, 02 Jan 2006 15:04:05 -0700\r\n") + len("Message-ID: <>\r\n") + len(m.messageID) +
		len("MIME-Version: 1.0\r\n") + crlf // the blank line
	n += addressListSize("From", []Address{m.from}) + addressListSize("Reply-To", m.replyTo) +
		addressListSize("To", m.to) + addressListSize("Cc", m.cc)
	if len(m.to)+len(m.cc) == 0 {
		n += len("To: undisclosed-recipients:;\r\n")
	}
	if m.subject != "" {
		n += len("Subject: ") + len(m.subject) + crlf
	}
	for _, h := range m.headers {
		n += len(h.name) + 2 + len(h.value) + crlf
	}
	for _, u := range m.unsubscribe {
		n += len(u) + 3 // "<u>, "
	}
	if m.userAgent != "" {
		n += len("User-Agent: \r\nX-Mailer: \r\n") + 2*len(m.userAgent)
	}
	// The parts: a Content-Type and a Content-Transfer-Encoding each, and
	// for each container its own Content-Type and delimiter lines.
	const leaf = len("Content-Type: ; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n")
	const container = len("Content-Type: multipart/mixed; boundary=\"\"\r\n") + 3*(len("--\r\n")+28) + crlf
	n += leaf + len("text/plain")
	if m.html != "" {
		n += leaf + len("text/html") + container
	}
	inline, attached := false, false
	for i := range m.attachments {
		a := &m.attachments[i]
		n += leaf + len(a.ctype) + 2*len(a.name) + len("Content-Disposition: attachment\r\n") + len(a.cid)
		inline = inline || a.cid != ""
		attached = attached || a.cid == ""
	}
	if inline {
		n += container
	}
	if attached {
		n += container
	}
	return int64(n)
}

// addressListSize estimates the size of the header name listing addrs.
func addressListSize(name string, addrs []Address) int {
	if len(addrs) == 0 {
		return 0
	}
	n := len(name) + len(": \r\n") - 2 // no ", " after the last
	for _, a := range addrs {
		n += len(a.Address) + 2 // ", "
		if a.Name != "" {
			n += len(a.Name) + 3 // " <>"
		}
	}
	return n
}

// sizeEstimate returns the size of m as sent, estimated without writing
// it: the size of its headers and the encoded sizes of its bodies and
// attachments (files are looked at with stat), without the MIME structure.
// It is never above the real size, so a message refused for its size is
// certainly too large.
func (m *Message) sizeEstimate() int64 {
	n := m.partsSize
	for i := range m.attachments {
		a := &m.attachments[i]
		if a.data != nil {
			continue
		}
		var (
			fi  fs.FileInfo
			err error
		)
		switch {
		case a.fsys != nil:
			fi, err = fs.Stat(a.fsys, a.path)
		case a.path != "":
			fi, err = os.Stat(a.path)
		default:
			continue
		}
		if err == nil && fi.Mode().IsRegular() {
			n += encodedSize(fi.Size(), encBase64)
		}
	}
	return n
}
