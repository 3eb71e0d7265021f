package mailer

import (
	"bufio"
	"bytes"
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

// render writes m, dot-stuffed and followed by the final dot, into the
// connection's body buffer and returns it. The buffer is reused by the
// next message.
func (cn *conn) render(m *Message) ([]byte, error) {
	cn.stuff.reset(cn.body[:0])
	if cn.bw == nil {
		cn.bw = bufio.NewWriterSize(&cn.stuff, 4096)
	} else {
		cn.bw.Reset(&cn.stuff)
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
