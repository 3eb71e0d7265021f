package mailertest

import (
	"time"

	"github.com/postkit/mailer"
)

// FastRetry returns a retry policy for tests: the default number of
// attempts (3), with a millisecond between them, after throttling replies
// (rate limits) too. With the default policy a test of a failure path (the
// server answers 451, drops the connection, is not there) waits seconds
// in backoff; with this one it takes milliseconds:
//
//	c, err := mailer.New(srv.Options(), mailer.WithRetry(mailertest.FastRetry()))
//
// Set MaxAttempts on the result for another number of attempts. A
// mailer.ReplyRule's MinWait (as in a provider preset's rules) still
// applies: leave the preset's rules out of such a test.
func FastRetry() mailer.RetryPolicy {
	return mailer.RetryPolicy{
		MaxAttempts:  mailer.DefaultMaxAttempts,
		MinWait:      time.Millisecond,
		MaxWait:      time.Millisecond,
		ThrottleWait: time.Millisecond,
		Backoff:      mailer.ConstantBackoff,
	}
}
