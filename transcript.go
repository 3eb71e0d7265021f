package mailer

import (
	"bytes"
	"crypto/tls"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// WithTranscript writes the SMTP conversation of every connection to w, one
// line per command or reply, for debugging a provider (as Nodemailer's
// debug log does):
//
//	2026/12/02 03:50:00.123 [1] * connected to smtp.example.com:587
//	2026/12/02 03:50:00.130 [1] S: 220 smtp.example.com ESMTP
//	2026/12/02 03:50:00.131 [1] C: EHLO app.example.com
//	…
//	2026/12/02 03:50:00.190 [1] C: AUTH PLAIN [REDACTED]
//	2026/12/02 03:50:00.201 [1] S: 235 2.7.0 Authentication successful
//	…
//	2026/12/02 03:50:00.230 [1] C: [message data: 2048 octets]
//	2026/12/02 03:50:00.230 [1] C: .
//
// The number in brackets tells connections apart. What is never written:
// AUTH payloads (initial responses and every line the client sends during
// the exchange), the password or token and their base64 forms wherever the
// server echoes them, and the message itself (only its size). Recipient
// and sender addresses are written, as they help debugging: treat the
// transcript as personal data. After STARTTLS the conversation is written
// in clear, as the Client sees it. Lines longer than 512 characters are
// cut. Writes to w are serialised, one Write per line; w's errors are
// ignored. Sending gets slower by the cost of w: use it for debugging,
// not in production.
func WithTranscript(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return configError("WithTranscript", "nil writer")
		}
		c.transcript = &transcript{w: w}
		return nil
	}
}

// transcript is the destination of WithTranscript, shared by every
// connection of a Client.
type transcript struct {
	mu    sync.Mutex
	w     io.Writer
	conns atomic.Int64
	buf   []byte
}

// maxTranscriptLine bounds the text of one transcript line.
const maxTranscriptLine = 512

func (t *transcript) line(id int64, prefix string, text []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := time.Now().AppendFormat(t.buf[:0], "2006/01/02 15:04:05.000")
	b = append(b, " ["...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, "] "...)
	b = append(b, prefix...)
	b = appendPrintable(b, text, maxTranscriptLine)
	b = append(b, '\n')
	t.buf = b
	_, _ = t.w.Write(b)
}

// appendPrintable appends text without its line end, with control
// characters and invalid UTF-8 shown as escapes, cut after max runes.
func appendPrintable(b, text []byte, max int) []byte {
	text = bytes.TrimRight(text, "\r\n")
	for n := 0; len(text) > 0; n++ {
		if n == max {
			return append(b, "…"...)
		}
		r, size := utf8.DecodeRune(text)
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20 && r != '\t', r == 0x7f:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[text[0]>>4], "0123456789abcdef"[text[0]&15])
		default:
			b = append(b, text[:size]...)
		}
		text = text[size:]
	}
	return b
}

// tap writes the transcript of one connection: it sees the client's
// writes and the server's replies (after they were bounded and scrubbed),
// line by line, and keeps what must not be shown out of it.
type tap struct {
	t  *transcript
	id int64

	client []byte // a partial client line
	server []byte // a partial server line
	inData bool   // the client is sending the message
	octets int    // of the message so far
	inAuth bool   // an AUTH exchange is in progress
}

func (t *transcript) newTap(addr string) *tap {
	if t == nil {
		return nil
	}
	tp := &tap{t: t, id: t.conns.Add(1)}
	tp.note("connected to " + addr)
	return tp
}

func (tp *tap) note(s string) {
	if tp != nil {
		tp.t.line(tp.id, "* ", []byte(s))
	}
}

// tls notes the TLS handshake done on nc, if it is a TLS connection.
func (tp *tap) tls(nc any) {
	if tc, ok := nc.(*tls.Conn); ok && tp != nil {
		st := tc.ConnectionState()
		tp.note("TLS established: " + tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite))
	}
}

// wrap returns r and w with tp listening, or r and w themselves.
func (tp *tap) wrap(r io.Reader, w io.Writer) (io.Reader, io.Writer) {
	if tp == nil {
		return r, w
	}
	return tapReader{r, tp}, tapWriter{w, tp}
}

type tapReader struct {
	r  io.Reader
	tp *tap
}

func (t tapReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.tp.fromServer(p[:n])
	return n, err
}

type tapWriter struct {
	w  io.Writer
	tp *tap
}

func (t tapWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.tp.fromClient(p[:n])
	return n, err
}

// fromServer writes the complete reply lines of p.
func (tp *tap) fromServer(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(tp.server) < maxReplyLine {
				tp.server = append(tp.server, p[:min(len(p), maxReplyLine-len(tp.server))]...)
			}
			return
		}
		line := p[:i+1]
		if len(tp.server) > 0 {
			line = append(tp.server, line...)
			tp.server = tp.server[:0]
		}
		p = p[i+1:]
		tp.t.line(tp.id, "S: ", line)
		last := len(line) < 4 || line[3] != '-'
		switch {
		case bytes.HasPrefix(line, []byte("354")):
			tp.inData, tp.octets = true, 0
		case tp.inAuth && last && !bytes.HasPrefix(line, []byte("334")):
			tp.inAuth = false
		}
	}
}

// fromClient writes the complete command lines of p; the message is only
// counted, and AUTH payloads are redacted.
func (tp *tap) fromClient(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		p = p[len(chunk):]
		if tp.inData {
			// Only the start and length of each line are kept, to see
			// the final dot and count the octets.
			if len(tp.client) < 3 {
				tp.client = append(tp.client, chunk[:min(len(chunk), 3-len(tp.client))]...)
			}
			tp.octets += len(chunk)
			if i < 0 {
				return
			}
			end := string(tp.client)
			n := len(tp.client)
			tp.client = tp.client[:0]
			if end == ".\r\n" && n == 3 || end == ".\n" && n == 2 {
				tp.octets -= n
				tp.inData = false
				tp.t.line(tp.id, "C: ", []byte("[message data: "+strconv.Itoa(tp.octets)+" octets]"))
				tp.t.line(tp.id, "C: ", []byte("."))
			}
			continue
		}
		if len(tp.client) < maxReplyLine {
			tp.client = append(tp.client, chunk[:min(len(chunk), maxReplyLine-len(tp.client))]...)
		}
		if i < 0 {
			return
		}
		tp.command(tp.client)
		tp.client = tp.client[:0]
	}
}

// command writes one client command line, with AUTH data redacted.
func (tp *tap) command(line []byte) {
	if tp.inAuth {
		tp.t.line(tp.id, "C: ", []byte(redacted))
		return
	}
	fields := bytes.Fields(line)
	if len(fields) > 0 && bytes.EqualFold(fields[0], []byte("AUTH")) {
		tp.inAuth = true
		text := []byte("AUTH")
		if len(fields) > 1 {
			text = append(append(text, ' '), fields[1]...)
		}
		if len(fields) > 2 {
			text = append(text, " "+redacted...)
		}
		tp.t.line(tp.id, "C: ", text)
		return
	}
	tp.t.line(tp.id, "C: ", line)
}
