package operational_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

// An SLO whose window is one of the policy's windows (1 or 3 days) has
// one point per window, its own included, and the SLO window's figures.
func TestSLOWindowThatIsAPolicyWindowReportedOnce(t *testing.T) {
	mp, r := newProvider()
	slos := []slo.SLO{
		{Name: "day", Objective: 0.9, Window: slo.Day, SLI: slo.HTTPAvailability{}},
		{Name: "three", Objective: 0.9, Window: 3 * slo.Day, SLI: slo.HTTPAvailability{}},
	}
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithSLOs(slos...))
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	for _, s := range mw.SLOStatus() {
		if got, want := len(s.Windows), len(slo.Windows); got != want {
			t.Errorf("%s: SLOStatus has %d windows, want %d", s.SLO.Name, got, want)
		}
		if s.BudgetRemaining != -9 {
			t.Errorf("%s: budget remaining %v, want -9", s.SLO.Name, s.BudgetRemaining)
		}
	}
	for _, sm := range collectRM(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != slo.MetricErrorRatio && m.Name != slo.MetricBurnRate {
				continue
			}
			seen := map[string]int{}
			for _, dp := range m.Data.(metricdata.Gauge[float64]).DataPoints {
				seen[enc(dp.Attributes)]++
			}
			if len(seen) != 2*len(slo.Windows) {
				t.Errorf("%s: %d attribute sets, want %d: %v", m.Name, len(seen), 2*len(slo.Windows), seen)
			}
		}
	}
}

// SLOs count what the middleware sees whatever else is configured: with
// a noop MeterProvider, a route function, a filter (filtered requests are
// not counted), HEAD requests, panics, and a value limit that folds
// routes into _OTHER (counted only by SLOs of every route). An SLO of a
// route never seen reports no ratio and its whole budget.
func TestSLOsWithOtherOptions(t *testing.T) {
	slos := []slo.SLO{
		{Name: "all", Objective: 0.9, SLI: slo.HTTPAvailability{}},
		{Name: "a", Objective: 0.9, SLI: slo.HTTPAvailability{Routes: []string{"/a"}}},
		{Name: "b", Objective: 0.9, SLI: slo.HTTPAvailability{Routes: []string{"/b"}}},
		{Name: "head", Objective: 0.9, SLI: slo.HTTPLatency{Threshold: time.Hour, Methods: []string{"HEAD"}}},
		{Name: "never", Objective: 0.9, SLI: slo.HTTPAvailability{Routes: []string{"/never"}}},
	}
	mw, err := operational.NewMiddleware(
		operational.WithMeterProvider(noop.NewMeterProvider()),
		operational.WithSLOs(slos[:2]...), operational.WithSLOs(slos[2:]...),
		operational.WithValueLimit(1),
		operational.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/health" }),
		operational.WithRouteFunc(func(r *http.Request) string { return r.URL.Path }))
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("panic") {
			panic("boom")
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	serve := func(method, target string) {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, target, nil))
	}
	serve("GET", "/a")        // the one route under the limit: all, a
	serve("HEAD", "/a?panic") // all, a, head
	serve("GET", "/b")        // folded into _OTHER: all only
	serve("GET", "/health")   // filtered out
	serve("HEAD", "/health")  // filtered out
	want := map[string]int64{"all": 3, "a": 2, "b": 0, "head": 1, "never": 0}
	for _, s := range mw.SLOStatus() {
		if s.Total != want[s.SLO.Name] || s.Good != 0 {
			t.Errorf("%s: %d good of %d, want 0 of %d", s.SLO.Name, s.Good, s.Total, want[s.SLO.Name])
		}
		if s.Total == 0 {
			if s.BudgetRemaining != 1 || s.Page || s.Ticket {
				t.Errorf("%s: no events, yet %+v", s.SLO.Name, s)
			}
			for _, w := range s.Windows {
				if w.Events != 0 || w.ErrorRatio != 0 || w.BurnRate != 0 {
					t.Errorf("%s: window %+v", s.SLO.Name, w)
				}
			}
		}
	}
}

// Latency thresholds at the extremes, on an existing boundary or shared by
// two SLOs each give one boundary of the duration histogram.
func TestLatencyThresholdBoundaries(t *testing.T) {
	mp, r := newProvider()
	lat := func(name string, d time.Duration) slo.SLO {
		return slo.SLO{Name: name, Objective: 0.9, SLI: slo.HTTPLatency{Threshold: d}}
	}
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp),
		operational.WithSLOs(lat("ns", time.Nanosecond), lat("hour", time.Hour), lat("existing", 100*time.Millisecond)),
		operational.WithSLOs(lat("twice-a", 300*time.Millisecond), lat("twice-b", 300*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	bounds := durationBounds(t, mw, r)
	want := append([]float64{1e-9}, operational.DurationBuckets...)
	want = append(want, 3600)
	want = slices.Insert(want, slices.Index(want, 0.5), 0.3)
	if !slices.Equal(bounds, want) {
		t.Fatalf("bounds %v, want %v", bounds, want)
	}
	for _, s := range mw.SLOStatus() {
		if s.Total != 1 || s.Good != 1 && s.SLO.Name != "ns" {
			t.Errorf("%s: %d good of %d", s.SLO.Name, s.Good, s.Total)
		}
	}
}
