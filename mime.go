package mailer

import (
	"bufio"
	"bytes"
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

// This file writes a Message as MIME (RFC 2045 to 2049). The writer is our
// own, built on the standard library (mime/quotedprintable,
// encoding/base64), not go-mail's msgWriter, which this package used at
// first. go-mail v0.8.1 gets several things wrong that cannot be fixed from
// outside its writer: it buffers every encoded part in memory (a 20 MiB
// file costs ~5× its size), writes non-ASCII file names as RFC 2047 inside
// quoted parameters without RFC 2231, folds headers only at spaces (a long
// token gives a 1,201-octet line) and loses a space at a fold, and writes
// alternative parts in insertion order. go-mail remains the SMTP engine.
//
// The tree is:
//
//	multipart/mixed                  when there are attachments
//	├─ multipart/related             when there are inline parts
//	│  ├─ multipart/alternative      when there is HTML
//	│  │  ├─ text/plain              always first
//	│  │  └─ text/html               always last: the one clients prefer
//	│  └─ image/png (inline, Content-ID)
//	└─ application/pdf (attachment)
//
// Each level is left out when it would have one child.

// WriteTo writes the message in RFC 5322 form, exactly as it is sent
// (without the SMTP dot-stuffing), for previews and .eml files. Lines end
// with CRLF and are at most 998 octets; headers are folded at 76. Every
// call writes the same bytes (Message-ID, Date and MIME boundaries are
// chosen once, by Build), as long as attached files do not change.
// Attachment files are read while they are written; WriteTo fails if one
// can no longer be read.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriter(cw)
	err := m.write(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return cw.n, err
}

// Bytes returns the message in RFC 5322 form, exactly as [Message.WriteTo]
// writes it and [Client.Send] sends it: the same bytes on every call, with
// Bcc addresses in no header (they are in [Message.Envelope] only). With
// the envelope, the bytes are what an outbox stores or a DKIM signer
// signs; [Client.SendRaw] sends them as Send would have sent m. It fails
// only when an attached file can no longer be read.
func (m *Message) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(m.partsSize) + 2048)
	bw := bufio.NewWriterSize(&buf, 4096)
	err := m.write(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// part is a node of the MIME tree.
type part struct {
	multipart string   // "mixed", "related" or "alternative" for a container
	params    []string // extra Content-Type parameter of a container
	children  []*part
	boundary  string

	ctype string // media type of a leaf, with its parameters
	text  string // body of a text leaf, canonical CRLF
	enc   transferEncoding
	att   *attachment // body of a file leaf
}

func (m *Message) write(w *bufio.Writer) error {
	root := m.tree()
	var h headerBlock
	h.b = make([]byte, 0, 1024)
	m.writeHeaders(&h)
	h.field("MIME-Version", false, "1.0")
	if err := root.writeHeaders(&h); err != nil {
		return err
	}
	if h.err != nil {
		return h.err
	}
	h.b = append(h.b, "\r\n"...)
	if _, err := w.Write(h.b); err != nil {
		return err
	}
	endsCRLF, err := root.writeBody(w, &h)
	if err == nil && !endsCRLF {
		_, err = w.WriteString("\r\n")
	}
	return err
}

// writeHeaders writes the message's own headers (all but the Content-*
// headers of the root part).
func (m *Message) writeHeaders(h *headerBlock) {
	h.fieldWords("Date", false, m.date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	h.addressList("From", []Address{m.from})
	h.addressList("Reply-To", m.replyTo)
	h.addressList("To", m.to)
	if len(m.to)+len(m.cc) == 0 {
		h.field("To", false, "undisclosed-recipients:;")
	}
	h.addressList("Cc", m.cc)
	if m.subject != "" {
		h.unstructured("Subject", m.subject)
	}
	if h.begin("Message-ID") && h.token("<", m.messageID, ">", false) {
		h.end()
	}
	for _, x := range m.headers {
		if x.addrs != nil {
			h.addressList(x.name, x.addrs)
		} else if x.ids != nil {
			h.field(x.name, false, x.ids...)
		} else {
			h.custom(x.name, x.value)
		}
	}
	if len(m.unsubscribe) > 0 {
		toks := make([]string, len(m.unsubscribe))
		for i, u := range m.unsubscribe {
			toks[i] = "<" + u + ">"
			if i < len(toks)-1 {
				toks[i] += ","
			}
		}
		h.field("List-Unsubscribe", false, toks...)
	}
	if m.oneClick {
		h.field("List-Unsubscribe-Post", false, "List-Unsubscribe=One-Click")
	}
	if xp, imp := priorityHeaders(m.priority); xp != "" {
		h.field("X-Priority", false, strings.Fields(xp)...)
		h.field("Importance", false, imp)
	}
	if m.userAgent != "" {
		h.unstructured("User-Agent", m.userAgent)
		h.unstructured("X-Mailer", m.userAgent)
	}
}

// tree arranges the message's parts; see the comment at the top of the file.
func (m *Message) tree() *part {
	body := &part{ctype: "text/plain; charset=utf-8", text: m.wireText, enc: m.textEnc}
	if m.html != "" {
		body = &part{multipart: "alternative", children: []*part{
			body,
			{ctype: "text/html; charset=utf-8", text: m.wireHTML, enc: m.htmlEnc},
		}}
	}
	var inline, attached []*part
	for i := range m.attachments {
		a := &m.attachments[i]
		p := &part{ctype: a.ctype, att: a, enc: encBase64}
		if a.cid != "" {
			inline = append(inline, p)
		} else {
			attached = append(attached, p)
		}
	}
	if len(inline) > 0 {
		rootType := body.ctype
		if body.multipart != "" {
			rootType = "multipart/" + body.multipart
		}
		rootType, _, _ = strings.Cut(rootType, ";")
		body = &part{multipart: "related", params: []string{`type="` + rootType + `"`},
			children: append([]*part{body}, inline...)}
	}
	if len(attached) > 0 {
		body = &part{multipart: "mixed", children: append([]*part{body}, attached...)}
	}
	n := 0
	body.setBoundaries(&m.seed, &n)
	return body
}

// setBoundaries gives every container a boundary that occurs in none of
// the 7bit text below it. Quoted-printable and base64 output cannot
// contain "=_", which every boundary starts with. The boundaries come from
// the message's random seed, so that every write of a message gives the
// same bytes; n counts the boundaries made.
func (p *part) setBoundaries(seed *[16]byte, n *int) {
	if p.multipart == "" {
		return
	}
	for {
		p.boundary = newBoundary(seed, *n)
		*n++
		if !p.contains7bit(p.boundary) {
			break
		}
	}
	for _, c := range p.children {
		c.setBoundaries(seed, n)
	}
}

func (p *part) contains7bit(s string) bool {
	if p.multipart == "" {
		return p.att == nil && p.enc == enc7bit && strings.Contains(p.text, s)
	}
	for _, c := range p.children {
		if c.contains7bit(s) {
			return true
		}
	}
	return false
}

// newBoundary returns "=_" and 26 base32 characters: the message's random
// seed (128 bits) with n added to it, so that boundaries of one message
// differ, and have the same length, which makes none a prefix of another.
func newBoundary(seed *[16]byte, n int) string {
	b := *seed
	carry := uint(n)
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := uint(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	var out [2 + 26]byte
	out[0], out[1] = '=', '_'
	boundaryEncoding.Encode(out[2:], b[:])
	return string(out[:])
}

// boundaryEncoding is base32 in lower case without padding.
var boundaryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// writeHeaders writes the Content-* headers of p.
func (p *part) writeHeaders(h *headerBlock) error {
	if p.multipart != "" {
		// The tokens of withSemicolons: the type, each parameter and
		// the boundary, all but the last followed by ";".
		if !h.begin("Content-Type") || !h.token("multipart/", p.multipart, ";", false) {
			return h.err
		}
		for _, prm := range p.params {
			if !h.token("", prm, ";", false) {
				return h.err
			}
		}
		if h.token(`boundary="`, p.boundary, `"`, false) {
			h.end()
		}
		return h.err
	}
	if p.att == nil {
		h.fieldParams("Content-Type", p.ctype)
		h.field("Content-Transfer-Encoding", false, p.enc.String())
		return h.err
	}
	a := p.att
	nameTok, dispToks := fileParams(a.name)
	h.field("Content-Type", false, withSemicolons(append(paramGroups(a.ctype), nameTok)...)...)
	h.field("Content-Transfer-Encoding", false, encBase64.String())
	disp := "attachment"
	if a.cid != "" {
		disp = "inline"
	}
	dg := [][]string{{disp}}
	for _, t := range dispToks {
		dg = append(dg, []string{t})
	}
	h.field("Content-Disposition", false, withSemicolons(dg...)...)
	if a.cid != "" {
		h.field("Content-ID", false, "<"+a.cid+">")
	}
	return h.err
}

// writeBody writes the body of p and reports whether it ends with CRLF.
// h is a header block whose buffer the parts' headers reuse.
func (p *part) writeBody(w *bufio.Writer, h *headerBlock) (bool, error) {
	switch {
	case p.multipart != "":
		for i, c := range p.children {
			sep := "\r\n--"
			if i == 0 {
				sep = "--"
			}
			*h = headerBlock{b: h.b[:0]}
			if err := c.writeHeaders(h); err != nil {
				return false, err
			}
			_, _ = w.WriteString(sep)
			_, _ = w.WriteString(p.boundary)
			if _, err := w.WriteString("\r\n"); err != nil {
				return false, err
			}
			h.b = append(h.b, "\r\n"...)
			if _, err := w.Write(h.b); err != nil {
				return false, err
			}
			if _, err := c.writeBody(w, h); err != nil {
				return false, err
			}
		}
		_, _ = w.WriteString("\r\n--")
		_, _ = w.WriteString(p.boundary)
		_, err := w.WriteString("--\r\n")
		return true, err
	case p.att != nil:
		r, err := p.att.open()
		if err != nil {
			return false, fmt.Errorf("mailer: attachment %s: %w", quoteValue(p.att.name), err)
		}
		defer r.Close()
		if err := writeBase64(w, r); err != nil {
			return false, fmt.Errorf("mailer: attachment %s: %w", quoteValue(p.att.name), err)
		}
		return true, nil
	default:
		return writeText(w, p.text, p.enc)
	}
}

// paramGroups splits a media type we formatted ("type/sub; k=v") into
// one token group per item.
func paramGroups(ctype string) [][]string {
	var g [][]string
	for _, t := range strings.Split(ctype, "; ") {
		g = append(g, []string{t})
	}
	return g
}
