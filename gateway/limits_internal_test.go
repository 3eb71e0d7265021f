package gateway

import (
	"testing"
	"time"
)

// The minute's log never holds more than the tenant's limit, and nothing
// for a tenant without one, however many messages it sends.
func TestRateLogBounded(t *testing.T) {
	t.Parallel()
	r := newRates()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	limited := &tenant{name: "limited", perMinute: 5}
	free := &tenant{name: "free"}
	for i := range 10000 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		r.reserve(limited, at)
		if why := r.reserve(free, at); why != "" {
			t.Fatalf("tenant without limits refused: %s", why)
		}
	}
	if n := len(r.m["limited"].recent); n != 5 {
		t.Fatalf("limited tenant's log holds %d, want 5", n)
	}
	if n := len(r.m["free"].recent); n != 0 {
		t.Fatalf("unlimited tenant's log holds %d, want 0", n)
	}
	if r.m["free"].nDay != 10000 {
		t.Fatalf("day count %d", r.m["free"].nDay)
	}
}
