package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

// Send implements mailer.Sender for the outbox; the queue only stores raw
// messages, so it renders m and sends it raw.
func (q *queue) Send(ctx context.Context, m *mailer.Message) (mailer.Receipt, error) {
	if m == nil {
		return mailer.Receipt{}, mailer.ErrNilMessage
	}
	b, err := m.Bytes()
	if err != nil {
		return mailer.Receipt{}, err
	}
	return q.SendRaw(ctx, m.Envelope(), b)
}

// errNoRoute is the temporary failure of a record whose upstreams are all
// gone from the configuration (a reload may bring them back).
var errNoRoute = &mailer.SendError{Code: 451, EnhancedCode: mailer.EnhancedCode{4, 4, 1},
	Message: "no upstream of this message's route is configured"}

// SendRaw is one delivery attempt of a queued record, for the outbox's
// worker: the record's chain from its routing tag, each upstream one SMTP
// attempt (the outbox's context says so), the next one only when nothing
// was committed upstream, exactly as in sync mode.
func (q *queue) SendRaw(ctx context.Context, env mailer.Envelope, msg []byte) (mailer.Receipt, error) {
	var rt routeTag
	if err := json.Unmarshal([]byte(outbox.RouteFromContext(ctx)), &rt); err != nil {
		return mailer.Receipt{}, fmt.Errorf("queue: record without a valid route: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, q.def.cfg.SendTimeout)
	defer cancel()
	var (
		atts    []Attempt
		lastErr error = errNoRoute
	)
	defer func() { q.attempts.Store(rt.Key, atts) }()
	prev := "" // the upstream that failed before, for the failover metric
	for _, name := range rt.Upstreams {
		up := q.g.ups.get(name)
		if up == nil {
			continue
		}
		if prev != "" {
			q.g.prom.failover(prev, name)
		}
		prev = name
		start := q.g.now()
		t0 := time.Now()
		rc, err := q.g.ups.sendRaw(ctx, name, up, env, msg)
		q.g.prom.upstreamAttempt(name, err, time.Since(t0))
		att, outcome, se := newAttempt(name, q.g.now().Sub(start).Milliseconds(), rc, err)
		atts = append(atts, att)
		if err == nil {
			rc.Account = name
			return rc, nil
		}
		lastErr = err
		switch {
		case outcome == mailer.OutcomeUnknown, outcome == mailer.OutcomeDelivered, ctx.Err() != nil:
			rc.Account = name
			return rc, err
		case errors.Is(err, mailer.ErrClientClosed):
			// A reload removed the upstream: temporary, as when it is
			// gone before the attempt.
			lastErr = errNoRoute
			continue
		case errors.Is(err, mailer.ErrMessageTooLarge), failoverAllowed(outcome, se):
			continue
		default:
			return rc, err
		}
	}
	return mailer.Receipt{}, lastErr
}

// newAttempt describes one upstream attempt for the audit.
func newAttempt(name string, ms int64, rc mailer.Receipt, err error) (Attempt, mailer.Outcome, *mailer.SendError) {
	att := Attempt{Upstream: name, MS: ms}
	if err == nil {
		att.Outcome = "delivered"
		att.Code, att.Enhanced, att.Reply = splitResponse(rc.Response)
		return att, mailer.OutcomeDelivered, nil
	}
	outcome := mailer.Classify(err)
	att.Outcome = outcome.String()
	var se *mailer.SendError
	if errors.As(err, &se) {
		att.Code = se.Code
		if se.EnhancedCode != (mailer.EnhancedCode{}) {
			att.Enhanced = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		att.Reply = cleanText(se.Message, 200)
		att.Stage = se.Stage.String()
	} else {
		att.Reply = cleanText(err.Error(), 200)
	}
	return att, outcome, se
}

// hook follows each record to its end: an audit line for delivered,
// failed and unknown, and for a permanent failure the tenant's notices.
func (q *queue) hook(ctx context.Context, ev mailer.Event) {
	var outcome string
	switch {
	case ev.Status == mailer.StatusSent:
		outcome = "delivered"
	case ev.Status == mailer.StatusFailed && ev.Outcome == mailer.OutcomeUnknown:
		outcome = "unknown"
	case ev.Status == mailer.StatusFailed:
		outcome = "failed"
	case ev.Status == mailer.StatusRetrying:
		// The next attempt records its own; none is kept meanwhile (the
		// record may end on another instance sharing the queue).
		var rt routeTag
		if json.Unmarshal([]byte(outbox.RouteFromContext(ctx)), &rt) == nil {
			q.attempts.Delete(rt.Key)
		}
		return
	default:
		return
	}
	var rt routeTag
	if err := json.Unmarshal([]byte(outbox.RouteFromContext(ctx)), &rt); err != nil {
		return
	}
	var atts []Attempt
	if v, ok := q.attempts.LoadAndDelete(rt.Key); ok {
		atts = v.([]Attempt)
	}
	a := q.g.audit
	from := rt.From
	if rt.DSN {
		from = ""
	}
	rec := &auditRecord{Event: "message", ID: rt.Key, Tenant: rt.Tenant, MailFrom: &from, RcptCount: len(ev.Recipients),
		Rcpt: a.rcpts(ev.Recipients), MessageID: rt.MessageID, Mode: "queue", Attempts: atts, Outcome: outcome}
	if rt.DSN {
		rec.Reason = "dsn"
	}
	if outcome == "delivered" {
		rec.Upstream = ev.Account
		if n := len(atts); n > 0 {
			rec.Upstream = atts[n-1].Upstream
		}
	} else if ev.Err != nil {
		rec.Error = cleanText(ev.Err.Error(), 300)
	}
	a.write(rec, q.g.now())
	// The 250 counted the message as queued; its end counts once more,
	// as delivered, failed or unknown (a DSN of ours counts as well).
	q.g.prom.message(rt.Tenant, outcome)
	if outcome == "failed" && !rt.DSN {
		q.notify(ctx, rt, ev)
	}
}
