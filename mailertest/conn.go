package mailertest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// connState is one client connection. The front end reads the client's
// commands, records them, applies faults and TLS, and passes them to the
// go-smtp server over a second, internal connection.
type connState struct {
	id  int
	srv *Server

	mu         sync.Mutex
	front      net.Conn
	back       net.Conn
	tls        bool
	helo       string
	authMech   string
	authUser   string
	authed     bool
	dataReject *smtp.SMTPError

	cr *bufio.Reader // client side
	br *bufio.Reader // server side

	counted *countedConn // the TCP connection under front
}

var errDropped = errors.New("connection dropped by fault")

func (cs *connState) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	// Stop counting the connection before closing it: closing a TLS
	// connection first sends close_notify, which the client may read
	// as the end, and dial again, before the TCP connection is closed.
	if cs.counted != nil {
		cs.counted.release()
	}
	if cs.front != nil {
		cs.front.Close()
	}
	if cs.back != nil {
		cs.back.Close()
	}
}

func (cs *connState) serve() {
	defer cs.closeAll()
	s := cs.srv
	if s.opts.tls == TLSImplicit {
		tc := tls.Server(cs.front, s.tlsCf)
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		cs.mu.Lock()
		cs.front, cs.tls = tc, true
		cs.mu.Unlock()
	}
	back, err := s.dialBack()
	if err != nil {
		return
	}
	cs.mu.Lock()
	cs.back = back
	cs.mu.Unlock()
	s.mu.Lock()
	s.byBackAddr[back.LocalAddr().String()] = cs
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.byBackAddr, back.LocalAddr().String())
		s.mu.Unlock()
	}()
	cs.cr = bufio.NewReader(cs.front)
	cs.br = bufio.NewReader(back)

	if err := cs.step(StepGreeting, nil, nil); err != nil {
		return
	}
	for {
		line, err := cs.readCommand()
		if err != nil {
			return
		}
		text := strings.TrimRight(line, "\r\n")
		verb, _, _ := strings.Cut(text, " ")
		verb = strings.ToUpper(verb)
		if len(line) > maxLine && verb != "AUTH" {
			_ = cs.lineTooLong()
			return
		}
		switch verb {
		case "STARTTLS":
			err = cs.startTLS(text)
		case "EHLO", "HELO":
			cs.mu.Lock()
			cs.helo = strings.TrimSpace(text[4:])
			cs.mu.Unlock()
			cs.record(true, text)
			err = cs.step(StepEHLO, []byte(line), cs.ehloReply)
		case "AUTH":
			err = cs.auth(text, line)
		case "DATA":
			cs.record(true, text)
			err = cs.data(line)
		case "BDAT":
			// CHUNKING is not offered: refused as by a server without it,
			// never passed to go-smtp, which would wait for the chunk.
			cs.record(true, text)
			err = cs.reply([]byte("502 5.5.1 BDAT not implemented\r\n"))
		case "QUIT":
			cs.record(true, text)
			_ = cs.step(StepQUIT, []byte(line), nil)
			return
		default:
			cs.record(true, text)
			err = cs.step(stepOf(verb), []byte(line), nil)
		}
		if err != nil {
			return
		}
	}
}

func stepOf(verb string) Step {
	switch verb {
	case "MAIL":
		return StepMAIL
	case "RCPT":
		return StepRCPT
	case "RSET":
		return StepRSET
	case "NOOP":
		return StepNOOP
	}
	return Step(strings.ToLower(verb))
}

// step handles one command: it applies the fault for the step, or passes
// cmd to the server (nothing for the greeting) and its reply back, through
// edit when not nil.
func (cs *connState) step(step Step, cmd []byte, edit func([]byte) []byte) error {
	f := cs.srv.faultFor(step)
	forward := func() ([]byte, error) {
		if cmd != nil {
			if _, err := cs.back.Write(cmd); err != nil {
				return nil, err
			}
		}
		reply, err := readReply(cs.br)
		if err != nil {
			return nil, err
		}
		if edit != nil {
			reply = edit(reply)
		}
		return reply, nil
	}
	if f == nil {
		reply, err := forward()
		if err != nil {
			return err
		}
		return cs.reply(reply)
	}
	if f.Delay > 0 && !cs.wait(f.Delay) {
		return errDropped
	}
	var reply []byte
	switch {
	case f.Drop:
		return errDropped
	case f.Reply != "":
		if step == StepGreeting { // consume the real greeting
			if _, err := forward(); err != nil {
				return err
			}
		}
		reply = []byte(f.Reply + "\r\n")
	case f.Raw != nil:
		if _, err := forward(); err != nil {
			return err
		}
		reply = f.Raw
	default:
		var err error
		if reply, err = forward(); err != nil {
			return err
		}
	}
	return cs.answer(reply, f)
}

// answer writes reply, then what fault f (nil: none) sends after it, and
// reports errDropped when f closes the connection.
func (cs *connState) answer(reply []byte, f *Fault) error {
	if err := cs.reply(reply); err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	if f.After != nil {
		if _, err := cs.front.Write(f.After); err != nil {
			return err
		}
	}
	if f.Close {
		return errDropped
	}
	return nil
}

// reset closes the client connection with a TCP reset (SO_LINGER 0), so
// that the client's next write fails at once.
func (cs *connState) reset() {
	cs.mu.Lock()
	c := cs.front
	cs.mu.Unlock()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = tcp.SetLinger(0)
	}
	c.Close()
}

// reply writes reply to the client and records it.
func (cs *connState) reply(reply []byte) error {
	if cs.srv.opts.noEnhanced {
		reply = stripEnhanced(reply)
	}
	for _, l := range strings.Split(strings.TrimRight(string(reply), "\r\n"), "\n") {
		cs.record(false, strings.TrimRight(l, "\r"))
	}
	_, err := cs.front.Write(reply)
	return err
}

// wait sleeps for d unless the server closes first.
func (cs *connState) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-cs.srv.done:
		return false
	}
}

func (cs *connState) record(fromClient bool, text string) {
	cs.srv.record(Line{Conn: cs.id, FromClient: fromClient, Text: text, Time: time.Now()})
}

// ehloReply adds STARTTLS and hides AUTH before TLS, like real submission
// servers do.
func (cs *connState) ehloReply(reply []byte) []byte {
	reply = cs.hideCapabilities(reply)
	cs.mu.Lock()
	isTLS := cs.tls
	cs.mu.Unlock()
	if cs.srv.opts.tls != TLSStartTLS || isTLS || !bytes.HasPrefix(reply, []byte("250")) {
		return reply
	}
	lines := strings.Split(strings.TrimRight(string(reply), "\r\n"), "\r\n")
	var out []string
	for _, l := range lines {
		if len(l) < 4 || strings.HasPrefix(strings.ToUpper(l[4:]), "AUTH") || strings.HasPrefix(l[4:], "ENHANCEDSTATUSCODES") && cs.srv.opts.noEnhanced {
			continue
		}
		out = append(out, l[4:])
	}
	out = append(out, "STARTTLS")
	var b strings.Builder
	for i, l := range out {
		sep := "-"
		if i == len(out)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + l + "\r\n")
	}
	return []byte(b.String())
}

// startTLS answers STARTTLS itself and upgrades the client connection. The
// go-smtp server keeps a clear-text connection to the front end.
func (cs *connState) startTLS(text string) error {
	cs.record(true, text)
	cs.mu.Lock()
	isTLS := cs.tls
	cs.mu.Unlock()
	if cs.srv.opts.tls != TLSStartTLS || isTLS {
		return cs.step(StepSTARTTLS, []byte(text+"\r\n"), nil)
	}
	f := cs.srv.faultFor(StepSTARTTLS)
	if f != nil {
		if f.Delay > 0 && !cs.wait(f.Delay) {
			return errDropped
		}
		var refusal []byte
		switch {
		case f.Drop:
			return errDropped
		case f.Reply != "":
			refusal = []byte(f.Reply + "\r\n")
		case f.Raw != nil:
			refusal = f.Raw
		}
		if refusal != nil {
			return cs.answer(refusal, f)
		}
	}
	ready := []byte("220 2.0.0 Ready to start TLS\r\n")
	if err := cs.reply(ready); err != nil {
		return err
	}
	if f != nil && f.After != nil {
		// Response injection (CVE-2011-0411 class): bytes after the 220,
		// which a careful client discards when TLS starts. They go in the
		// same segment as the 220 where possible; a client that buffers
		// them may take them for its next reply.
		if _, err := cs.front.Write(f.After); err != nil {
			return err
		}
	}
	if f != nil && f.Close {
		return errDropped // the client's handshake finds the connection closed
	}
	tc := tls.Server(cs.front, cs.srv.tlsCf)
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	_ = tc.SetDeadline(time.Time{})
	cs.mu.Lock()
	cs.front, cs.tls = tc, true
	cs.mu.Unlock()
	// Bytes sent before the handshake are discarded, as RFC 3207 requires.
	cs.cr = bufio.NewReader(tc)
	return nil
}

// auth relays an AUTH exchange, recording the client's data as redacted.
func (cs *connState) auth(text, line string) error {
	fields := strings.Fields(text)
	redacted := strings.Join(fields[:min(len(fields), 2)], " ")
	if len(fields) > 2 {
		redacted += " <redacted>"
	}
	cs.record(true, redacted)
	cs.mu.Lock()
	isTLS := cs.tls
	cs.mu.Unlock()
	if cs.srv.opts.tls == TLSStartTLS && !isTLS {
		cs.srv.faultFor(StepAUTH)
		return cs.reply([]byte("530 5.7.0 Must issue a STARTTLS command first\r\n"))
	}
	// The AUTH command is one occurrence of StepAUTH, whatever the number
	// of lines its exchange takes; the fault, if any, answers the command.
	var reply []byte
	if err := cs.step(StepAUTH, []byte(line), func(r []byte) []byte { reply = r; return r }); err != nil {
		return err
	}
	for bytes.HasPrefix(reply, []byte("334")) {
		next, err := cs.readLine(maxAuthLine)
		if err != nil {
			return err
		}
		cs.record(true, "<redacted>")
		if _, err := cs.back.Write([]byte(next)); err != nil {
			return err
		}
		if reply, err = readReply(cs.br); err != nil {
			return err
		}
		if err := cs.reply(reply); err != nil {
			return err
		}
	}
	return nil
}
