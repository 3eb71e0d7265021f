package mailer

import (
	"bufio"
	"bytes"
	"io"
)

// This file holds the hot path of a transaction: messages small enough are
// rendered and dot-stuffed into a buffer of the connection while the
// server answers MAIL, RCPT and DATA, then written at once; replies that
// need no text are read without allocating.

// maxPrerender bounds the content (text, HTML and attachments in memory)
// of a message rendered ahead into memory. Larger messages, and messages
// with attachments read from files, are streamed after the 354 reply.
const maxPrerender = 32 << 10

// prerenderable reports whether m is rendered ahead into memory.
func prerenderable(m *Message) bool {
	n := len(m.wireText) + len(m.wireHTML)
	for i := range m.attachments {
		a := &m.attachments[i]
		if a.data == nil {
			return false
		}
		n += len(a.data)
	}
	return n <= maxPrerender
}

// prerender renders p ahead into the connection's body buffer, dot-stuffed
// and followed by the final dot, when it is small enough; it returns nil
// and no error for a message streamed after the 354 reply.
func (cn *conn) prerender(p *payload) ([]byte, error) {
	raw := p.raw
	if p.msg != nil {
		if !prerenderable(p.msg) {
			return nil, nil
		}
		if p.signer != nil && p.sig == nil {
			return cn.renderSigned(p) // dkim_send.go
		}
		return cn.renderTo(p.msg, &cn.stuff)
	}
	if len(raw) > maxPrerender {
		return nil, nil
	}
	cn.stuff.reset(cn.body[:0])
	cn.stuff.writeRaw(raw)
	cn.body = cn.stuff.close()
	return cn.body, nil
}

// rawChunk is how much of a raw message is dot-stuffed and written at a
// time: the message is never copied whole.
const rawChunk = 32 << 10

// writeRaw writes a raw message larger than maxPrerender, dot-stuffed a
// piece at a time through the connection's body buffer, and the final dot
// with its last piece. After a failed write it sends no more, and never
// the dot.
func (cn *conn) writeRaw(sig, raw []byte) *SendError {
	w := &deadlineWriter{w: cn.client.Text.W, cn: cn}
	cn.stuff.reset(cn.body[:0])
	cn.stuff.writeRaw(sig)
	for len(raw) > rawChunk {
		cn.stuff.writeRaw(raw[:rawChunk])
		raw = raw[rawChunk:]
		if _, err := w.Write(cn.stuff.buf); err != nil {
			return cn.bodyFailed(err)
		}
		cn.stuff.buf = cn.stuff.buf[:0]
	}
	cn.stuff.writeRaw(raw)
	end := cn.stuff.close()
	cn.body = end[:0]
	_, err := w.Write(end)
	if err == nil {
		cn.setDeadline(cn.cfg.timeouts.Command)
		err = cn.client.Text.W.Flush()
	}
	if err != nil {
		return cn.bodyFailed(err)
	}
	return nil
}

// renderTo writes m, dot-stuffed and followed by the final dot, into the
// connection's body buffer and returns it. The buffer is reused by the
// next message. w is the connection's stuffer, or a writer that passes
// what it gets on to it (renderSigned).
func (cn *conn) renderTo(m *Message, w io.Writer) ([]byte, error) {
	cn.stuff.reset(cn.body[:0])
	if cn.bw == nil {
		cn.bw = bufio.NewWriterSize(w, 4096)
	} else {
		cn.bw.Reset(w)
	}
	err := m.write(cn.bw)
	if ferr := cn.bw.Flush(); err == nil {
		err = ferr
	}
	cn.bw.Reset(nil)
	cn.body = cn.stuff.close()
	if cap(cn.body) > 4*maxPrerender {
		defer func() { cn.body = nil }() // do not keep a large buffer
	}
	return cn.body, err
}

// stuffer applies the SMTP transparency rules (RFC 5321 section 4.5.2) as
// net/textproto's DotWriter does: a dot that starts a line is doubled, a
// bare LF becomes CRLF. It appends to a buffer, whole runs at a time.
type stuffer struct {
	buf       []byte
	lineStart bool // the next byte starts a line
	cr        bool // the last byte written was CR
}

func (s *stuffer) reset(buf []byte) { *s = stuffer{buf: buf, lineStart: true} }

func (s *stuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.lineStart && p[0] == '.' {
			s.buf = append(s.buf, '.')
		}
		s.lineStart = false
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			s.cr = p[len(p)-1] == '\r'
			break
		}
		s.buf = append(s.buf, p[:i]...)
		if !(i > 0 && p[i-1] == '\r' || i == 0 && s.cr) {
			s.buf = append(s.buf, '\r')
		}
		s.buf = append(s.buf, '\n')
		s.lineStart, s.cr = true, false
		p = p[i+1:]
	}
	return n, nil
}

// writeRaw is Write for a message given as bytes, which may hold bare
// CRs: a CR not followed by LF also ends a line and is written CRLF, so
// that no bare CR reaches the server (the "\r.\r" SMTP smuggling).
func (s *stuffer) writeRaw(p []byte) {
	if s.cr && len(p) > 0 && p[0] != '\n' {
		// The CR that ended the previous piece was bare.
		s.buf = append(s.buf, '\n')
		s.lineStart, s.cr = true, false
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\r')
		if i < 0 || i == len(p)-1 {
			// A CR at the end is decided by the next piece, or close.
			_, _ = s.Write(p)
			return
		}
		if p[i+1] == '\n' {
			_, _ = s.Write(p[:i+2])
			p = p[i+2:]
			continue
		}
		_, _ = s.Write(p[:i+1])
		s.buf = append(s.buf, '\n')
		s.lineStart, s.cr = true, false
		p = p[i+1:]
	}
}

// close ends the data with CRLF if needed and the final dot.
func (s *stuffer) close() []byte {
	switch {
	case s.lineStart && len(s.buf) > 0:
	case s.cr:
		s.buf = append(s.buf, '\n')
	default:
		s.buf = append(s.buf, "\r\n"...)
	}
	return append(s.buf, ".\r\n"...)
}

// quickReply consumes the next reply if it is a single line that is
// complete in the read buffer and has the expected code (with the meaning
// of expect in net/textproto's ReadResponse). Otherwise it consumes
// nothing and reports false: the caller reads the reply with
// ReadResponse, which handles every other case.
func (cn *conn) quickReply(expect int) bool {
	r := cn.client.Text.R
	if r.Buffered() == 0 {
		if _, err := r.Peek(1); err != nil {
			return false
		}
	}
	buf, _ := r.Peek(r.Buffered())
	i := bytes.IndexByte(buf, '\n')
	if i < 5 || buf[3] != ' ' {
		return false
	}
	code := 0
	for _, c := range buf[:3] {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	switch {
	case expect < 10 && code/100 != expect,
		expect >= 10 && expect < 100 && code/10 != expect,
		expect >= 100 && code != expect:
		return false
	}
	_, _ = r.Discard(i + 1)
	return true
}

// quickFinalReply is quickReply for the reply to the end of the data,
// whose text is kept: if the next reply is a single 2xx line complete in
// the read buffer, of printable ASCII words separated by single spaces
// (which sanitizeReply leaves as they are), it consumes it and returns
// its code and the whole line as sanitized ("250 2.0.0 Ok: queued").
// Otherwise it consumes nothing and reports false, and the caller reads
// the reply with ReadResponse.
func (cn *conn) quickFinalReply() (int, string, bool) {
	r := cn.client.Text.R
	if r.Buffered() == 0 {
		if _, err := r.Peek(1); err != nil {
			return 0, "", false
		}
	}
	buf, _ := r.Peek(r.Buffered())
	i := bytes.IndexByte(buf, '\n')
	if i < 5 || buf[3] != ' ' || buf[0] != '2' || buf[1] < '0' || buf[1] > '9' || buf[2] < '0' || buf[2] > '9' {
		return 0, "", false
	}
	line := buf[:i]
	if line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	text := line[4:]
	if len(text) >= maxReplyLen {
		return 0, "", false
	}
	for j, c := range text {
		if c == ' ' && (j == 0 || j == len(text)-1 || text[j-1] == ' ') || c != ' ' && (c < 0x21 || c > 0x7e) {
			return 0, "", false
		}
	}
	code := 200 + int(buf[1]-'0')*10 + int(buf[2]-'0')
	reply := string(line)
	_, _ = r.Discard(i + 1)
	return code, reply, true
}

// expectReply reads a reply with the expected code: quickly if it is
// already in the buffer, else with ReadResponse (which also bounds the wait
// by the deadline).
func (cn *conn) expectReply(expect int) error {
	cn.setDeadline(cn.cfg.timeouts.Command)
	if cn.quickReply(expect) {
		return nil
	}
	_, _, err := cn.client.Text.ReadResponse(expect)
	return err
}
