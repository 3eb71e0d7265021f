package mailer

import (
	"bytes"
	"encoding/base64"
)

// sigFolder writes the DKIM-Signature field's tags folded to lines of at
// most 76 octets, as "DKIM-Signature: v=1; a=…; … b=" (the value of b= is
// appended after signing). Long tag values (h=, bh=) are folded at their
// colons or in the base64; the others (a domain in d=, a selector in s=)
// admit no white space inside (RFC 6376 section 3.5), so one too long for
// a line gets a line of its own, longer than 76 octets but far within 998.
type sigFolder struct {
	b     []byte
	line  int    // octets on the current line
	piece []byte // scratch: a tag and its semicolon
}

// tagFold says where a tag's value may be folded.
type tagFold uint8

const (
	foldNone     tagFold = iota // nowhere: v=, a=, c=, d=, s=, t=, x=
	foldColon                   // after a colon: h=
	foldAnywhere                // anywhere: base64 (bh=)
)

// tag appends one tag and its semicolon, folded inside only as fold allows.
func (f *sigFolder) tag(t []byte, fold tagFold) {
	f.piece = append(append(f.piece[:0], t...), ';')
	f.put(f.piece, fold)
}

// last appends the empty b= tag that ends the field before signing.
func (f *sigFolder) last() { f.put([]byte("b="), foldNone) }

func (f *sigFolder) put(piece []byte, fold tagFold) {
	if f.line+1+len(piece) > 76 && f.line > 1 {
		f.b = append(f.b, "\r\n"...)
		f.line = 0
	}
	f.b = append(f.b, ' ')
	f.line++
	for fold != foldNone && f.line+len(piece) > 76 {
		// Fold inside the value: after a colon in h=, anywhere in bh=.
		cut := 76 - f.line
		if fold == foldColon {
			i := bytes.LastIndexByte(piece[:cut], ':')
			if i <= 0 {
				break // a header name is not split either
			}
			cut = i + 1
		}
		if cut <= 2 {
			break
		}
		f.b = append(f.b, piece[:cut]...)
		f.b = append(f.b, "\r\n "...)
		piece = piece[cut:]
		f.line = 1
	}
	f.b = append(f.b, piece...)
	f.line += len(piece)
}

// appendFoldedBase64 appends the base64 of sig as the b= value: lines of
// at most 76 octets, the first continuing a line of col octets.
func appendFoldedBase64(b, sig []byte, col int) []byte {
	var enc [1024]byte // the base64 of an RSA 4096 signature takes 684
	v := enc[:0]
	if n := base64.StdEncoding.EncodedLen(len(sig)); n > len(enc) {
		v = make([]byte, 0, n)
	}
	v = base64.StdEncoding.AppendEncode(v, sig)
	for len(v) > 0 {
		n := min(76-col, len(v))
		if n <= 0 {
			b = append(b, "\r\n "...)
			col = 1
			continue
		}
		b = append(b, v[:n]...)
		v = v[n:]
		col += n
	}
	return b
}
