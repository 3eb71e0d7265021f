package gateway

import "github.com/prometheus/client_golang/prometheus"

// hotSeries are the series every relayed message touches, looked up by
// label values once per configured tenant and upstream (at New and at
// each Reload) rather than for every message. It is immutable; declare
// swaps in a new one. Names not in it (an upstream removed by a reload
// while a message was on its way) fall back to the label lookup.
type hotSeries struct {
	tenants map[string]*tenantSeries
	ups     map[string]*upSeries
}

type tenantSeries struct {
	outcomes     [5]prometheus.Counter // in messageOutcomes order
	rcptAccepted prometheus.Counter
	size         prometheus.Observer
	mode         string              // the tenant's delivery mode
	accept       prometheus.Observer // accept time in that mode
}

type upSeries struct {
	classes  [5]prometheus.Counter // in attemptClasses order
	duration prometheus.Observer
}

// buildHot looks up the hot series of s's tenants and upstreams.
func (m *gwMetrics) buildHot(s *snapshot) *hotSeries {
	h := &hotSeries{tenants: map[string]*tenantSeries{}, ups: map[string]*upSeries{}}
	for name, t := range s.tenants {
		ts := &tenantSeries{
			rcptAccepted: m.recipients.WithLabelValues(name, "accepted"),
			size:         m.size.WithLabelValues(name),
			mode:         t.mode,
			accept:       m.accept.WithLabelValues(name, t.mode),
		}
		for i, o := range messageOutcomes {
			ts.outcomes[i] = m.messages.WithLabelValues(name, o)
		}
		h.tenants[name] = ts
	}
	for _, name := range s.upOrder {
		us := &upSeries{duration: m.upDuration.WithLabelValues(name)}
		for i, c := range attemptClasses {
			us.classes[i] = m.upAttempts.WithLabelValues(name, c)
		}
		h.ups[name] = us
	}
	return h
}

// tenantHot returns the hot series of tenant name, or nil.
func (m *gwMetrics) tenantHot(name string) *tenantSeries {
	if h := m.hot.Load(); h != nil {
		return h.tenants[name]
	}
	return nil
}

// upHot returns the hot series of upstream name, or nil.
func (m *gwMetrics) upHot(name string) *upSeries {
	if h := m.hot.Load(); h != nil {
		return h.ups[name]
	}
	return nil
}

// index returns v's position in list, or -1.
func index(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}
