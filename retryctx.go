package mailer

import (
	"context"
	"errors"
)

// retryPolicyKey is the context key of ContextWithRetryPolicy.
type retryPolicyKey struct{}

// ContextWithRetryPolicy returns a copy of ctx under which [Client.Send],
// [Client.SendRaw] and [Client.SendAll] use p instead of the Client's
// RetryPolicy (see [WithRetry]); zero fields of p mean the defaults, as
// for WithRetry, and a policy that WithRetry refuses makes the send fail
// at once with a *ConfigError. It lets one call differ from the rest without a second
// Client and pool: an HTTP handler that must answer quickly makes a single
// attempt, and an outbox or gateway that schedules its own retries makes
// each of its attempts exactly one SMTP attempt:
//
//	ctx = mailer.ContextWithRetryPolicy(ctx, mailer.RetryPolicy{MaxAttempts: 1})
func ContextWithRetryPolicy(ctx context.Context, p RetryPolicy) context.Context {
	return context.WithValue(ctx, retryPolicyKey{}, p)
}

// retryPolicy returns the retry policy of a send under ctx, with defaults
// filled in, or a *ConfigError if the policy in ctx is one that WithRetry
// refuses.
func (c *Client) retryPolicy(ctx context.Context) (RetryPolicy, error) {
	p, ok := ctx.Value(retryPolicyKey{}).(RetryPolicy)
	if !ok {
		return c.cfg.retry.withDefaults(), nil
	}
	var cfg config
	if err := WithRetry(p)(&cfg); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			err = &ConfigError{Option: "ContextWithRetryPolicy", Err: ce.Err}
		}
		return RetryPolicy{}, err
	}
	return p.withDefaults(), nil
}
