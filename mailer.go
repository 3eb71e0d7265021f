package mailer

import (
	"context"
	"sync"
	"time"
)

// A Client sends messages through one SMTP submission server. Create it
// with [New]; its configuration never changes afterwards. A Client is safe
// for concurrent use by multiple goroutines and is meant to be shared, like
// an *http.Client.
type Client struct {
	cfg   *config
	hooks *hookSet // nil without hooks
	pool  *pool

	// attemptFn performs one attempt; tests replace it.
	attemptFn func(ctx context.Context, p *payload, rcpts []string) attemptResult

	// stop ends when Shutdown gives up waiting: every send in flight
	// watches it (see watch).
	stop      context.Context
	abortAll  context.CancelCauseFunc
	mu        sync.Mutex
	closed    bool
	inflight  sync.WaitGroup
	closeOnce sync.Once
}

// New returns a Client configured by opts, applied in order: options after a
// provider preset adjust it. New fails with a *ConfigError when an option is
// invalid and with ErrNoServer when no server was given.
//
// Defaults: port 587 with STARTTLS required (465 means implicit TLS), TLS
// 1.2 or newer with verified certificates, no authentication, the timeouts
// of [Timeouts], and a logger that discards everything.
func New(opts ...Option) (*Client, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, hooks: newHookSet(cfg.hooks, cfg.logger), pool: newPool(cfg)}
	c.stop, c.abortAll = context.WithCancelCause(context.Background())
	c.attemptFn = c.attempt
	return c, nil
}

// Receipt describes a delivered message.
type Receipt struct {
	// MessageID is the Message-ID of the message, without angle brackets.
	MessageID string
	// Response is the server's reply to the end of data, such as
	// "250 2.0.0 OK: queued as 4F3A1C". Providers often put their queue ID
	// in it.
	Response string
	// Recipients lists the envelope recipients that accepted the message.
	Recipients []string
	// Attempts is the number of attempts it took, including the first.
	Attempts int
	// Duration is the time the delivery took: all of Send, or for SendAll
	// the time from this message's turn to its end.
	Duration time.Duration
	// MaybeDuplicate is set when an attempt ended with an unknown outcome
	// (the connection was lost after the end of data) and a later attempt
	// delivered the message: it may have arrived twice, with the same
	// Message-ID, which lets receivers such as Gmail fold the copies.
	MaybeDuplicate bool
	// Account names the account that delivered the message when it went
	// through a Group ([Failover], [RoundRobin]); "" otherwise.
	Account string
}

// Send delivers m. Each attempt takes a connection from the Client's pool,
// or connects, secures the connection and authenticates when none is idle,
// and sends the message; failed attempts are retried
// according to the Client's RetryPolicy (3 attempts by default), always
// with the same Message-ID. ctx bounds the whole of it: cancelling ctx
// aborts a connection in the middle of DATA and any wait between attempts.
//
// On success Send returns a Receipt. On failure it returns a *SendError that
// says at which stage the last attempt failed, with the server's reply and a
// hint for known provider replies. If some recipients got the message and
// others were refused for good, Send returns the Receipt of the delivery
// together with a *SendError (Stage StageRcpt) naming the refused ones.
func (c *Client) Send(ctx context.Context, m *Message) (Receipt, error) {
	if m == nil {
		return Receipt{}, ErrNilMessage
	}
	if !c.acquire() {
		return Receipt{}, ErrClientClosed
	}
	defer c.inflight.Done()
	p, err := c.payloadFor(m)
	if err != nil {
		return Receipt{}, err
	}
	ctx, release := c.watch(ctx)
	defer release()
	return c.send(ctx, p)
}

// acquire registers a send in flight, unless the Client is closed.
func (c *Client) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.inflight.Add(1)
	return true
}

// Addr returns the server's "host:port".
func (c *Client) Addr() string { return c.cfg.addr() }

// TLSMode returns the TLS mode in effect (never the zero "from the port").
func (c *Client) TLSMode() TLSMode { return c.cfg.tlsMode }

// Auth returns the configured authentication; its secret cannot be read
// back. The zero Auth means none.
func (c *Client) Auth() Auth { return c.cfg.auth }

// String describes the Client (server, TLS mode, mechanism and user) and
// never shows a password or token.
func (c *Client) String() string { return "mailer.Client(" + c.cfg.String() + ")" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }
