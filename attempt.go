package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// attemptResult is the result of one attempt: who accepted the message,
// who refused it, and what failed.
type attemptResult struct {
	// response is the server's reply to the end of data ("250 2.0.0 OK …")
	// when the message was accepted for at least one recipient.
	response string
	// accepted lists the recipients the message was delivered to.
	accepted []string
	// err is nil when every recipient accepted the message. Otherwise it
	// is a *SendError: the transaction failed, or (with accepted not empty)
	// some recipients were refused at RCPT.
	err *SendError
}

// delivered reports whether the server took the message for at least one
// recipient.
func (r attemptResult) delivered() bool { return len(r.accepted) > 0 }

// aLongTimeAgo is a deadline in the past: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one SMTP connection during one attempt.
type conn struct {
	cfg    *config
	ctx    context.Context
	raw    net.Conn // the TCP connection: deadlines are set here
	client *smtp.Client
	log    *slog.Logger
	tls    bool
}

// attempt performs one complete SMTP transaction for m to rcpts on a new
// connection and classifies what happened. It never retries.
func (c *Client) attempt(ctx context.Context, m *Message, rcpts []string) attemptResult {
	log := c.cfg.logger.With(slog.String("message_id", m.messageID))
	cn, serr := dial(ctx, c.cfg, log)
	if serr != nil {
		return attemptResult{err: c.finish(serr)}
	}
	defer cn.close()
	if serr := cn.handshake(); serr != nil {
		return attemptResult{err: c.finish(serr)}
	}
	res := cn.transaction(m, rcpts)
	if res.err != nil {
		res.err = c.finish(res.err)
	}
	if res.delivered() || res.err != nil && res.err.Code != 0 {
		// After a delivery the message is delivered whatever happens now:
		// QQ and 163 answer QUIT (and RSET, NOOP) with garbage, which
		// quit ignores.
		cn.quit()
	}
	return res
}

// finish applies reply rules to e and fills in fields common to all errors.
func (c *Client) finish(e *SendError) *SendError {
	for _, r := range c.cfg.rules {
		if r.matches(e) {
			e.Hint, e.outcome, e.minWait = r.Hint, r.Outcome, r.MinWait
			break
		}
	}
	for _, r := range e.Rejections {
		c.finish(r)
	}
	return e
}

// dial opens the connection, does the implicit TLS handshake if needed and
// reads the greeting.
func dial(ctx context.Context, cfg *config, log *slog.Logger) (*conn, *SendError) {
	if err := ctx.Err(); err != nil {
		return nil, &SendError{Stage: StageDial, Err: err}
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.timeouts.Dial)
	defer cancel()
	dialFn := cfg.dial
	if dialFn == nil {
		dialFn = (&net.Dialer{}).DialContext
	}
	start := time.Now()
	raw, err := dialFn(dctx, "tcp", cfg.addr())
	if err != nil {
		return nil, &SendError{Stage: StageDial, Err: ctxError(ctx, err)}
	}
	cn := &conn{cfg: cfg, ctx: ctx, raw: raw, log: log}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(aLongTimeAgo) })
	cn.raw = &stoppingConn{Conn: raw, stop: stop}

	var nc net.Conn = raw
	deadline, _ := dctx.Deadline()
	cn.setDeadline(time.Until(deadline))
	if cfg.tlsMode == TLSImplicit {
		tc := tls.Client(raw, cfg.tlsClientConfig())
		if err := tc.HandshakeContext(dctx); err != nil {
			cn.abort()
			return nil, &SendError{Stage: StageDial, Err: ctxError(ctx, err)}
		}
		nc, cn.tls = tc, true
	}
	client, err := smtp.NewClient(nc, cfg.host)
	if err != nil {
		cn.abort()
		return nil, replyError(ctx, StageDial, err)
	}
	cn.client = client
	log.LogAttrs(ctx, slog.LevelDebug, "smtp connected",
		slog.String("server", cfg.addr()), slog.Bool("tls", cn.tls), slog.Duration("elapsed", time.Since(start)))
	return cn, nil
}

// stoppingConn releases the context watcher when the connection closes.
type stoppingConn struct {
	net.Conn
	stop func() bool
}

func (s *stoppingConn) Close() error {
	s.stop()
	return s.Conn.Close()
}

// setDeadline bounds the next network step by d, or aborts it at once if the
// context is already done.
func (cn *conn) setDeadline(d time.Duration) {
	_ = cn.raw.SetDeadline(time.Now().Add(d))
	if cn.ctx.Err() != nil {
		_ = cn.raw.SetDeadline(aLongTimeAgo)
	}
}

// handshake says EHLO, upgrades with STARTTLS and authenticates.
func (cn *conn) handshake() *SendError {
	cfg := cn.cfg
	cn.setDeadline(cfg.timeouts.Command)
	if err := cn.client.Hello(cfg.helo); err != nil {
		return replyError(cn.ctx, StageDial, err)
	}
	if cfg.tlsMode == TLSStartTLS || cfg.tlsMode == TLSOpportunistic {
		offered, _ := cn.client.Extension("STARTTLS")
		switch {
		case offered:
			cn.setDeadline(cfg.timeouts.Command)
			if err := cn.client.StartTLS(cfg.tlsClientConfig()); err != nil {
				return replyError(cn.ctx, StageTLS, err)
			}
			cn.tls = true
			cn.log.LogAttrs(cn.ctx, slog.LevelDebug, "smtp starttls done")
		case cfg.tlsMode == TLSStartTLS:
			return &SendError{Stage: StageTLS, Err: ErrTLSRequired}
		}
	}
	if cfg.auth.IsZero() {
		return nil
	}
	if !cn.tls && !cfg.insecureAuth {
		return &SendError{Stage: StageAuth, Err: ErrInsecureAuth}
	}
	ok, list := cn.client.Extension("AUTH")
	if !ok {
		return &SendError{Stage: StageAuth, Err: fmt.Errorf("%w: server does not offer AUTH", ErrAuthUnsupported)}
	}
	mech, err := cfg.auth.choose(strings.Fields(list))
	if err != nil {
		return &SendError{Stage: StageAuth, Err: err}
	}
	sasl, err := cfg.auth.saslClient(cn.ctx, mech, cfg.host)
	if err != nil {
		return &SendError{Stage: StageAuth, Err: err}
	}
	cn.setDeadline(cfg.timeouts.Command)
	if err := cn.client.Auth(sasl); err != nil {
		se := replyError(cn.ctx, StageAuth, err)
		if se.Code != 0 {
			se.Err = fmt.Errorf("%w: %w", ErrAuth, se.Err)
		}
		return se
	}
	cn.log.LogAttrs(cn.ctx, slog.LevelDebug, "smtp authenticated",
		slog.String("mechanism", string(mech)), slog.String("user", cfg.auth.Username()))
	return nil
}

// transaction sends MAIL, RCPT, DATA and the message.
func (cn *conn) transaction(m *Message, rcpts []string) attemptResult {
	text := cn.client.Text
	cmd := func(expect int, format string, args ...any) (int, string, error) {
		cn.setDeadline(cn.cfg.timeouts.Command)
		id, err := text.Cmd(format, args...)
		if err != nil {
			return 0, "", err
		}
		text.StartResponse(id)
		defer text.EndResponse(id)
		return text.ReadResponse(expect)
	}

	from, utf8From := envelopeAddress(m.from.Address)
	needUTF8 := utf8From
	env := make([]string, len(rcpts))
	for i, r := range rcpts {
		var u bool
		env[i], u = envelopeAddress(r)
		needUTF8 = needUTF8 || u
	}
	params := ""
	if needUTF8 {
		if ok, _ := cn.client.Extension("SMTPUTF8"); !ok {
			return attemptResult{err: &SendError{Stage: StageMail, Err: ErrSMTPUTF8Required}}
		}
		params = " SMTPUTF8"
	}
	if _, _, err := cmd(250, "MAIL FROM:<%s>%s", from, params); err != nil {
		return attemptResult{err: replyError(cn.ctx, StageMail, err)}
	}

	var res attemptResult
	var refused []*SendError
	for i, r := range env {
		if _, _, err := cmd(25, "RCPT TO:<%s>", r); err != nil {
			se := replyError(cn.ctx, StageRcpt, err)
			if se.Code == 0 { // connection trouble: the transaction is over
				return attemptResult{err: se}
			}
			se.Recipients = []string{rcpts[i]}
			refused = append(refused, se)
			continue
		}
		res.accepted = append(res.accepted, rcpts[i])
	}
	if len(refused) > 0 {
		res.err = recipientsError(refused)
	}
	if len(res.accepted) == 0 {
		return res
	}

	fail := func(err *SendError) attemptResult {
		if res.err != nil {
			err.Rejections = res.err.Rejections
		}
		return attemptResult{err: err}
	}
	if _, _, err := cmd(354, "DATA"); err != nil {
		return fail(replyError(cn.ctx, StageData, err))
	}
	dw := text.DotWriter()
	body := &deadlineWriter{w: dw, cn: cn}
	if _, err := m.WriteTo(body); err != nil {
		// Never send the final dot after a failed write: close instead, so
		// the server discards what it has.
		cn.abort()
		if body.err == nil {
			err = &localError{err: err}
		}
		return fail(&SendError{Stage: StageData, Err: ctxError(cn.ctx, err)})
	}
	cn.setDeadline(cn.cfg.timeouts.Command)
	if err := dw.Close(); err != nil {
		cn.abort()
		return fail(&SendError{Stage: StageData, Err: ctxError(cn.ctx, err)})
	}
	cn.setDeadline(cn.cfg.timeouts.DataEnd)
	code, msg, err := text.ReadResponse(250)
	if err != nil {
		se := replyError(cn.ctx, StageDataEnd, err)
		if se.Code == 0 {
			se.Err = fmt.Errorf("%w: %w", ErrMaybeDelivered, se.Err)
		}
		return fail(se)
	}
	res.response = fmt.Sprintf("%d %s", code, sanitizeReply(strings.ReplaceAll(msg, "\n", " ")))
	return res
}

// quit ends the session politely. Errors are only logged: QQ and 163 answer
// with garbage after a delivered message.
func (cn *conn) quit() {
	d := min(cn.cfg.timeouts.Command, 5*time.Second)
	cn.setDeadline(d)
	if err := cn.client.Quit(); err != nil {
		cn.log.LogAttrs(cn.ctx, slog.LevelDebug, "smtp QUIT failed after delivery (ignored)",
			slog.String("error", sanitizeReply(err.Error())))
	}
}

// abort closes the connection without QUIT.
func (cn *conn) abort() { _ = cn.raw.Close() }

// close releases the connection.
func (cn *conn) close() {
	if cn.client != nil {
		_ = cn.client.Close()
	}
	_ = cn.raw.Close()
}

// deadlineWriter renews the command deadline before each write, so that a
// large message may take as long as it needs while a stalled one does not.
type deadlineWriter struct {
	w       io.Writer
	cn      *conn
	renewed time.Time
	err     error // the first write error: a network failure
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// Renewing costs a syscall-free but locked runtime call; once a second
	// is plenty for a timeout counted in minutes.
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

// recipientsError combines the refusals of several recipients.
func recipientsError(refused []*SendError) *SendError {
	first := refused[0]
	e := &SendError{
		Stage: StageRcpt, Code: first.Code, EnhancedCode: first.EnhancedCode, Message: first.Message,
		Rejections: refused,
	}
	errs := make([]error, len(refused))
	for i, r := range refused {
		e.Recipients = append(e.Recipients, r.Recipients...)
		errs[i] = r
	}
	e.Err = errors.Join(errs...)
	if len(refused) == 1 {
		e.Err = first.Err
	}
	return e
}

// replyError turns an error from go-mail's smtp package into a SendError,
// with the reply code and sanitised text when the server sent a reply.
func replyError(ctx context.Context, stage Stage, err error) *SendError {
	se := &SendError{Stage: stage, Err: ctxError(ctx, err)}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		se.Code = tp.Code
		se.EnhancedCode, se.Message = splitReply(tp.Code, tp.Msg)
	}
	return se
}

// ctxError returns the context's error in place of err when the context
// ended: the network error is then only a consequence of the cancellation.
func ctxError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return ctxErr
	}
	return err
}
