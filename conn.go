package mailer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one SMTP connection. It lives in the Client's pool between uses;
// during a use it belongs to one attempt, whose context it is bound to.
type conn struct {
	cfg    *config
	ctx    context.Context // the context of the current use
	raw    net.Conn        // the TCP connection: deadlines are set here
	client *session
	log    *slog.Logger
	tls    bool
	stop   func() bool // releases the context watcher of the current use

	pipelining bool      // the server offers PIPELINING (RFC 2920)
	smtputf8   bool      // the server offers SMTPUTF8 (RFC 6531)
	eightBit   bool      // the server offers 8BITMIME (RFC 6152)
	size       bool      // the server offers SIZE (RFC 1870)
	maxSize    int64     // and its limit; 0 for none
	dsn        bool      // the server offers DSN (RFC 3461)
	uses       int       // transactions started on this connection
	lastUsed   time.Time // when the last use ended
	broken     bool      // the connection is in an unknown state: never reuse it
	buf        []byte    // command buffer, reused
	body       []byte    // rendered message, reused (wire.go)
	stuff      stuffer
	tee        signTee // stuff and a DKIM pass, while a message is signed (dkim_send.go)
	bw         *bufio.Writer
	idleTimer  *time.Timer // armed while idleArmed, which the pool's mutex guards (pool.go)
	idleArmed  bool
	deadline   time.Time     // the deadline setDeadline last set on raw
	open       *atomic.Int64 // the pool's count of open connections, until close
}

// dial opens the connection, does the implicit TLS handshake if needed and
// reads the greeting. The connection is bound to ctx (see bind).
func dial(ctx context.Context, cfg *config, log *slog.Logger) (*conn, *SendError) {
	if err := contextErr(ctx); err != nil {
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
		se := &SendError{Stage: StageDial, Err: ctxError(ctx, err)}
		if isNoSuchHost(err) {
			se.Hint = "the server name " + strconv.Quote(cfg.host) + " does not exist in DNS: check its spelling"
		}
		return nil, se
	}
	cn := &conn{cfg: cfg, raw: raw}
	cn.bind(ctx, log)

	var nc net.Conn = raw
	deadline, _ := dctx.Deadline()
	cn.setDeadline(time.Until(deadline))
	if cfg.tlsMode == TLSImplicit {
		tc := tls.Client(raw, cfg.tlsClientConfig())
		if err := tc.HandshakeContext(dctx); err != nil {
			cn.close()
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) && looksLikeReply(rh.RecordHeader[:]) {
				// Clear text where a TLS record should be: a greeting.
				err = fmt.Errorf("%w: the server greeted in clear text (%q) where implicit TLS was expected: "+
					"its port expects STARTTLS; use smtp:// or WithTLS(TLSStartTLS)", ErrWrongTLSMode, sanitizeReply(string(rh.RecordHeader[:])))
			}
			return nil, &SendError{Stage: StageDial, Err: ctxError(ctx, err)}
		}
		nc, cn.tls = tc, true
	}
	var head *headConn
	if !cn.tls {
		head = &headConn{Conn: raw}
		nc = head
	}
	client, err := newSession(nc, newScrubber(cfg.auth), cfg.transcript.newTap(cfg.addr()))
	if err != nil {
		cn.close()
		se := replyError(ctx, StageDial, err)
		switch {
		case head == nil || se.Code != 0 || contextErr(ctx) != nil:
		case head.tlsRecord():
			se.Err = fmt.Errorf("%w: the server answered with TLS instead of a greeting: "+
				"its port expects implicit TLS; use smtps:// or WithTLS(TLSImplicit)", ErrWrongTLSMode)
		case head.n == 0 && isTimeout(err):
			se.Hint = "the server sent no greeting within " + cfg.timeouts.Dial.String() +
				": a port that expects implicit TLS (such as 465) says nothing to a client that does not start TLS; if so, use smtps://"
		}
		return nil, se
	}
	cn.client = client
	log.LogAttrs(ctx, slog.LevelDebug, "smtp connected",
		slog.String("server", cfg.addr()), slog.Bool("tls", cn.tls), slog.Duration("elapsed", time.Since(start)))
	return cn, nil
}

// bind makes ctx the context of the connection's next use: cancelling it
// aborts any network step in progress, by setting a deadline in the past.
// Each use of a pooled connection binds its own context; unbind ends the
// use.
func (cn *conn) bind(ctx context.Context, log *slog.Logger) {
	raw := cn.raw
	cn.ctx, cn.log = ctx, log
	if ctx.Done() == nil {
		cn.stop = nil // a context that can never end needs no watcher
		return
	}
	cn.stop = context.AfterFunc(ctx, func() { _ = raw.SetDeadline(aLongTimeAgo) })
}

// unbind ends the current use. It reports false when the context ended
// during the use: its watcher may have aborted a step, so the connection
// must not be used again.
func (cn *conn) unbind() bool {
	ok := true
	if cn.stop != nil {
		ok = cn.stop()
		cn.stop = nil
	}
	cn.ctx = context.Background()
	return ok
}

// setDeadline bounds the next network step by d, or aborts it at once if the
// context is already done.
//
// A deadline set a moment before for about as long is kept instead of set
// again (each SetDeadline re-arms a runtime timer; a pipelined transaction
// reads four replies): the step then ends at most deadlineSlack(d) earlier
// than d after its start, never later.
func (cn *conn) setDeadline(d time.Duration) {
	want := time.Now().Add(d)
	if cn.deadline.After(want) || want.Sub(cn.deadline) > deadlineSlack(d) {
		_ = cn.raw.SetDeadline(want)
		cn.deadline = want
	}
	if cn.ctx.Err() != nil {
		_ = cn.raw.SetDeadline(aLongTimeAgo)
		cn.deadline = time.Time{}
	}
}

// deadlineSlack is how much earlier than asked a deadline of d may end
// when setDeadline keeps the one set before: 1/128 of d, at most 100 ms.
func deadlineSlack(d time.Duration) time.Duration { return min(d/128, 100*time.Millisecond) }

// handshake says EHLO, upgrades with STARTTLS and authenticates.
func (cn *conn) handshake() *SendError {
	cfg := cn.cfg
	cn.setDeadline(cfg.timeouts.Command)
	if err := cn.client.hello(cfg.helo); err != nil {
		return replyError(cn.ctx, StageDial, err)
	}
	if cfg.tlsMode == TLSStartTLS || cfg.tlsMode == TLSOpportunistic {
		offered, _ := cn.client.Extension("STARTTLS")
		switch {
		case offered:
			cn.setDeadline(cfg.timeouts.Command)
			if err := cn.client.startTLS(cfg.tlsClientConfig(), cfg.helo); err != nil {
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
	tctx, cancel := cn.tokenContext()
	sasl, err := cfg.auth.saslClient(tctx, mech, cfg.host, cn.client.secrets)
	cancel()
	if err != nil {
		return cn.tokenFailed(tctx, err)
	}
	cn.setDeadline(cfg.timeouts.Command)
	err = cn.client.auth(sasl, cfg.host)
	if x, ok := sasl.(*xoauth2); ok && err != nil {
		err = cn.refreshRefused(err, x.token) // a refused token is refreshed once
	}
	if err != nil {
		se := replyError(cn.ctx, StageAuth, err)
		if se.Code != 0 && !errors.Is(se.Err, ErrAuth) {
			se.Err = fmt.Errorf("%w: %w", ErrAuth, se.Err)
		}
		se.Hint = authHint(err)
		return se
	}
	cn.log.LogAttrs(cn.ctx, slog.LevelDebug, "smtp authenticated",
		slog.String("mechanism", string(mech)), slog.String("user", cfg.auth.displayUser()))
	return nil
}

// tokenContext returns the context of a call to the XOAUTH2 token source:
// the connection's, bounded by the command timeout, so that a token
// endpoint that never answers does not hold a Send whose context has no
// deadline for ever.
func (cn *conn) tokenContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(cn.ctx, cn.cfg.timeouts.Command)
}

// tokenFailed returns the error of a token source that failed under tctx
// (see tokenContext). A source cut short by the command timeout fails
// temporarily: its endpoint may answer later, and nothing was sent.
func (cn *conn) tokenFailed(tctx context.Context, err error) *SendError {
	se := &SendError{Stage: StageAuth, Err: err, Hint: authHint(err)}
	if contextErr(cn.ctx) == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		se.Err = fmt.Errorf("%w: the token source gave no token within %v (Timeouts.Command)", ErrAuth, cn.cfg.timeouts.Command)
		se.outcome = OutcomeTemporary
	}
	return se
}

// learn records the extensions the transactions use, once the handshake
// is done.
func (cn *conn) learn() {
	cn.pipelining, _ = cn.client.Extension("PIPELINING")
	cn.smtputf8, _ = cn.client.Extension("SMTPUTF8")
	cn.eightBit, _ = cn.client.Extension("8BITMIME")
	cn.dsn, _ = cn.client.Extension("DSN")
	var limit string
	if cn.size, limit = cn.client.Extension("SIZE"); cn.size {
		cn.maxSize, _ = strconv.ParseInt(strings.TrimSpace(limit), 10, 64)
		cn.maxSize = max(cn.maxSize, 0)
	}
}

// quitTimeout bounds QUIT: nothing depends on its reply.
const quitTimeout = 5 * time.Second

// closeWait bounds the wait for the server to close the connection after
// its reply to QUIT.
const closeWait = 500 * time.Millisecond

// quit ends the session politely and closes the connection. Errors are
// only logged: QQ and 163 answer QUIT with garbage. After the 221 reply it
// waits briefly for the server to close its end, so that the server no
// longer counts the connection when the pool opens another in its place.
func (cn *conn) quit() {
	cn.setDeadline(min(cn.cfg.timeouts.Command, quitTimeout))
	if err := cn.exchange(221, "QUIT"); err != nil {
		cn.log.LogAttrs(cn.ctx, slog.LevelDebug, "smtp QUIT failed (ignored)",
			slog.String("error", sanitizeReply(err.Error())))
	} else {
		cn.setDeadline(min(cn.cfg.timeouts.Command, closeWait))
		_, _ = io.Copy(io.Discard, cn.client.Text.R)
		if cn.tls {
			// TLS ended with close_notify: wait for the TCP end too.
			_, _ = io.Copy(io.Discard, cn.raw)
		}
	}
	cn.close()
}

// abort closes the connection without QUIT and marks it broken. The
// connection stays bound to its context, so that errors still name the
// context's end as their cause.
func (cn *conn) abort() {
	cn.broken = true
	_ = cn.raw.Close()
}

// close releases the connection without QUIT.
func (cn *conn) close() {
	if cn.idleTimer != nil {
		cn.idleTimer.Stop() // no expire after the connection is gone
	}
	if cn.open != nil {
		cn.open.Add(-1)
		cn.open = nil
	}
	cn.unbind()
	if cn.client != nil {
		_ = cn.client.Close()
	}
	_ = cn.raw.Close()
}

// replyError turns an error from go-mail's smtp package into a SendError,
// with the reply code and sanitised text when the server sent a reply.
func replyError(ctx context.Context, stage Stage, err error) *SendError {
	se := &SendError{Stage: stage, Err: ctxError(ctx, err)}
	if pe, ok := se.Err.(textproto.ProtocolError); ok {
		// It quotes what the server sent instead of a reply.
		se.Err = textproto.ProtocolError(sanitizeReply(string(pe)))
	}
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
	ctxErr := contextErr(ctx)
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

// headConn records the first octets the server sends, to recognise a
// server that speaks TLS where a clear-text greeting was expected.
type headConn struct {
	net.Conn
	head [3]byte
	n    int
}

func (h *headConn) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if h.n < len(h.head) {
		h.n += copy(h.head[h.n:], p[:n])
	}
	return n, err
}

// tlsRecord reports whether the first octets are a TLS record header: a
// handshake or alert record of TLS 1.0 to 1.3.
func (h *headConn) tlsRecord() bool {
	return h.n >= 2 && (h.head[0] == 0x15 || h.head[0] == 0x16) && h.head[1] == 0x03
}

// looksLikeReply reports whether b starts as an SMTP reply: three digits.
func looksLikeReply(b []byte) bool {
	return len(b) >= 3 && '2' <= b[0] && b[0] <= '5' && '0' <= b[1] && b[1] <= '9' && '0' <= b[2] && b[2] <= '9'
}

// isNoSuchHost reports a DNS answer that the host name does not exist
// (NXDOMAIN), as opposed to a resolver that failed for now.
func isNoSuchHost(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound && !dnsErr.IsTemporary && !dnsErr.IsTimeout
}
