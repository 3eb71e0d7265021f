package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Pool defaults. See [WithPool], [WithMessagesPerConnection],
// [WithIdleCheck] and [WithIdleTimeout].
const (
	// DefaultPoolSize is the most connections a Client keeps open at once.
	// Providers refuse more than a few concurrent connections per account
	// (Microsoft 365 allows 3; NetEase answers 421 HL:ICC), and a few
	// pipelined connections already carry thousands of messages a second.
	DefaultPoolSize = 4
	// DefaultMessagesPerConnection is how many messages a connection
	// carries before it is closed and replaced, as Nodemailer's pool does.
	DefaultMessagesPerConnection = 100
	// DefaultIdleCheck is how long a connection may stay idle before it is
	// checked with NOOP when it is next used.
	DefaultIdleCheck = 5 * time.Second
	// DefaultIdleTimeout is how long a connection may stay idle before the
	// Client closes it.
	DefaultIdleTimeout = 30 * time.Second
)

// poolConfig is the pool part of config.
type poolConfig struct {
	size        int
	perConn     int
	idleCheck   time.Duration
	idleTimeout time.Duration
	rate        rate.Limit // messages per second; 0 means no limit
}

func (p poolConfig) withDefaults() poolConfig {
	if p.size <= 0 {
		p.size = DefaultPoolSize
	}
	if p.perConn <= 0 {
		p.perConn = DefaultMessagesPerConnection
	}
	if p.idleCheck <= 0 {
		p.idleCheck = DefaultIdleCheck
	}
	if p.idleTimeout <= 0 {
		p.idleTimeout = DefaultIdleTimeout
	}
	return p
}

// WithPool sets the most connections the Client keeps open at the same
// time, shared by every goroutine that calls Send or SendAll. A Send that
// finds them all busy waits for one, or for its context to end. Zero means
// DefaultPoolSize (4); provider presets set the provider's published limit.
func WithPool(size int) Option {
	return func(c *config) error {
		if size < 0 || size > 1000 {
			return configError("WithPool", "size %d out of range 0..1000", size)
		}
		c.pool.size = size
		return nil
	}
}

// WithMessagesPerConnection sets how many messages one connection carries
// before the Client says QUIT and opens another. Zero means
// DefaultMessagesPerConnection (100); 1 opens a connection per message.
// SendGrid's preset sets 5,000, its published limit.
func WithMessagesPerConnection(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return configError("WithMessagesPerConnection", "negative count %d", n)
		}
		c.pool.perConn = n
		return nil
	}
}

// WithIdleCheck sets how long a connection may stay idle in the pool before
// its next use starts with NOOP, to find out whether the server still holds
// it; busier connections skip the check. Zero means DefaultIdleCheck (5 s).
// Whether checked or not, a connection found dead before the server
// accepted anything of a message is replaced at once, without using up an
// attempt.
func WithIdleCheck(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return configError("WithIdleCheck", "negative duration %v", d)
		}
		c.pool.idleCheck = d
		return nil
	}
}

// WithIdleTimeout sets how long a connection may stay idle in the pool
// before the Client closes it. Servers close idle connections themselves
// (Amazon SES after about 10 s; its preset sets that); closing them first is
// politer and frees the sockets. Zero means DefaultIdleTimeout (30 s).
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return configError("WithIdleTimeout", "negative duration %v", d)
		}
		c.pool.idleTimeout = d
		return nil
	}
}

// WithRateLimit limits the Client to n messages per period per, spaced
// evenly (one every per/n) and shared by every goroutine that uses the
// Client: with 30 per minute, the last of five messages sent at once
// leaves 8 s after the first. Each mail transaction counts, retries
// included. A Send waiting for its turn holds a connection, and gives up
// at once when its context ends or would end before its turn. Zero n (the
// default) means no limit. WithPool bounds the connections open at once.
// Microsoft 365's preset sets 30 per minute.
func WithRateLimit(n int, per time.Duration) Option {
	return func(c *config) error {
		switch {
		case n < 0:
			return configError("WithRateLimit", "negative count %d", n)
		case n > 0 && per <= 0:
			return configError("WithRateLimit", "period %v must be positive", per)
		case n == 0:
			c.pool.rate = 0
		default:
			c.pool.rate = rate.Limit(float64(n) / per.Seconds())
		}
		return nil
	}
}

// pool holds a Client's connections. A Send takes a slot, then an idle
// connection or a new one; it gives both back when its attempt ends. At
// most size connections are open: each is either idle or held by a slot.
type pool struct {
	cfg     *config
	slots   chan struct{}
	limiter *rate.Limiter // nil without a rate limit

	open        atomic.Int64  // connections dialled and not yet closed (PoolStats)
	rateWaits   atomic.Uint64 // attempts that found the rate limiter empty
	rateRejects atomic.Uint64 // attempts refused by the rate limiter

	mu       sync.Mutex
	idle     []*conn // most recently used last
	closed   bool
	expiring sync.WaitGroup // idle connections being closed by their timer
}

func newPool(cfg *config) *pool {
	p := &pool{cfg: cfg, slots: make(chan struct{}, cfg.pool.size)}
	if cfg.pool.rate > 0 {
		p.limiter = rate.NewLimiter(cfg.pool.rate, 1)
	}
	return p
}

// get returns a connection bound to ctx: an idle one, or a new one that has
// done its handshake. It waits for a free slot while the pool is full.
func (p *pool) get(ctx context.Context, log *slog.Logger) (*conn, *SendError) {
	if err := contextErr(ctx); err != nil {
		return nil, &SendError{Stage: StageDial, Err: err}
	}
	select {
	case p.slots <- struct{}{}:
	default:
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, &SendError{Stage: StageDial, Err: contextErr(ctx)}
		}
	}
	if err := contextErr(ctx); err != nil { // do not spend an idle connection on it
		<-p.slots
		return nil, &SendError{Stage: StageDial, Err: err}
	}
	if cn := p.popIdle(); cn != nil {
		cn.bind(ctx, log)
		return cn, nil
	}
	cn, serr := p.dial(ctx, log)
	if serr != nil {
		<-p.slots
		return nil, serr
	}
	return cn, nil
}

// popIdle takes the most recently used idle connection, if any.
func (p *pool) popIdle() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	cn := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	// Its idle timer stays armed while it is used: stopping and
	// re-arming it for every message costs more than letting expire
	// find it taken (or put back since) and re-arm it then.
	return cn
}

// dial opens a new connection and does its handshake.
func (p *pool) dial(ctx context.Context, log *slog.Logger) (*conn, *SendError) {
	cn, serr := p.dialOnce(ctx, log)
	if serr != nil && errors.Is(serr.Err, errTokenRefreshed) {
		// The server refused an OAuth 2.0 token, which was then
		// refreshed: authenticate again, on a new connection since
		// go-mail's client quits after a failed AUTH (oauth2.go).
		cn, serr = p.dialOnce(withTokenRefreshed(ctx), log)
	}
	return cn, serr
}

// dialOnce connects, says EHLO, upgrades to TLS and authenticates.
func (p *pool) dialOnce(ctx context.Context, log *slog.Logger) (*conn, *SendError) {
	cn, serr := dial(ctx, p.cfg, log)
	if serr != nil {
		return nil, serr
	}
	if serr := cn.handshake(); serr != nil {
		if serr.Code != 0 {
			// The server answered: say goodbye properly.
			cn.quit()
		} else {
			cn.close()
		}
		return nil, serr
	}
	cn.learn()
	p.open.Add(1)
	cn.open = &p.open // close counts it out
	return cn, nil
}

// replace closes cn, found dead, and dials a new connection in its slot.
// If that fails, the slot is still held: call release.
func (p *pool) replace(ctx context.Context, cn *conn, log *slog.Logger) (*conn, *SendError) {
	cn.close()
	return p.dial(ctx, log)
}

// release frees a slot that holds no connection.
func (p *pool) release() { <-p.slots }

// put ends the use of cn and frees its slot. A connection in a known state
// goes back to the pool, unless it carried its last message (it says QUIT)
// or the context ended during the use.
func (p *pool) put(cn *conn) {
	defer func() { <-p.slots }()
	if cn.broken {
		cn.close()
		return
	}
	if cn.uses >= p.cfg.pool.perConn {
		cn.quit()
		return
	}
	if !cn.unbind() {
		cn.close()
		return
	}
	cn.log = p.cfg.logger
	cn.lastUsed = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cn.close()
		return
	}
	switch {
	case cn.idleTimer == nil:
		cn.idleTimer = time.AfterFunc(p.cfg.pool.idleTimeout, func() { p.expire(cn) })
	case !cn.idleArmed:
		cn.idleTimer.Reset(p.cfg.pool.idleTimeout)
	}
	cn.idleArmed = true
	p.idle = append(p.idle, cn)
	p.mu.Unlock()
}

// expire closes cn if it is still idle and has been for the idle timeout.
// It runs on the goroutine of cn's idle timer.
func (p *pool) expire(cn *conn) {
	p.mu.Lock()
	i := -1
	for j, x := range p.idle {
		if x == cn {
			i = j
			break
		}
	}
	if p.closed || i < 0 {
		// Taken: put re-arms the timer when cn comes back.
		cn.idleArmed = false
		p.mu.Unlock()
		return
	}
	if idle := time.Since(cn.lastUsed); idle < p.cfg.pool.idleTimeout {
		// Used and put back since the timer was armed.
		cn.idleTimer.Reset(p.cfg.pool.idleTimeout - idle)
		p.mu.Unlock()
		return
	}
	cn.idleArmed = false
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	p.expiring.Add(1)
	p.mu.Unlock()
	defer p.expiring.Done()
	cn.log.LogAttrs(context.Background(), slog.LevelDebug, "smtp closing idle connection",
		slog.Duration("idle", time.Since(cn.lastUsed)), slog.Int("messages", cn.uses))
	cn.quit()
}

// wait waits for the rate limiter, if any.
func (p *pool) wait(ctx context.Context) *SendError {
	if p.limiter == nil {
		return nil
	}
	if p.limiter.Tokens() < 1 {
		p.rateWaits.Add(1)
	}
	err := p.limiter.Wait(ctx)
	if err == nil {
		return nil
	}
	p.rateRejects.Add(1)
	if ctxErr := contextErr(ctx); ctxErr != nil {
		err = ctxErr
	} else {
		// The limiter refuses to wait past the context's deadline.
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, errRateWait)
	}
	return &SendError{Stage: StageMail, Err: err}
}

var errRateWait = errors.New("mailer: the rate limit's wait would outlast the context deadline")

// close closes every idle connection, saying QUIT on each (in parallel,
// each bounded by the QUIT timeout and by ctx), and waits for connections
// being closed by their idle timers. No connection may be in use.
func (p *pool) close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, cn := range idle {
		cn.idleTimer.Stop()
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn.bind(ctx, cn.log)
			cn.quit()
		}()
	}
	wg.Wait()
	p.expiring.Wait()
}

// PoolSettings are the connection pool and rate limit settings of a Client,
// with defaults filled in.
type PoolSettings struct {
	// Size is the most connections open at the same time (WithPool).
	Size int
	// MessagesPerConnection is how many messages a connection carries
	// (WithMessagesPerConnection).
	MessagesPerConnection int
	// IdleCheck and IdleTimeout are the idle times after which a
	// connection is checked with NOOP, and closed (WithIdleCheck,
	// WithIdleTimeout).
	IdleCheck, IdleTimeout time.Duration
	// RateLimit is the most messages per second, 0 for no limit
	// (WithRateLimit).
	RateLimit float64
}

// PoolSettings returns the Client's pool and rate limit settings, for
// checking what a provider preset and later options amount to.
func (c *Client) PoolSettings() PoolSettings {
	p := c.cfg.pool
	return PoolSettings{
		Size: p.size, MessagesPerConnection: p.perConn,
		IdleCheck: p.idleCheck, IdleTimeout: p.idleTimeout, RateLimit: float64(p.rate),
	}
}
