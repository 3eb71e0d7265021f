package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

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
		slog.String("mechanism", string(mech)), slog.String("user", cfg.auth.displayUser()))
	return nil
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
	ctxErr := ctx.Err()
	if ctxErr == nil {
		// The connection's deadline may fire a moment before the
		// context's own timer: the cause is still the context.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) && isTimeout(err) {
			ctxErr = context.DeadlineExceeded
		}
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return ctxErr
	}
	return err
}
