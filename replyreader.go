package mailer

import (
	"bytes"
	"io"
	"net/textproto"
)

// Bounds of what a server may send as one reply. RFC 5321 section
// 4.5.3.1.5 allows 512 octets per reply line; real servers stay far below
// both bounds. Without them a hostile server (or anyone on the path before
// STARTTLS) could make the client buffer gigabytes.
const (
	maxReplyLine  = 4 << 10  // octets of one reply line, CRLF included
	maxReplyBytes = 64 << 10 // octets of one multiline reply, all lines
)

// Errors of replyReader. They are protocol errors: nothing the server sent
// was taken as a reply, and the connection is not used again.
var (
	errReplyLineTooLong = textproto.ProtocolError("reply line longer than 4096 octets")
	errReplyTooLong     = textproto.ProtocolError("multiline reply longer than 65536 octets")
)

// replyReader sits between a connection and the textproto reader of the
// replies. It passes on whole lines only, so that a read that fails (a
// deadline, a closed connection) in the middle of a line is an error and
// never a short reply; it bounds each line and each multiline reply; and
// it removes the client's own secrets from what the server sends back
// (a server that echoes the AUTH exchange in its 535 reply).
type replyReader struct {
	r       io.Reader
	in      []byte    // bytes read from r: complete lines are moved out at once
	out     []byte    // complete lines, scrubbed, not yet passed on
	off     int       // out[off:] is still to be passed on
	reply   int       // octets of the multiline reply in progress
	err     error     // the error that ended reading; sticky
	secrets *scrubber // shared by the readers of one connection (before and after STARTTLS)
}

func newReplyReader(r io.Reader, secrets *scrubber) *replyReader {
	return &replyReader{r: r, in: make([]byte, 0, maxReplyLine), secrets: secrets}
}

// Read passes on complete lines.
func (rr *replyReader) Read(p []byte) (int, error) {
	for rr.off == len(rr.out) {
		if rr.err != nil {
			return 0, rr.err
		}
		rr.out, rr.off = rr.out[:0], 0
		rr.fill()
	}
	n := copy(p, rr.out[rr.off:])
	rr.off += n
	return n, nil
}

// buffered returns the number of octets received and not yet passed on,
// a partial line included.
func (rr *replyReader) buffered() int { return len(rr.out) - rr.off + len(rr.in) }

// fill reads once from r and moves the complete lines to out.
func (rr *replyReader) fill() {
	if len(rr.in) == cap(rr.in) {
		rr.err = errReplyLineTooLong
		return
	}
	n, err := rr.r.Read(rr.in[len(rr.in):cap(rr.in)])
	start := len(rr.in)
	rr.in = rr.in[:start+n]
	line := 0 // start of the line in progress
	for {
		i := bytes.IndexByte(rr.in[start:], '\n')
		if i < 0 {
			break
		}
		end := start + i + 1
		l := rr.in[line:end]
		if len(l) > 3 && l[3] == '-' { // a continuation line
			rr.reply += len(l)
			if rr.reply > maxReplyBytes {
				rr.err = errReplyTooLong
				return
			}
		} else {
			rr.reply = 0
		}
		rr.out = rr.secrets.append(rr.out, l)
		line, start = end, end
	}
	rr.in = rr.in[:copy(rr.in, rr.in[line:])]
	switch {
	case err != nil:
		rr.err = err // a partial line is dropped: it is no reply
	case len(rr.in) == cap(rr.in):
		rr.err = errReplyLineTooLong
	}
}
