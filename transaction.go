package mailer

import (
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"time"
)

// txResult is the result of one mail transaction (MAIL, RCPT…, DATA).
type txResult struct {
	delivered []string     // recipients that got the message
	response  string       // reply to the end of data
	refused   []*SendError // one per recipient refused at RCPT
	deferred  []string     // recipients left for another transaction (452 4.5.3)
	err       *SendError   // transaction failure; nil if delivered or all refused
}

// isTooManyRecipients reports a reply that limits the recipients of one
// transaction: 452 (RFC 5321 section 4.5.3.1.10), or 552 with 5.5.3, which
// must be treated like 452.
func isTooManyRecipients(e *SendError) bool {
	return e.Code == 452 || e.Code == 552 && e.EnhancedCode == EnhancedCode{5, 5, 3}
}

// transaction sends MAIL, RCPT for each recipient, DATA and the message.
func (cn *conn) transaction(m *Message, rcpts []string) txResult {
	from, needUTF8 := envelopeAddress(m.from.Address)
	env := make([]string, len(rcpts))
	for i, r := range rcpts {
		var u bool
		env[i], u = envelopeAddress(r)
		needUTF8 = needUTF8 || u
	}
	params := ""
	if needUTF8 {
		if ok, _ := cn.client.Extension("SMTPUTF8"); !ok {
			return txResult{err: &SendError{Stage: StageMail, Err: ErrSMTPUTF8Required}}
		}
		params = " SMTPUTF8"
	}
	if err := cn.cmd(250, "MAIL FROM:<%s>%s", from, params); err != nil {
		return txResult{err: replyError(cn.ctx, StageMail, err)}
	}

	var res txResult
	var accepted []string
	for i, r := range env {
		err := cn.cmd(25, "RCPT TO:<%s>", r)
		if err == nil {
			accepted = append(accepted, rcpts[i])
			continue
		}
		se := replyError(cn.ctx, StageRcpt, err)
		if se.Code == 0 { // connection trouble: the transaction is over
			res.err = se
			return res
		}
		if len(accepted) > 0 && isTooManyRecipients(se) {
			// Deliver to those accepted, then the rest in a new
			// transaction on this connection.
			res.deferred = rcpts[i:]
			break
		}
		se.Recipients = []string{rcpts[i]}
		res.refused = append(res.refused, se)
	}
	if len(accepted) == 0 {
		if err := cn.cmd(250, "RSET"); err != nil {
			cn.abort()
		}
		return res
	}

	if err := cn.cmd(354, "DATA"); err != nil {
		res.err = replyError(cn.ctx, StageData, err)
		res.deferred = nil
		return res
	}
	if se := cn.writeBody(m); se != nil {
		res.err, res.deferred = se, nil
		return res
	}
	cn.setDeadline(cn.cfg.timeouts.DataEnd)
	code, msg, err := cn.client.Text.ReadResponse(250)
	if err != nil {
		se := replyError(cn.ctx, StageDataEnd, err)
		if se.Code == 0 {
			se.Err = fmt.Errorf("%w: %w", ErrMaybeDelivered, se.Err)
		}
		res.err, res.deferred = se, nil
		return res
	}
	res.delivered = accepted
	res.response = fmt.Sprintf("%d %s", code, sanitizeReply(strings.ReplaceAll(msg, "\n", " ")))
	return res
}

// cmd sends one command and reads its reply, bounded by the command timeout.
func (cn *conn) cmd(expect int, format string, args ...any) error {
	text := cn.client.Text
	cn.setDeadline(cn.cfg.timeouts.Command)
	id, err := text.Cmd(format, args...)
	if err != nil {
		return err
	}
	text.StartResponse(id)
	defer text.EndResponse(id)
	_, _, err = text.ReadResponse(expect)
	return err
}

// writeBody writes the message and the final dot. It never writes the dot
// after a failed write: it closes the connection instead, so that the
// server discards the partial message.
func (cn *conn) writeBody(m *Message) *SendError {
	dw := cn.client.Text.DotWriter()
	body := &deadlineWriter{w: dw, cn: cn}
	_, err := m.WriteTo(body)
	if err == nil {
		cn.setDeadline(cn.cfg.timeouts.Command)
		if err = dw.Close(); err != nil {
			body.err = err
		}
	}
	if err == nil {
		return nil
	}
	if body.err == nil {
		// Not the network: the content itself could not be read.
		cn.abort()
		return &SendError{Stage: StageData, Err: &localError{err: err}}
	}
	// The server may have said why it stopped reading (552 message too
	// big, 554 rejected): read its reply, briefly, before giving up.
	cn.setDeadline(min(cn.cfg.timeouts.Command, time.Second))
	if code, msg, rerr := cn.client.Text.ReadResponse(0); rerr == nil && code >= 400 {
		se := replyError(cn.ctx, StageData, &textproto.Error{Code: code, Msg: msg})
		cn.abort()
		return se
	}
	cn.abort()
	return &SendError{Stage: StageData, Err: ctxError(cn.ctx, err)}
}

// deadlineWriter renews the command deadline while the body is written, so
// that a large message may take as long as it needs while a stalled one
// does not, and records the first network error.
type deadlineWriter struct {
	w       io.Writer
	cn      *conn
	renewed time.Time
	err     error
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.renewed) > min(time.Second, d.cn.cfg.timeouts.Command/4) {
		d.renewed = now
		d.cn.setDeadline(d.cn.cfg.timeouts.Command)
	}
	n, err := d.w.Write(p)
	if err != nil && d.err == nil {
		d.err = err
	}
	return n, err
}
