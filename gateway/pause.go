package gateway

import (
	"slices"
	"sync"
)

// pauses holds the tenants an admin has paused. It lives in the Gateway,
// not in the configuration snapshot, so a pause survives reloads (a
// restart forgets it). A paused tenant's MAIL gets 451 4.7.1: its
// applications keep their mail and retry later.
type pauses struct {
	mu sync.Mutex
	m  map[string]bool
}

func newPauses() *pauses { return &pauses{m: map[string]bool{}} }

// set pauses or resumes tenant; it reports whether that changed anything.
func (p *pauses) set(tenant string, paused bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[tenant] == paused {
		return false
	}
	if paused {
		p.m[tenant] = true
	} else {
		delete(p.m, tenant)
	}
	return true
}

func (p *pauses) is(tenant string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[tenant]
}

func (p *pauses) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.m))
	for t := range p.m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Pause stops tenant's new transactions: MAIL gets 451 4.7.1 until Resume.
// Transactions already past MAIL finish. It returns false for a tenant the
// running configuration does not have.
func (g *Gateway) Pause(tenant string) bool { return g.setPaused(tenant, true) }

// Resume undoes Pause.
func (g *Gateway) Resume(tenant string) bool { return g.setPaused(tenant, false) }

func (g *Gateway) setPaused(tenant string, paused bool) bool {
	if g.snap.Load().tenants[tenant] == nil {
		return false
	}
	g.paused.set(tenant, paused)
	return true
}
