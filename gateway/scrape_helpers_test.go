package gateway_test

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families is one parsed scrape of /metrics.
type families map[string]*dto.MetricFamily

// scrapeHTTP fetches /metrics from the gateway's HTTP listener and parses
// it with Prometheus' own text parser, as a Prometheus server would.
func (e *env) scrapeHTTP() families {
	e.t.Helper()
	resp, err := httpGet("http://" + e.g.AdminAddr() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		e.t.Fatalf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		e.t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams
}

// waitClosed scrapes until no client connection is open any more (the
// server side of each closed connection has been counted out), for at
// most 10 s, and returns that scrape.
func (e *env) waitClosed() families {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := e.scrapeHTTP()
		if f.sum("mailgate_connections_active", nil) == 0 {
			return f
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("connections still open: %v", f.series("mailgate_connections_active"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// value of one series: a counter's or gauge's value, a histogram's count.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// key writes a series' labels as "a=x,b=y" in label order.
func key(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// series returns name's non-zero series by key.
func (f families) series(name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f[name].GetMetric() {
		if v := value(m); v != 0 {
			out[key(m)] = v
		}
	}
	return out
}

// sum adds the series of name whose labels include want.
func (f families) sum(name string, want map[string]string) float64 {
	var s float64
	for _, m := range f[name].GetMetric() {
		ok := true
		for _, l := range m.GetLabel() {
			if v, in := want[l.GetName()]; in && v != l.GetValue() {
				ok = false
			}
		}
		if ok {
			s += value(m)
		}
	}
	return s
}

// expectExactly fails unless name's non-zero series are exactly want.
func (f families) expectExactly(t *testing.T, name string, want map[string]float64) {
	t.Helper()
	if _, ok := f[name]; !ok {
		t.Errorf("%s: not exposed", name)
		return
	}
	got := f.series(name)
	if !maps.Equal(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", name, show(got), show(want))
	}
}

func show(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "{%s}=%v ", k, m[k])
	}
	return b.String()
}
