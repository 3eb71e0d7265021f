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

// headerSize returns the size of m's headers and MIME structure: all but
// the bodies of the parts, and their final line breaks.
func (m *Message) headerSize() int64 {
	var h headerBlock
	m.writeHeaders(&h)
	h.field("MIME-Version", false, "1.0")
	return int64(len(h.b)) + 2 + m.tree().structureSize() // 2: the blank line
}

// structureSize returns the size of p's Content-* headers and, for a
// container, its boundary lines and the headers of its children.
func (p *part) structureSize() int64 {
	var h headerBlock
	_ = p.writeHeaders(&h)
	n := int64(len(h.b))
	if p.multipart != "" {
		delim := int64(2 + len(p.boundary) + 2) // "--" boundary CRLF
		for _, c := range p.children {
			n += delim + c.structureSize() + 2 // 2: the blank line
		}
		n += delim + 2 // the close delimiter
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
