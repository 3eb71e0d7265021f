package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"
)

// delivery is the state of one Send across its attempts.
type delivery struct {
	c       *Client
	ctx     context.Context
	p       payload
	policy  RetryPolicy
	start   time.Time
	log     *slog.Logger
	attempt int

	hookCtx context.Context // ctx without its cancellation, for hooks
	gid     uint64          // the sending goroutine, for hooks

	delivered []string     // recipients that got the message
	response  string       // first reply to an end of data
	code      int          // its code
	enhanced  EnhancedCode // and enhanced code
	final     []*SendError // recipients that failed for good, with why
	maybeDup  bool         // an attempt ended with an unknown outcome and was retried
	retryDup  bool         // the last attempt ended with an unknown outcome that is to be retried
}

// send runs attempts until every recipient got the message or failed for
// good, or the policy or the context says stop.
func (c *Client) send(ctx context.Context, p payload) (Receipt, error) {
	return c.sendOn(ctx, p, 0)
}

// sendOn is send on the goroutine whose id is gid, or 0 for the calling
// goroutine's id to be found when a hook first runs (see goroutineID).
// SendAll's workers find their id once for all the messages they send.
func (c *Client) sendOn(ctx context.Context, p payload, gid uint64) (Receipt, error) {
	policy, err := c.retryPolicy(ctx)
	if err != nil {
		return Receipt{}, err
	}
	d := &delivery{
		c: c, ctx: ctx, p: p, policy: policy, start: time.Now(),
		log: c.cfg.logger, gid: gid,
	}
	pending := slices.Clone(p.rcpts)
	d.emit(Event{Status: StatusPending, Recipients: pending})
	for {
		d.attempt++
		d.emit(Event{Status: StatusSending, Recipients: pending})
		d.logAttrs(slog.LevelDebug, "mailer attempt",
			slog.Int("attempt", d.attempt), slog.Int("recipients", len(pending)))
		start := time.Now()
		res := c.attemptFn(ctx, &d.p, pending)
		elapsed := time.Since(start)

		retry, last := d.absorb(res, pending)
		if len(retry) == 0 {
			return d.finish(nil)
		}
		if d.attempt >= d.policy.MaxAttempts {
			return d.finish(last)
		}
		if err := contextErr(ctx); err != nil {
			return d.finish(giveUp(last, err))
		}
		left := time.Duration(math.MaxInt64) // for a spread floor; a margin for the time it takes to start the wait
		dl, hasDeadline := ctx.Deadline()
		if hasDeadline {
			left = time.Until(dl) / 16 * 15
		}
		wait := d.policy.waitFor(d.attempt, last, left)
		if hasDeadline && time.Until(dl) < wait {
			return d.finish(giveUp(last, errWaitTooLong))
		}
		d.emit(attemptEvent(StatusRetrying, last, Event{
			Recipients: retry, Wait: wait, Duration: elapsed, Outcome: d.policy.Classify(last),
		}))
		d.logAttrs(slog.LevelWarn, "mailer retrying",
			slog.Int("attempt", d.attempt), slog.Duration("wait", wait),
			slog.String("stage", last.Stage.String()), slog.Int("code", last.Code),
			slog.String("outcome", d.policy.Classify(last).String()), slog.String("error", last.Error()))
		if err := sleep(ctx, wait); err != nil {
			return d.finish(giveUp(last, err))
		}
		// Only now may the message arrive twice: an unknown outcome
		// followed by no other attempt delivered at most one copy.
		d.maybeDup = d.maybeDup || d.retryDup
		pending = retry
	}
}

// absorb records the result of an attempt. It returns the recipients to
// try again and the error that made them fail.
func (d *delivery) absorb(res attemptResult, pending []string) (retry []string, last *SendError) {
	unknown := false
	d.delivered = append(d.delivered, res.delivered...)
	if d.response == "" {
		d.response, d.code, d.enhanced = res.response, res.code, res.enhanced
	}
	var retryErrs []*SendError
	for _, r := range res.refused {
		if d.policy.Classify(r) == OutcomeTemporary {
			retry = append(retry, r.Recipients...)
			retryErrs = append(retryErrs, r)
		} else {
			d.final = append(d.final, r)
		}
	}
	if res.err != nil {
		failed := res.failed(pending)
		switch d.policy.Classify(res.err) {
		case OutcomeTemporary:
			retry = append(retry, failed...)
			retryErrs = append(retryErrs, res.err)
		case OutcomeUnknown:
			if d.policy.AtMostOnce {
				// Only the recipients of the transaction whose reply was
				// lost may have the message; the others never got the
				// data and may have another attempt.
				unsure, notSent := failed, []string(nil)
				if len(res.unsure) > 0 {
					unsure, notSent = nil, nil
					for _, r := range failed {
						if slices.Contains(res.unsure, r) {
							unsure = append(unsure, r)
						} else {
							notSent = append(notSent, r)
						}
					}
				}
				e := *res.err
				e.Recipients = unsure
				if !errors.Is(e.Err, ErrMaybeDelivered) {
					e.Err = fmt.Errorf("%w: %w", ErrMaybeDelivered, e.Err)
				}
				d.final = append(d.final, &e)
				if len(notSent) > 0 {
					retry = append(retry, notSent...)
					retryErrs = append(retryErrs, &SendError{Stage: StageRcpt, Recipients: notSent,
						Err: errNotSent, outcome: OutcomeTemporary})
				}
			} else {
				unknown = true
				retry = append(retry, failed...)
				retryErrs = append(retryErrs, res.err)
			}
		default:
			e := *res.err
			e.Recipients = failed
			d.final = append(d.final, &e)
		}
	}
	switch len(retryErrs) {
	case 0:
	case 1:
		last = retryErrs[0]
	default:
		last = combine(retryErrs)
	}
	d.retryDup = len(retry) > 0 && unknown
	return retry, last
}

// maybeDelivered reports whether e gave its recipients up as possibly
// delivered (AtMostOnce after an unknown outcome).
func maybeDelivered(e *SendError) bool { return errors.Is(e.Err, ErrMaybeDelivered) }

// errNotSent is the error of recipients that an attempt did not send the
// data to because the transaction before theirs ended with an unknown
// outcome (see RetryPolicy.AtMostOnce).
var errNotSent = errors.New("mailer: not sent: the connection was lost after the end of data of an earlier transaction of this attempt")

// finish ends a Send. stopped is the error of the recipients still pending
// when Send stopped retrying, or nil.
func (d *delivery) finish(stopped *SendError) (Receipt, error) {
	if stopped != nil {
		d.final = append(d.final, stopped)
	}
	total := time.Since(d.start)
	var err *SendError
	if len(d.final) > 0 {
		err = combine(d.final)
		err.Attempts = d.attempt
		err.MessageID = d.p.messageID
		if d.policy.AtMostOnce && len(d.final) > 1 && slices.ContainsFunc(d.final, maybeDelivered) {
			// Some recipients may have the message. Combined, the most
			// hopeful class would win (a temporary failure of others), and
			// a caller that retries temporary errors would send it to them
			// again: the duplicate AtMostOnce is there to prevent. The
			// rejections still tell each recipient's class.
			err.outcome = OutcomeUnknown
		}
	}
	if len(d.delivered) == 0 {
		if err == nil { // cannot happen: a recipient is either delivered or failed
			err = &SendError{Stage: StageNone, Attempts: d.attempt, MessageID: d.p.messageID, Err: errors.New("no recipient got the message")}
		}
		d.emit(attemptEvent(StatusFailed, err, Event{
			Recipients: err.Recipients, Duration: total, Outcome: d.policy.Classify(err), MaybeDuplicate: d.maybeDup,
		}))
		d.logAttrs(slog.LevelWarn, "mailer failed",
			slog.Int("attempts", d.attempt), slog.String("stage", err.Stage.String()), slog.Int("code", err.Code),
			slog.String("outcome", d.policy.Classify(err).String()), slog.Bool("maybe_duplicate", d.maybeDup),
			slog.Duration("elapsed", total), slog.String("error", err.Error()))
		return Receipt{}, err
	}
	rcpt := Receipt{
		MessageID: d.p.messageID, Response: d.response, Recipients: slices.Clone(d.delivered),
		Attempts: d.attempt, Duration: total, MaybeDuplicate: d.maybeDup, Account: accountOf(d.ctx),
	}
	ev := Event{
		Status: StatusSent, Recipients: rcpt.Recipients, Duration: total, Outcome: OutcomeDelivered,
		Code: d.code, EnhancedCode: d.enhanced, Response: d.response, MaybeDuplicate: d.maybeDup,
	}
	attrs := []slog.Attr{
		slog.Int("attempts", d.attempt), slog.String("response", d.response),
		slog.Bool("maybe_duplicate", d.maybeDup), slog.Duration("elapsed", total),
	}
	if err != nil {
		ev.Err = err
		attrs = append(attrs, slog.String("refused", err.Error()))
	}
	d.emit(ev)
	d.logAttrs(slog.LevelInfo, "mailer sent", attrs...)
	if err != nil {
		return rcpt, err
	}
	return rcpt, nil
}

// logAttrs writes one record with the message's ID. It costs nothing when
// the level is off (the default logger discards everything).
func (d *delivery) logAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	if !d.log.Enabled(d.ctx, level) {
		return
	}
	d.log.LogAttrs(d.ctx, level, msg, append([]slog.Attr{slog.String("message_id", d.p.messageID)}, attrs...)...)
}

// emit calls the hooks, if any, with ev.
func (d *delivery) emit(ev Event) {
	if d.c.hooks == nil {
		return
	}
	if d.hookCtx == nil {
		d.hookCtx = context.WithoutCancel(d.ctx)
		if d.gid == 0 {
			d.gid = goroutineID()
		}
	}
	ev.MessageID = d.p.messageID
	ev.Account = accountOf(d.ctx)
	if ev.Attempt == 0 && ev.Status != StatusPending {
		ev.Attempt = d.attempt
	}
	ev.Time = time.Now()
	d.c.hooks.emit(d.hookCtx, d.gid, ev)
}

// attemptEvent fills ev's reply fields from err.
func attemptEvent(status Status, err *SendError, ev Event) Event {
	ev.Status = status
	if err != nil {
		ev.Err = err
		ev.Code, ev.EnhancedCode, ev.Response = err.Code, err.EnhancedCode, err.Message
	}
	return ev
}

// combine merges the errors of several recipients into one: the first
// error's fields, all recipients, and every error in Rejections.
func combine(errs []*SendError) *SendError {
	if len(errs) == 1 {
		e := *errs[0]
		return &e
	}
	first := errs[0]
	e := &SendError{
		Stage: first.Stage, Code: first.Code, EnhancedCode: first.EnhancedCode, Message: first.Message,
		Hint: first.Hint,
	}
	var all []error
	for _, x := range errs {
		e.Recipients = append(e.Recipients, x.Recipients...)
		if len(x.Rejections) > 0 {
			e.Rejections = append(e.Rejections, x.Rejections...)
		} else {
			e.Rejections = append(e.Rejections, x)
		}
		all = append(all, x)
	}
	e.Err = errors.Join(all...)
	return e
}
