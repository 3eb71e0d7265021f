package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/postkit/mailer"
)

// relay delivers a message at once through the tenant's upstream chain:
// mode "sync" to the provider accounts, "capture" to a capture sink. Each
// upstream gets exactly one SMTP attempt (the client retries on a 4xx);
// the next upstream is tried only when nothing was committed upstream.
type relay struct {
	g    *Gateway
	mode string
}

// one attempt, whatever the Client's own retry policy.
var oneAttempt = mailer.RetryPolicy{MaxAttempts: 1}

func (r *relay) Deliver(ctx context.Context, tx *Transaction) Result {
	env := mailer.Envelope{From: tx.From, To: tx.To, SMTPUTF8: tx.SMTPUTF8}
	ctx = mailer.ContextWithRetryPolicy(ctx, oneAttempt)
	var res Result
	tooLarge := 0 // upstreams whose SIZE limit is below the message
	prev := ""    // the upstream that failed before, if any
	m := r.g.prom
	for _, name := range tx.Upstreams {
		up := r.g.ups.get(name)
		if up == nil {
			continue
		}
		if prev != "" {
			m.failover(prev, name)
		}
		prev = name
		start := time.Now()
		rc, err := r.g.ups.sendRaw(ctx, name, up, env, tx.Message)
		took := time.Since(start)
		att := Attempt{Upstream: name, MS: took.Milliseconds()}
		var se *mailer.SendError
		hasSE := errors.As(err, &se)
		m.upstreamAttempt(name, err, took)
		if err == nil {
			att.Outcome = "delivered"
			att.Code, att.Enhanced, att.Reply = splitResponse(rc.Response)
			res.Attempts = append(res.Attempts, att)
			res.Upstream = name
			res.Outcome = "delivered"
			res.FailedRecipients = missing(tx.To, rc.Recipients)
			res.Reply = replyOK(tx.ID, name)
			return res
		}
		outcome := mailer.Classify(err)
		att.Outcome = outcome.String()
		if hasSE {
			att.Code = se.Code
			if se.EnhancedCode != (mailer.EnhancedCode{}) {
				att.Enhanced = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
			}
			att.Reply = cleanText(se.Message, 200)
			att.Stage = se.Stage.String()
		} else {
			att.Reply = cleanText(err.Error(), 200)
		}
		res.Attempts = append(res.Attempts, att)
		switch {
		case outcome == mailer.OutcomeUnknown:
			// The upstream may have the message: never a second copy.
			res.Upstream = name
			res.Outcome = "unknown"
			res.Reply = errUnknownOutcome(tx.ID)
			return res
		case outcome == mailer.OutcomeDelivered:
			// Some recipients refused, the others took it.
			res.Upstream = name
			res.Outcome = "delivered"
			if hasSE {
				res.FailedRecipients = se.Recipients
			}
			res.Reply = replyOK(tx.ID, name)
			return res
		case ctx.Err() != nil:
			res.Outcome = "failed"
			res.Reply = errUpstreamTemp(tx.ID)
			return res
		case errors.Is(err, mailer.ErrClientClosed):
			// Retired by a reload that removed the upstream: ours, not
			// the upstream's refusal, and nothing was sent.
			continue
		case errors.Is(err, mailer.ErrMessageTooLarge):
			// Refused before MAIL, nothing sent: the next upstream may take it.
			tooLarge++
			continue
		case failoverAllowed(outcome, se):
			continue
		default:
			// The upstream refused the message itself: the next one would too.
			res.Upstream = name
			res.Outcome = "rejected:upstream_permanent"
			var enh [3]int
			code := 554
			if hasSE {
				code, enh = se.Code, [3]int(se.EnhancedCode)
			}
			res.Reply = errUpstreamPermanent(code, enh, tx.ID)
			return res
		}
	}
	if tooLarge > 0 && tooLarge == len(res.Attempts) {
		// Every upstream advertised a smaller SIZE: retrying cannot help.
		res.Outcome = "rejected:too_large"
		res.Reply = errTooLarge
		return res
	}
	res.Outcome = "failed"
	res.Reply = errUpstreamTemp(tx.ID)
	return res
}

// failoverAllowed reports whether the next upstream may be tried: nothing
// was committed. That is any failure before the end of data that is ours
// or the network's (connect, TLS, AUTH, a 4xx to MAIL, RCPT or DATA), or a
// permanent refusal of our own account (its credentials or TLS, or a
// 5.7.x at MAIL: the account may not send as this sender).
func failoverAllowed(o mailer.Outcome, se *mailer.SendError) bool {
	if se == nil {
		return o == mailer.OutcomeTemporary
	}
	switch o {
	case mailer.OutcomeTemporary:
		return se.Stage != mailer.StageDataEnd
	case mailer.OutcomePermanent:
		switch se.Stage {
		case mailer.StageNone, mailer.StageDial, mailer.StageTLS, mailer.StageAuth:
			return true
		case mailer.StageMail:
			return se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 7
		}
	}
	return false
}

func missing(all, got []string) []string {
	if len(got) == 0 || len(got) == len(all) {
		return nil
	}
	have := make(map[string]bool, len(got))
	for _, g := range got {
		have[g] = true
	}
	var out []string
	for _, a := range all {
		if !have[a] {
			out = append(out, a)
		}
	}
	return out
}

// splitResponse splits "250 2.0.0 OK queued" for the audit.
func splitResponse(s string) (int, string, string) {
	var code int
	var enh, text string
	if len(s) >= 3 {
		fmt.Sscanf(s[:3], "%d", &code)
		rest := s[min(4, len(s)):]
		var a, b, c int
		if n, _ := fmt.Sscanf(rest, "%d.%d.%d", &a, &b, &c); n == 3 {
			enh = fmt.Sprintf("%d.%d.%d", a, b, c)
			if i := indexSpace(rest); i >= 0 {
				rest = rest[i+1:]
			} else {
				rest = ""
			}
		}
		text = rest
	}
	return code, enh, cleanText(text, 200)
}

func indexSpace(s string) int {
	for i := range len(s) {
		if s[i] == ' ' {
			return i
		}
	}
	return -1
}
