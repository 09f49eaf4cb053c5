package operational_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
