package mailer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// txResult is the result of one mail transaction (MAIL, RCPT…, DATA).
type txResult struct {
	delivered []string     // recipients that got the message
	response  string       // reply to the end of data
	code      int          // its code
	enhanced  EnhancedCode // and enhanced code, if any
	refused   []*SendError // one per recipient refused at RCPT
	deferred  []string     // recipients left for another transaction (452 4.5.3)
	unsure    []string     // recipients of a message whose final reply was lost
	err       *SendError   // transaction failure; nil if delivered or all refused

	// stale is set when a connection that had carried an earlier
	// transaction turned out to be dead before the server accepted
	// anything: NOOP, RSET or MAIL got no reply, garbage or 421, or the
	// replies were out of step (something the server sent while the
	// connection was idle was read as a reply) before the message itself
	// was sent. The transaction may be repeated at once on a new
	// connection.
	stale bool
	// bodyStarted is set once the message itself was (being) written.
	bodyStarted bool
}

// isTooManyRecipients reports a reply that limits the recipients of one
// transaction: 452 (RFC 5321 section 4.5.3.1.10), or 552 with 5.5.3, which
// must be treated like 452.
func isTooManyRecipients(e *SendError) bool {
	return e.Code == 452 || e.Code == 552 && e.EnhancedCode == EnhancedCode{5, 5, 3}
}

// fail turns the error of a command into a SendError, and marks the
// connection broken when it cannot carry another command: no reply at all
// (network error, timeout, garbage), 421 (the server is closing the
// connection), or a positive reply where none was due, which means the
// replies are out of step with the commands.
func (cn *conn) fail(stage Stage, err error) *SendError {
	se := replyError(cn.ctx, stage, err)
	if se.Code != 0 && se.Code < 400 {
		se = &SendError{Stage: stage, Err: fmt.Errorf("%w: unexpected reply %d %s", errOutOfStep, se.Code, se.Message)}
	}
	if se.Code == 0 || se.Code == 421 {
		cn.broken = true
	}
	return se
}

// errUnsolicited reports data the server sent on an idle connection;
// errOutOfStep a positive reply where none was due.
var (
	errUnsolicited = textproto.ProtocolError("unsolicited data from the server on an idle connection")
	errOutOfStep   = textproto.ProtocolError("replies out of step with the commands")
)

// checkTimeout bounds NOOP and RSET, which ask no work of the server: a live
// server answers at once, and a connection that is silently gone, or
// answered with garbage that never ends (QQ Mail, 163), should not hold a
// Send for the full command timeout.
const checkTimeout = 5 * time.Second

// transaction sends MAIL, RCPT for each recipient, DATA and the message,
// pipelined when the server offers PIPELINING. A connection idle for longer
// than the pool's idle check is first checked with NOOP. After a failed
// transaction that the server may still hold open, transaction sends RSET;
// a connection left in an unknown state is marked broken instead.
func (cn *conn) transaction(p *payload, rcpts []string) txResult {
	from, needUTF8 := "", p.smtputf8
	if p.from != "" {
		var u bool
		from, u = envelopeAddress(p.from)
		needUTF8 = needUTF8 || u
	}
	env := make([]string, len(rcpts))
	for i, r := range rcpts {
		var u bool
		env[i], u = envelopeAddress(r)
		needUTF8 = needUTF8 || u
	}
	if needUTF8 && !cn.smtputf8 {
		return txResult{err: &SendError{Stage: StageMail, Err: ErrSMTPUTF8Required}}
	}
	if cn.maxSize > 0 && p.size > cn.maxSize {
		// Refused before a byte of it is sent: the server said it
		// would not take it.
		return txResult{err: &SendError{Stage: StageMail, Err: &SizeError{Size: p.size, Limit: cn.maxSize}}}
	}
	rparams := ""
	if cn.dsn {
		rparams = p.dsn.rcptParams()
	} else if !p.dsn.IsZero() && cn.log.Enabled(cn.ctx, slog.LevelDebug) {
		cn.log.LogAttrs(cn.ctx, slog.LevelDebug, "smtp server does not offer DSN: DSN parameters left out")
	}
	reused := cn.uses > 0
	if reused && cn.client.buffered() > 0 {
		// The server sent something while the connection was idle (a
		// 421 before closing, or garbage): do not read it as a reply.
		cn.broken = true
		return txResult{err: &SendError{Stage: StageMail, Err: errUnsolicited}, stale: cn.ctx.Err() == nil}
	}
	if reused && time.Since(cn.lastUsed) > cn.cfg.pool.idleCheck {
		cn.setDeadline(min(cn.cfg.timeouts.Command, checkTimeout))
		if err := cn.exchange(250, "NOOP"); err != nil {
			cn.broken = true
			return txResult{err: cn.fail(StageMail, err), stale: cn.ctx.Err() == nil}
		}
	}
	cn.uses++
	var res txResult
	var open bool // MAIL was accepted and the transaction did not end
	if cn.pipelining {
		res, open = cn.pipelined(p, rcpts, env, from, needUTF8, rparams)
	} else {
		res, open = cn.sequential(p, rcpts, env, from, needUTF8, rparams)
	}
	res.stale = reused && cn.broken && !res.bodyStarted && cn.ctx.Err() == nil && res.err != nil &&
		(res.err.Stage == StageMail && (res.err.Code == 0 || res.err.Code == 421) || errors.Is(res.err.Err, errOutOfStep))
	if open && !cn.broken {
		cn.reset()
	}
	return res
}

// appendMailParams appends the parameters of MAIL FROM, each with a
// leading space.
func (cn *conn) appendMailParams(b []byte, p *payload, utf8 bool) []byte {
	if utf8 {
		b = append(b, " SMTPUTF8"...)
	}
	if p.eightBit && cn.eightBit {
		b = append(b, " BODY=8BITMIME"...)
	}
	if cn.size && p.size > 0 {
		b = append(b, " SIZE="...)
		b = strconv.AppendInt(b, p.size, 10)
	}
	if cn.dsn && !p.dsn.IsZero() {
		b = append(b, p.dsn.mailParams()...)
	}
	return b
}

// sequential runs the transaction one command at a time.
func (cn *conn) sequential(p *payload, rcpts, env []string, from string, utf8 bool, rparams string) (res txResult, open bool) {
	if err := cn.cmd(250, "MAIL FROM:<%s>%s", from, cn.appendMailParams(nil, p, utf8)); err != nil {
		res.err = cn.fail(StageMail, err)
		return res, false
	}
	var accepted []string
	for i, r := range env {
		err := cn.cmd(25, "RCPT TO:<%s>%s", r, rparams)
		if err == nil {
			accepted = append(accepted, rcpts[i])
			continue
		}
		se := cn.fail(StageRcpt, err)
		if cn.broken { // the transaction is over, and the connection too
			res.err = se
			return res, false
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
		return res, true
	}
	if err := cn.cmd(354, "DATA"); err != nil {
		res.err, res.deferred = cn.fail(StageData, err), nil
		return res, !cn.broken
	}
	body, rerr := cn.prerender(p)
	cn.data(p, body, rerr, accepted, &res)
	return res, false
}

// pipelined runs the transaction as RFC 2920 allows: MAIL, every RCPT and
// DATA in one write, then their replies in order. Only the message itself
// waits for the reply to DATA.
func (cn *conn) pipelined(p *payload, rcpts, env []string, from string, utf8 bool, rparams string) (res txResult, open bool) {
	b := cn.buf[:0]
	b = append(b, "MAIL FROM:<"...)
	b = append(b, from...)
	b = append(b, '>')
	b = cn.appendMailParams(b, p, utf8)
	b = append(b, "\r\n"...)
	for _, r := range env {
		b = append(b, "RCPT TO:<"...)
		b = append(b, r...)
		b = append(b, '>')
		b = append(b, rparams...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "DATA\r\n"...)
	cn.buf = b
	cn.setDeadline(cn.cfg.timeouts.Command)
	w := cn.client.Text.W
	_, err := w.Write(b)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		cn.broken = true
		res.err = &SendError{Stage: StageMail, Err: ctxError(cn.ctx, err)}
		return res, false
	}
	// Render the message while the server answers.
	body, rerr := cn.prerender(p)

	if err = cn.expectReply(250); err != nil {
		res.err = cn.fail(StageMail, err)
		if cn.broken {
			return res, false
		}
		// MAIL refused: RCPT and DATA get "bad sequence" replies.
		cn.drain(len(env) + 1)
		return res, false
	}

	var accepted []string
	replies := make([]*SendError, len(env))
	tooMany := false
	for i := range env {
		err = cn.expectReply(25)
		if err == nil {
			accepted = append(accepted, rcpts[i])
			continue
		}
		se := cn.fail(StageRcpt, err)
		if cn.broken {
			// Recipients refused before keep their own reply; the
			// failure applies to the others.
			for _, r := range replies[:i] {
				if r != nil && !isTooManyRecipients(r) {
					res.refused = append(res.refused, r)
				}
			}
			res.err = se
			return res, false
		}
		se.Recipients = []string{rcpts[i]}
		replies[i] = se
		tooMany = tooMany || isTooManyRecipients(se)
	}
	for i, se := range replies {
		switch {
		case se == nil:
		case tooMany && len(accepted) > 0 && isTooManyRecipients(se):
			// The server limits recipients per transaction: deliver
			// to those accepted, then these in a new transaction.
			res.deferred = append(res.deferred, rcpts[i])
		default:
			res.refused = append(res.refused, se)
		}
	}

	err = cn.expectReply(354)
	if len(accepted) == 0 {
		// The server must refuse DATA without a recipient; if it took
		// it, end the empty message at once.
		if err == nil {
			cn.endEmpty()
		} else {
			cn.fail(StageData, err)
		}
		return res, !cn.broken
	}
	if err != nil {
		res.err, res.deferred = cn.fail(StageData, err), nil
		return res, !cn.broken
	}
	cn.data(p, body, rerr, accepted, &res)
	return res, false
}

// drain reads n replies of a pipelined group whose transaction failed, and
// ends the message if the server wrongly answered DATA with 354.
func (cn *conn) drain(n int) {
	for i := 0; i < n; i++ {
		code, _, err := cn.reply(0)
		if err != nil {
			cn.broken = true
			return
		}
		if i == n-1 && code == 354 {
			cn.endEmpty()
		}
	}
}

// endEmpty ends a message the server should not have accepted with a lone
// dot, and reads the reply.
func (cn *conn) endEmpty() {
	w := cn.client.Text.W
	cn.setDeadline(cn.cfg.timeouts.Command)
	_, _ = w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		cn.broken = true
		return
	}
	if _, _, err := cn.reply(0); err != nil {
		cn.broken = true
	}
}

// data writes the message and reads the reply to its end, after DATA got
// 354: body is the message rendered ahead and rerr the error of rendering
// it, or body is nil and the message is streamed. Whatever happens, the
// transaction is over. A failure in the body or a refusal at its end leaves
// the connection broken: a server that answers before reading the whole
// message may take the rest of it for commands.
func (cn *conn) data(p *payload, body []byte, rerr error, accepted []string, res *txResult) {
	res.bodyStarted = true
	sig := p.sig // a DKIM signature, made at the latest by prerender (dkim_send.go)
	var se *SendError
	switch {
	case rerr != nil:
		// Never the final dot after a message that could not be
		// written whole: close the connection instead.
		cn.abort()
		se = &SendError{Stage: StageData, Err: &localError{err: rerr}}
	case body != nil:
		se = cn.writeRendered(sig, body)
	case p.msg == nil:
		se = cn.writeRaw(sig, p.raw)
	default:
		se = cn.writeBody(sig, p.msg)
	}
	if se != nil {
		res.err, res.deferred = se, nil
		cn.broken = true
		return
	}
	cn.setDeadline(cn.cfg.timeouts.DataEnd)
	if code, reply, ok := cn.quickFinalReply(); ok {
		res.delivered = accepted
		res.code = code
		res.enhanced, _, _ = leadingEnhancedCode(code, reply[4:])
		res.response = reply
		return
	}
	code, msg, err := cn.client.Text.ReadResponse(2)
	if err != nil {
		se := replyError(cn.ctx, StageDataEnd, err)
		if se.Code == 0 {
			se.Err = fmt.Errorf("%w: %w", ErrMaybeDelivered, se.Err)
			res.unsure = accepted
		}
		res.err, res.deferred = se, nil
		cn.broken = true
		return
	}
	res.delivered = accepted
	res.code = code
	first, _, _ := strings.Cut(msg, "\n")
	res.enhanced, _, _ = leadingEnhancedCode(code, first)
	res.response = strconv.Itoa(code) + " " + sanitizeReply(strings.ReplaceAll(msg, "\n", " "))
}

// reset sends RSET after a failed transaction. A connection whose RSET
// fails is not used again (QQ and 163 may answer with garbage).
func (cn *conn) reset() {
	cn.setDeadline(min(cn.cfg.timeouts.Command, checkTimeout))
	if err := cn.exchange(250, "RSET"); err != nil {
		cn.broken = true
	}
}

// reply reads one reply, bounded by the command timeout.
func (cn *conn) reply(expect int) (int, string, error) {
	cn.setDeadline(cn.cfg.timeouts.Command)
	return cn.client.Text.ReadResponse(expect)
}

// cmd sends one command and reads its reply, bounded by the command timeout.
func (cn *conn) cmd(expect int, format string, args ...any) error {
	cn.setDeadline(cn.cfg.timeouts.Command)
	return cn.exchange(expect, format, args...)
}

// exchange sends one command and reads its reply within the deadline set.
func (cn *conn) exchange(expect int, format string, args ...any) error {
	text := cn.client.Text
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
func (cn *conn) writeBody(sig []byte, m *Message) *SendError {
	dw := cn.client.Text.DotWriter()
	body := &deadlineWriter{w: dw, cn: cn}
	_, err := body.Write(sig)
	if err == nil {
		_, err = m.WriteTo(body)
	}
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
	return cn.bodyFailed(err)
}

// writeRendered writes a message rendered ahead, final dot included, in
// one write: if the write fails, the dot at its end was not sent. A DKIM
// signature field, which needs no dot-stuffing, goes first.
func (cn *conn) writeRendered(sig, body []byte) *SendError {
	cn.setDeadline(cn.cfg.timeouts.Command)
	w := cn.client.Text.W
	_, err := w.Write(sig)
	if err == nil {
		_, err = w.Write(body)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return cn.bodyFailed(err)
	}
	return nil
}

// bodyFailed handles a network error while the message was written.
func (cn *conn) bodyFailed(err error) *SendError {
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
