package outbox

import (
	"math"
	"testing"
	"time"
)

// TestSpread: a throttling pause is drawn in [d, d+d/4], and a floor
// near the longest duration does not overflow into a negative snooze
// (River panics on one).
func TestSpread(t *testing.T) {
	for _, d := range []time.Duration{0, 3, time.Minute, math.MaxInt64 / 10 * 9, math.MaxInt64} {
		for range 100 {
			got := spread(d)
			if got < d || got-d > d/4 {
				t.Fatalf("spread(%v) = %v, want within [d, d+d/4]", d, got)
			}
		}
	}
}
