package mailertest

import (
	"bufio"
	"bytes"
	"strings"
)

// data relays DATA, the message and the final dot.
func (cs *connState) data(line string) error {
	var reply []byte
	if err := cs.step(StepDATA, []byte(line), func(r []byte) []byte { reply = r; return r }); err != nil {
		return err
	}
	if !bytes.HasPrefix(reply, []byte("354")) {
		return nil
	}
	if f := cs.srv.faultFor(StepBody); f != nil {
		if f.Delay > 0 && !cs.wait(f.Delay) {
			return errDropped
		}
		switch {
		case f.Drop:
			cs.reset()
			return errDropped
		case f.Reply != "":
			// Answer in the middle of the data and stop reading, as a
			// server does when a message is too big or refused early.
			if err := cs.reply([]byte(f.Reply + "\r\n")); err != nil {
				return err
			}
			if f.After != nil {
				if _, err := cs.front.Write(f.After); err != nil {
					return err
				}
			}
			if !f.Close {
				<-cs.srv.done
			}
			return errDropped
		}
	}
	w := bufio.NewWriter(cs.back)
	var hdr messageIDScanner // only when WithAttemptFaultFunc needs it
	hdr.done = cs.srv.opts.attemptFault == nil
	n := 0 // octets of the line so far: a dot ends the data only at the start of a line
	for {
		l, err := cs.cr.ReadSlice('\n')
		if n == 0 && err == nil && string(l) == ".\r\n" {
			break
		}
		if n == 0 && err == nil && !hdr.done {
			hdr.line(l)
		}
		if n += len(l); n > maxLine {
			return cs.lineTooLong()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		if _, err := w.Write(l); err != nil {
			return err
		}
		if err == nil {
			n = 0
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	cs.record(true, ".")
	return cs.dataEnd(hdr.id)
}

// dataEnd sends the final dot and handles the reply, with its fault;
// messageID is the message's, if known.
func (cs *connState) dataEnd(messageID string) error {
	f := cs.srv.faultFor(StepDataEnd)
	if af := cs.srv.attemptFault(messageID, f == nil); f == nil {
		f = af
	}
	if f != nil && f.Reply != "" {
		cs.mu.Lock()
		cs.dataReject = parseReply(f.Reply)
		cs.mu.Unlock()
	}
	if _, err := cs.back.Write([]byte(".\r\n")); err != nil {
		return err
	}
	reply, err := readReply(cs.br)
	if err != nil {
		return err
	}
	if f == nil {
		return cs.reply(reply)
	}
	if f.Delay > 0 && !cs.wait(f.Delay) {
		return errDropped
	}
	switch {
	case f.Drop:
		return errDropped
	case f.Raw != nil:
		reply = f.Raw
	}
	return cs.answer(reply, f)
}

// messageIDScanner finds the Message-ID header among a message's header
// lines, which are fed to it whole, continuation lines included.
type messageIDScanner struct {
	id   string
	inID bool // the last header line was Message-ID's
	done bool // the header has ended
}

func (m *messageIDScanner) line(l []byte) {
	switch {
	case len(l) <= 2 && strings.TrimRight(string(l), "\r\n") == "":
		m.done = true
	case l[0] == ' ' || l[0] == '\t':
		if m.inID {
			m.id = strings.TrimSpace(m.id + string(l))
		}
	default:
		name, value, ok := strings.Cut(string(l), ":")
		m.inID = ok && strings.EqualFold(strings.TrimSpace(name), "Message-ID")
		if m.inID {
			m.id = strings.TrimSpace(value)
		}
	}
}
