package mailer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
)

// This file holds DKIM canonicalization (RFC 6376 section 3.4) and the
// streaming pass that hashes a message's body while collecting its header.
// It allocates nothing per byte of the body: a 20 MiB attachment goes
// through a fixed scratch buffer into SHA-256.

// maxDKIMHeader bounds the header section kept in memory while signing.
const maxDKIMHeader = 1 << 20

// errDKIMHeaderTooLarge reports a header section past maxDKIMHeader.
var errDKIMHeaderTooLarge = errors.New("mailer: DKIM: header section larger than 1 MiB")

// dkimPass receives a whole message (CRLF or bare LF line ends, not
// dot-stuffed). It keeps the header section and hashes the canonical body.
type dkimPass struct {
	header  []byte // the header section, without the empty line that ends it
	inBody  bool
	relaxed bool // relaxed body canonicalization; simple otherwise
	h       hash.Hash
	err     error
	bw      *bufio.Writer // for signMessage, kept with the pass

	// Buffers of the signature, kept with the pass for the next message.
	fields     []fieldSpan
	signed     []int  // indexes in fields of the fields signed, in order
	names      []byte // the h= tag
	tag        []byte // the DKIM-Signature field being folded
	scratchTag []byte
	piece      []byte
	canon      []byte // the canonical signed fields, hashed

	// Body canonicalization state.
	cr      bool // a CR was seen and not yet written
	wsp     bool // relaxed: whitespace was seen on this line and not yet written
	empty   int  // empty lines held back: they are dropped at the end of the body
	lineLen int  // bytes written on the current line
	any     bool // some body line was written
	n       int  // bytes in scratch
	scratch [4096]byte
}

// reset clears p for another message, keeping its buffers.
func (p *dkimPass) reset() {
	*p = dkimPass{
		header: p.header[:0], h: p.h, bw: p.bw,
		fields: p.fields[:0], signed: p.signed[:0], names: p.names[:0], tag: p.tag[:0],
		scratchTag: p.scratchTag[:0], piece: p.piece[:0], canon: p.canon[:0],
	}
}

func (p *dkimPass) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n := len(b)
	if !p.inBody {
		start := max(len(p.header)-3, 0)
		p.header = append(p.header, b...)
		end, bodyAt := headerEnd(p.header, start)
		if bodyAt < 0 {
			if len(p.header) > maxDKIMHeader {
				p.err = errDKIMHeaderTooLarge
				return 0, p.err
			}
			return n, nil
		}
		rest := p.header[bodyAt:]
		p.header = p.header[:end]
		p.inBody = true
		p.body(rest)
		return n, nil
	}
	p.body(b)
	return n, nil
}

// headerEnd finds the empty line that ends the header section in b,
// searching from start. It returns the end of the header section (after the
// last header line's line break) and the start of the body, or -1.
func headerEnd(b []byte, start int) (end, body int) {
	if start == 0 {
		// A message without header fields starts with the empty line.
		if bytes.HasPrefix(b, []byte("\r\n")) {
			return 0, 2
		}
		if bytes.HasPrefix(b, []byte("\n")) {
			return 0, 1
		}
	}
	for i := start; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 1, i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 1, i + 3
		}
	}
	return 0, -1
}

// body canonicalizes b into the hash. CRLF, a bare LF and a bare CR each
// end a line, as SendRaw writes them all as CRLF. Runs of ordinary bytes
// (a base64 line, a word) are copied at once.
func (p *dkimPass) body(b []byte) {
	for len(b) > 0 {
		c := b[0]
		if p.cr {
			p.cr = false
			if c == '\n' {
				b = b[1:]
				continue // the CR ended the line already
			}
		}
		if !special(c, p.relaxed) {
			n := 1
			for n < len(b) && !special(b[n], p.relaxed) {
				n++
			}
			p.contentRun(b[:n])
			b = b[n:]
			continue
		}
		switch c {
		case '\r':
			p.endLine()
			p.cr = true
		case '\n':
			p.endLine()
		default: // relaxed white space
			p.wsp = true
		}
		b = b[1:]
	}
}

// special reports a byte that body must look at on its own: a line break,
// or white space under relaxed canonicalization.
func special(c byte, relaxed bool) bool {
	return c == '\r' || c == '\n' || relaxed && (c == ' ' || c == '\t')
}

// contentRun writes bytes that are not line breaks (nor, when relaxed,
// white space), with what was held back before them.
func (p *dkimPass) contentRun(run []byte) {
	if p.empty > 0 {
		for range p.empty {
			p.put('\r')
			p.put('\n')
		}
		p.empty = 0
	}
	if p.wsp {
		p.wsp = false
		p.put(' ') // relaxed: a run of whitespace, leading too, is one space
	}
	p.lineLen += len(run)
	for len(run) > 0 {
		if p.n == len(p.scratch) {
			p.h.Write(p.scratch[:])
			p.n = 0
		}
		k := copy(p.scratch[p.n:], run)
		p.n += k
		run = run[k:]
	}
}

// endLine ends a line: an empty line is held back until content follows.
func (p *dkimPass) endLine() {
	p.wsp = false // relaxed: trailing whitespace is dropped
	if p.lineLen == 0 {
		p.empty++
		return
	}
	p.put('\r')
	p.put('\n')
	p.lineLen = 0
	p.any = true
}

func (p *dkimPass) put(c byte) {
	if p.n == len(p.scratch) {
		p.h.Write(p.scratch[:])
		p.n = 0
	}
	p.scratch[p.n] = c
	p.n++
}

// sum ends the body and returns its hash.
func (p *dkimPass) sum() (sum [sha256.Size]byte) {
	if !p.inBody {
		// No empty line: the whole message is header (RFC 5322 allows
		// a message without a body).
		p.header = bytes.TrimRight(p.header, "\r\n")
		if len(p.header) > 0 {
			p.header = append(p.header, "\r\n"...)
		}
		p.inBody = true
	}
	if p.lineLen > 0 {
		// A last line without a line break gets one.
		p.endLine()
	}
	if !p.relaxed && !p.any {
		// Simple: an empty body is a single CRLF (RFC 6376 section 3.4.3).
		p.put('\r')
		p.put('\n')
	}
	p.h.Write(p.scratch[:p.n])
	p.n = 0
	p.h.Sum(sum[:0])
	return sum
}

// fieldSpan is one field of a header section, as offsets in it: the
// field starts at start, its name ends at nameEnd (white space before the
// colon left out), its colon is at colon, and it ends after its final CRLF
// at end.
type fieldSpan struct {
	start, nameEnd, colon, end int
}

// splitHeader splits the header section p collected into p.fields and
// returns the section they span. Bare LF and bare CR line ends are read as
// CRLF, as they are sent.
func (p *dkimPass) splitHeader() []byte {
	s := p.header
	if hasBareLineEnd(s) {
		// Rare: rewrite the line ends into the canon buffer, which is
		// free until the fields are canonicalized, and swap.
		n := p.canon[:0]
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
				n = append(n, '\r', '\n')
				i++
			case c == '\r' || c == '\n':
				n = append(n, '\r', '\n')
			default:
				n = append(n, c)
			}
		}
		p.header, p.canon = n, s[:0]
		s = n
	}
	fields := p.fields[:0]
	for at := 0; at < len(s); {
		end := at
		for {
			i := bytes.Index(s[end:], []byte("\r\n"))
			if i < 0 {
				end = len(s)
				break
			}
			end += i + 2
			if end >= len(s) || (s[end] != ' ' && s[end] != '\t') {
				break
			}
		}
		colon := bytes.IndexByte(s[at:end], ':')
		if colon >= 0 { // else not a field; verifiers skip it too
			nameEnd := at + colon
			for nameEnd > at && (s[nameEnd-1] == ' ' || s[nameEnd-1] == '\t') {
				nameEnd--
			}
			fields = append(fields, fieldSpan{start: at, nameEnd: nameEnd, colon: at + colon, end: end})
		}
		at = end
	}
	p.fields = fields
	return s
}

// hasBareLineEnd reports whether b has a bare CR or a bare LF.
func hasBareLineEnd(b []byte) bool {
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			return false
		}
		if b[i] == '\n' || i+1 == len(b) || b[i+1] != '\n' {
			return true
		}
		b = b[i+2:]
	}
}

// equalFoldASCII reports whether b and s are equal under ASCII case
// folding, as strings.EqualFold is for header field names.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// appendCanonHeader appends a header field in the given canonical form,
// ending with CRLF.
func appendCanonHeader(b, raw []byte, relaxed bool) []byte {
	if !relaxed {
		b = append(b, raw...)
		if !bytes.HasSuffix(raw, []byte("\r\n")) {
			b = append(b, "\r\n"...)
		}
		return b
	}
	name, value, _ := bytes.Cut(raw, []byte(":"))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == ' ' || c == '\t' {
			continue // whitespace before the colon goes
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, ':')
	// Unfold, reduce runs of whitespace to one space, drop it at both ends.
	space, started := false, false
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case ' ', '\t', '\r', '\n':
			space = true
		default:
			if space && started {
				b = append(b, ' ')
			}
			space, started = false, true
			b = append(b, c)
		}
	}
	return append(b, "\r\n"...)
}
