package outbox

import "context"

// SweepNow runs the sweep once, as its periodic job does every minute, and
// returns how many records it changed.
func SweepNow[TTx any](ctx context.Context, o *Outbox[TTx]) (int, error) { return o.sweep(ctx) }

// KeptOutcomes returns how many attempts' outcomes o keeps in memory
// because the database refused them (see record).
func KeptOutcomes[TTx any](o *Outbox[TTx]) int {
	n := 0
	o.unsaved.Range(func(any, any) bool { n++; return true })
	return n
}

// ErrDiedWhileSending is the error of a record settled as after a crash.
var ErrDiedWhileSending = errDiedWhileSending
