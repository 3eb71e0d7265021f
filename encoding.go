package mailer

import (
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"sync"
)

// transferEncoding is a Content-Transfer-Encoding this package writes.
// It never writes 8bit or binary: the message is the same for every server,
// whether or not it offers 8BITMIME.
type transferEncoding uint8

const (
	enc7bit   transferEncoding = iota // printable ASCII, lines ≤ 998 octets
	encQP                             // quoted-printable, mostly-ASCII text
	encBase64                         // base64, binary data and CJK text
)

func (e transferEncoding) String() string {
	return [...]string{"7bit", "quoted-printable", "base64"}[e]
}

// canonicalCRLF returns s with every line break (CRLF, a lone CR or a
// lone LF) written as CRLF, so that no bare CR or LF reaches the wire:
// RFC 5321 section 2.3.8 and the SMTP smuggling variants that rely on
// them ("\n.\n", "\r.\r", …). It returns s itself when nothing changes.
func canonicalCRLF(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		// Unix text, the common case: every LF is lone.
		n := strings.Count(s, "\n")
		if n == 0 {
			return s
		}
		var b strings.Builder
		b.Grow(len(s) + n)
		for {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				break
			}
			b.WriteString(s[:i])
			b.WriteString("\r\n")
			s = s[i+1:]
		}
		b.WriteString(s)
		return b.String()
	}
	if crlfOnly(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/32)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b.WriteString("\r\n")
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// crlfOnly reports whether every CR and LF of s is part of a CRLF: each LF
// follows a CR, and there are as many CRs as LFs (so each CR has its LF).
func crlfOnly(s string) bool {
	if strings.Count(s, "\r") != strings.Count(s, "\n") {
		return false
	}
	for rest, off := s, 0; ; {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return true
		}
		if off+i == 0 || s[off+i-1] != '\r' {
			return false
		}
		rest, off = rest[i+1:], off+i+1
	}
}

// chooseEncoding picks the transfer encoding of a text body already in
// canonical CRLF form: 7bit for printable ASCII whose lines fit in 998
// octets; otherwise quoted-printable or base64, whichever is shorter. A
// non-ASCII octet costs 3 in quoted-printable and 4/3 in base64, so text
// with more than about a sixth non-ASCII octets (Chinese, Japanese,
// Korean) goes as base64 and mostly-Latin text as quoted-printable.
func chooseEncoding(s string) transferEncoding {
	if is7bit(s) {
		return enc7bit
	}
	var nonASCII, line, maxLine int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			maxLine, line = max(maxLine, line), 0
			i++
			continue
		case c >= 0x80, c < 0x20 && c != '\t', c == 0x7f:
			nonASCII++
		}
		line++
	}
	maxLine = max(maxLine, line)
	if nonASCII == 0 && maxLine <= lineHardMax {
		return enc7bit
	}
	n := len(s)
	qp := n + 2*nonASCII + 3*(n/73)
	b64 := (n+2)/3*4 + 2*(n/57+1)
	if b64 < qp {
		return encBase64
	}
	return encQP
}

// is7bit reports whether s, in canonical CRLF form, is printable ASCII
// (tab included) in lines of at most lineHardMax octets: what
// chooseEncoding's count finds, eight octets at a time.
func is7bit(s string) bool {
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			i = len(s)
		} else if i == 0 || s[i-1] != '\r' {
			return false // not canonical: let the count decide
		} else {
			i-- // the line without its CRLF
		}
		if i > lineHardMax || !printableASCII(s[:i]) {
			return false
		}
		s = s[min(i+2, len(s)):]
	}
	return true
}

// printableASCII reports whether every octet of s is printable ASCII or a
// tab.
func printableASCII(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(s) >= 8 {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		// A byte below 0x20, or above 0x7e (DEL and non-ASCII), sets
		// its high bit in one of these.
		below := (x - ones*0x20) &^ x & highs
		above := (x + ones*(0x7f-0x7e)) | x
		if (below|above&highs) != 0 && !printableBytes(s[:8]) {
			return false
		}
		s = s[8:]
	}
	return printableBytes(s)
}

// printableBytes is printableASCII one octet at a time.
func printableBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

// writeText writes s (canonical CRLF) in encoding e, exactly: a part that
// does not end with a line break gets none, as the CRLF before the next
// boundary belongs to the boundary (RFC 2046 section 5.1.1). It reports
// whether the output ends with CRLF.
func writeText(w io.Writer, s string, e transferEncoding) (endsCRLF bool, err error) {
	switch e {
	case encQP:
		qw := quotedprintable.NewWriter(w)
		if _, err := io.WriteString(qw, s); err != nil {
			return false, err
		}
		return strings.HasSuffix(s, "\r\n"), qw.Close()
	case encBase64:
		return s != "", writeBase64(w, strings.NewReader(s))
	default:
		_, err := io.WriteString(w, s)
		return strings.HasSuffix(s, "\r\n"), err
	}
}

// base64 line layout: 57 input octets make one 76-character line
// (RFC 2045 section 6.8), and a chunk is b64Lines lines.
const (
	b64LineIn  = 57
	b64LineOut = 76
	b64Lines   = 1024
)

type b64Buffers struct {
	in  [b64LineIn * b64Lines]byte
	out [(b64LineOut + 2) * b64Lines]byte
}

var b64Pool = sync.Pool{New: func() any { return new(b64Buffers) }}

// writeBase64 streams r to w in base64 with CRLF after every 76
// characters. It holds one chunk (57 KiB in, 78 KiB out, pooled) however
// large r is, so a 20 MiB file is never in memory as a whole.
func writeBase64(w io.Writer, r io.Reader) error {
	bufs := b64Pool.Get().(*b64Buffers)
	defer b64Pool.Put(bufs)
	for {
		n, rerr := io.ReadFull(r, bufs.in[:])
		if n > 0 {
			out := bufs.out[:0]
			for i := 0; i < n; i += b64LineIn {
				end := min(i+b64LineIn, n)
				k := len(out)
				out = out[:k+base64.StdEncoding.EncodedLen(end-i)]
				base64.StdEncoding.Encode(out[k:], bufs.in[i:end])
				out = append(out, '\r', '\n')
			}
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		default:
			return rerr
		}
	}
}
