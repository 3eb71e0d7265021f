package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A Group is a Sender made of several accounts (Clients of one provider or
// of several), built by [Failover], [RoundRobin] or [NewGroup]. It moves a
// message on to the next account only when nothing was committed upstream:
// the connection, TLS or authentication failed, the server answered 4xx
// before the end of data, or the Client's rate limit would not wait. It
// never moves on after a 250 or after an unknown outcome (the connection
// lost after the final dot), so a message is never sent by two accounts.
// A 5xx about the recipient or the message is final; a 5xx about the
// account itself (535, 530, 5.7.x at MAIL FROM such as "sender not
// allowed") moves on and is logged at level Error.
//
// An account that failed Breaker.Failures times in a row rests for
// Breaker.Rest: it is skipped, then one send probes it; success puts it
// back in service, failure sends it to rest again. When every account
// rests, each is tried anyway rather than failing the message.
//
// Retries: every account but the last one tried gets one attempt (its
// send runs under ContextWithRetryPolicy with MaxAttempts 1); the last
// one sends under the caller's policy, so a group of one behaves like its
// Client. An outbox that makes each of its attempts a single SMTP attempt
// keeps that: under a context with MaxAttempts 1, every account makes one.
//
// Receipts and events say which account delivered: Receipt.Account and
// Event.Account hold its name (see [Named]). A Group is safe for
// concurrent use. It does not own its accounts: close the Clients after
// the Group's last send.
type Group struct {
	mode    GroupMode
	members []*member
	breaker Breaker
	log     *slog.Logger
	now     func() time.Time
	next    atomic.Uint64 // round robin position
	err     error         // invalid configuration: every send fails with it
}

// GroupMode says how a Group picks the account for a message.
type GroupMode uint8

// Group modes.
const (
	// ModeFailover always starts with the first account in service and
	// moves to the next only when a send must move on.
	ModeFailover GroupMode = iota
	// ModeRoundRobin starts each message with the next account in
	// service in turn, spreading the load evenly, and moves on like
	// ModeFailover.
	ModeRoundRobin
)

// Breaker says when an account of a Group rests (a circuit breaker).
type Breaker struct {
	// Failures is how many failed sends in a row put an account to rest.
	// A send fails for the breaker when it must move on, or when its
	// outcome is unknown; a recipient's 5xx does not count. Zero means 3.
	Failures int
	// Rest is how long a resting account is skipped before a send probes
	// it. Zero means 30 seconds.
	Rest time.Duration
}

// GroupConfig configures [NewGroup].
type GroupConfig struct {
	// Mode is ModeFailover (the zero value) or ModeRoundRobin.
	Mode GroupMode
	// Members are the accounts, in order of preference for ModeFailover.
	// Wrap them with Named to choose their names; a *Client is named by
	// its server and user ("smtp.example.com:587 alice"), anything else
	// "account N".
	Members []Sender
	// Breaker sets when an account rests. The zero value means 3 failures
	// in a row, 30 seconds of rest.
	Breaker Breaker
	// Logger receives a Warn record when a send moves on and an Error
	// record when an account is refused for good (535, 5.7.x) or goes to
	// rest. Nil means no logging.
	Logger *slog.Logger
}

// Failover returns a Group that sends through the first account in
// service and moves on to the next as the Group's rules allow.
func Failover(members ...Sender) *Group {
	return newGroup(GroupConfig{Mode: ModeFailover, Members: members})
}

// RoundRobin returns a Group that starts each message with the next
// account in service in turn, and moves on as the Group's rules allow.
func RoundRobin(members ...Sender) *Group {
	return newGroup(GroupConfig{Mode: ModeRoundRobin, Members: members})
}

// NewGroup returns a Group configured by cfg, or a *ConfigError naming
// what is wrong: no members, a nil member, a duplicate name, a negative
// Breaker value, an unknown Mode.
func NewGroup(cfg GroupConfig) (*Group, error) {
	g := newGroup(cfg)
	if g.err != nil {
		return nil, g.err
	}
	return g, nil
}

func newGroup(cfg GroupConfig) *Group {
	g := &Group{mode: cfg.Mode, breaker: cfg.Breaker, log: cfg.Logger, now: time.Now}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.breaker.Failures == 0 {
		g.breaker.Failures = 3
	}
	if g.breaker.Rest == 0 {
		g.breaker.Rest = 30 * time.Second
	}
	switch {
	case cfg.Mode > ModeRoundRobin:
		g.err = configError("GroupConfig.Mode", "unknown mode %d", cfg.Mode)
	case len(cfg.Members) == 0:
		g.err = configError("GroupConfig.Members", "no accounts")
	case cfg.Breaker.Failures < 0 || cfg.Breaker.Rest < 0:
		g.err = configError("GroupConfig.Breaker", "negative value")
	}
	names := map[string]bool{}
	for i, s := range cfg.Members {
		if s == nil {
			g.err = configError("GroupConfig.Members", "account %d is nil", i+1)
			break
		}
		name := memberName(s, i)
		if names[name] {
			g.err = configError("GroupConfig.Members", "two accounts are named %q: use Named", name)
			break
		}
		names[name] = true
		g.members = append(g.members, &member{name: name, s: s})
	}
	return g
}

// memberName is the name of an account in events and logs.
func memberName(s Sender, i int) string {
	switch x := s.(type) {
	case *named:
		return x.name
	case *Client:
		if u := x.cfg.auth.displayUser(); u != "" {
			return x.Addr() + " " + u
		}
		return x.Addr()
	}
	return fmt.Sprintf("account %d", i+1)
}

// Named gives s a name for the events, receipts and logs of a Group:
// mailer.Failover(mailer.Named("ses", ses), mailer.Named("postmark", pm)).
func Named(name string, s Sender) Sender { return &named{name: name, Sender: s} }

type named struct {
	name string
	Sender
}

// member is an account of a Group with its breaker state.
type member struct {
	name string
	s    Sender

	mu        sync.Mutex
	failures  int       // failed sends in a row
	restUntil time.Time // resting until then; zero when in service
	probing   bool      // a send is probing the account after its rest
}

// GroupAccount describes the state of one account of a Group.
type GroupAccount struct {
	// Name is the account's name.
	Name string
	// Failures counts its failed sends in a row.
	Failures int
	// RestingUntil is when its rest ends; zero when it is in service.
	RestingUntil time.Time
}

// Accounts returns the state of the Group's accounts, in order.
func (g *Group) Accounts() []GroupAccount {
	out := make([]GroupAccount, len(g.members))
	for i, m := range g.members {
		m.mu.Lock()
		out[i] = GroupAccount{Name: m.name, Failures: m.failures, RestingUntil: m.restUntil}
		m.mu.Unlock()
	}
	return out
}

// Send delivers m through the Group's accounts; see [Group].
func (g *Group) Send(ctx context.Context, m *Message) (Receipt, error) {
	if m == nil {
		return Receipt{}, ErrNilMessage
	}
	return g.send(ctx, m.messageID, func(ctx context.Context, s Sender) (Receipt, error) { return s.Send(ctx, m) })
}

// SendRaw delivers msg to env through the Group's accounts; see [Group]
// and [Client.SendRaw].
func (g *Group) SendRaw(ctx context.Context, env Envelope, msg []byte) (Receipt, error) {
	return g.send(ctx, rawMessageID(msg), func(ctx context.Context, s Sender) (Receipt, error) {
		return s.SendRaw(ctx, env, msg)
	})
}

var _ Sender = (*Group)(nil)

// send tries the accounts in the Group's order until one delivers or a
// result is final.
func (g *Group) send(ctx context.Context, messageID string, fn func(context.Context, Sender) (Receipt, error)) (Receipt, error) {
	if g.err != nil {
		return Receipt{}, g.err
	}
	order := g.order()
	tried := 0
	defer func() {
		for _, m := range order[tried:] {
			m.release()
		}
	}()
	var rcpt Receipt
	var err error
	for i, m := range order {
		tried = i + 1
		mctx := withAccount(ctx, m.name)
		if i < len(order)-1 {
			mctx = ContextWithRetryPolicy(mctx, oneAttempt(ctx))
		}
		rcpt, err = fn(mctx, m.s)
		if rcpt.Account == "" && len(rcpt.Recipients) > 0 {
			rcpt.Account = m.name
		}
		v := judge(rcpt, err)
		g.record(m, v, err, messageID)
		if v == verdictFinal || v == verdictFinalOK || ctx.Err() != nil {
			return rcpt, err
		}
		if i < len(order)-1 {
			level, what := slog.LevelWarn, "mailer account failed before anything was committed, trying the next"
			if v == verdictNextAccount {
				level, what = slog.LevelError, "mailer account refused by its server (credentials or sender), trying the next"
			}
			g.log.LogAttrs(ctx, level, what, slog.String("account", m.name), slog.String("next", order[i+1].name),
				slog.String("message_id", messageID), slog.String("error", err.Error()))
		}
	}
	return rcpt, err
}

// oneAttempt is the caller's retry policy with a single attempt.
func oneAttempt(ctx context.Context) RetryPolicy {
	p, _ := ctx.Value(retryPolicyKey{}).(RetryPolicy)
	p.MaxAttempts = 1
	return p
}

// order returns the accounts to try, in order: those in service (or due
// for a probe) first, by the Group's mode; all of them if every one rests.
func (g *Group) order() []*member {
	now := g.now()
	var ready []*member
	for _, m := range g.members {
		if m.available(now) {
			ready = append(ready, m)
		}
	}
	if len(ready) == 0 {
		return g.members
	}
	if g.mode == ModeRoundRobin && len(ready) > 1 {
		k := int((g.next.Add(1) - 1) % uint64(len(ready)))
		ready = append(ready[k:len(ready):len(ready)], ready[:k]...)
	}
	return ready
}

// available reports whether m may be tried now: it is in service, or its
// rest is over and no other send is probing it (this one then does).
func (m *member) available(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.restUntil.IsZero() {
		return true
	}
	if now.Before(m.restUntil) || m.probing {
		return false
	}
	m.probing = true
	return true
}

// release ends a probe that order granted m but no send made.
func (m *member) release() {
	m.mu.Lock()
	if !m.restUntil.IsZero() {
		m.probing = false
	}
	m.mu.Unlock()
}

// record updates m's breaker with the verdict of a send.
func (g *Group) record(m *member, v verdict, err error, messageID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.probing = false
	if v == verdictFinalOK {
		m.failures, m.restUntil = 0, time.Time{}
		return
	}
	if v == verdictFinal && !errors.Is(err, ErrMaybeDelivered) && Classify(err) != OutcomeUnknown {
		// Final for the message, but not the account's fault (a
		// recipient's 5xx, an invalid message, the caller's context).
		return
	}
	m.failures++
	if m.failures >= g.breaker.Failures {
		m.restUntil = g.now().Add(g.breaker.Rest)
		g.log.LogAttrs(context.Background(), slog.LevelError, "mailer account rests after failing repeatedly",
			slog.String("account", m.name), slog.Int("failures", m.failures), slog.Duration("rest", g.breaker.Rest),
			slog.String("message_id", messageID), slog.String("error", err.Error()))
	}
}

// verdict is what a Group makes of one account's result.
type verdict uint8

const (
	verdictFinalOK     verdict = iota // delivered (to some recipients at least): done
	verdictFinal                      // not delivered, and no other account may try
	verdictNext                       // nothing committed: the next account may try
	verdictNextAccount                // the server refused this account: the next may try
)

// judge applies the Group's rules to one account's result.
func judge(rcpt Receipt, err error) verdict {
	if err == nil || len(rcpt.Recipients) > 0 {
		return verdictFinalOK
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrMaybeDelivered) {
		return verdictFinal
	}
	if errors.Is(err, ErrClientClosed) {
		return verdictNext
	}
	if errors.Is(err, ErrDKIMAlignment) {
		return verdictNextAccount // this account signs for another domain
	}
	var se *SendError
	if !errors.As(err, &se) {
		return verdictFinal // an invalid message or envelope fails everywhere
	}
	switch Classify(err) {
	case OutcomeTemporary:
		if se.Stage == StageDataEnd || se.Stage == StageNone {
			return verdictFinal
		}
		return verdictNext
	case OutcomePermanent:
		if accountRefused(se) {
			return verdictNextAccount
		}
		if se.Stage == StageDial || se.Stage == StageTLS {
			// A certificate the client does not trust, a server
			// that refuses TLS: this account cannot be reached.
			return verdictNext
		}
	}
	return verdictFinal
}

// accountRefused reports a permanent refusal aimed at our account rather
// than at the recipient or the message: authentication (535, 530, 534,
// any failure at AUTH) or a 5.7.x policy reply to MAIL FROM ("sender not
// allowed", "authentication required").
func accountRefused(se *SendError) bool {
	switch {
	case se.Stage == StageAuth, errors.Is(se.Err, ErrAuth):
		return true
	case se.Code == 530 || se.Code == 534 || se.Code == 535:
		return true
	case se.Stage == StageMail && se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 7:
		return true
	}
	return false
}

type accountKey struct{}

// withAccount names the account a send goes through, for its events.
func withAccount(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, accountKey{}, name)
}

// accountOf returns the name set by withAccount, or "".
func accountOf(ctx context.Context) string {
	s, _ := ctx.Value(accountKey{}).(string)
	return s
}
