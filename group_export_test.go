package mailer

import "time"

// SetGroupClock gives a Group a fake clock, for the tests of its breaker.
func SetGroupClock(g *Group, now func() time.Time) { g.now = now }
