package operational_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

// sloPoints returns the SLO metrics and kpikit.dropped of the collected
// data: counters and gauges by metric name and attributes.
func sloPoints(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sm := range collectRM(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if !strings.HasPrefix(m.Name, "slo.") && m.Name != "kpikit.dropped" {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out[m.Name+" "+enc(dp.Attributes)] = float64(dp.Value)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					out[m.Name+" "+enc(dp.Attributes)] = dp.Value
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, d)
			}
		}
	}
	return out
}

func TestMiddlewareSLOs(t *testing.T) {
	mp, r := newProvider()
	slos := []slo.SLO{
		{Name: "all", Objective: 0.9, SLI: slo.HTTPAvailability{}},
		{Name: "pay", Objective: 0.99, SLI: slo.HTTPAvailability{Routes: []string{"/pay"}, Methods: []string{"POST"}}},
		{Name: "fast", Objective: 0.5, SLI: slo.HTTPLatency{Threshold: 20 * time.Millisecond, Routes: []string{"/pay", "/items/{id}"}}},
	}
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithSLOs(slos...))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pay", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("do") {
		case "fail":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "panic":
			panic("boom")
		case "slow":
			time.Sleep(40 * time.Millisecond)
		case "bad":
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /pay", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	h := mw.Handler(mux)
	serve := func(method, target string) {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, target, nil))
	}
	serve("POST", "/pay")          // good for all, pay, fast
	serve("POST", "/pay?do=bad")   // a 4xx is not a failure
	serve("POST", "/pay?do=fail")  // 503: bad for all three
	serve("POST", "/pay?do=panic") // 500: bad for all three
	serve("POST", "/pay?do=slow")  // good for all and pay, too slow for fast
	serve("GET", "/pay")           // not selected by pay
	serve("GET", "/items/7")       // 500: bad for all and fast
	serve("GET", "/nowhere")       // 404, no route: all only

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a client that went away: 499, not a failure
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/pay", nil).WithContext(ctx))

	want := map[string][2]int64{ // good, total
		"all":  {6, 9},
		"pay":  {4, 6},
		"fast": {4, 8}, // every /pay and /items request: too slow, 503, panic and 500 are bad
	}
	got := sloPoints(t, r)
	for name, w := range want {
		n := slo.KeyName + "=" + name
		if g, e := got[slo.MetricGoodEvents+" "+n], got[slo.MetricEvents+" "+n]; g != float64(w[0]) || e != float64(w[1]) {
			t.Errorf("%s: good %v of %v, want %d of %d", name, g, e, w[0], w[1])
		}
		ratio := float64(w[1]-w[0]) / float64(w[1])
		key := slo.MetricErrorRatio + " " + n + "," + slo.KeyWindow + "=5m"
		if got[key] != ratio {
			t.Errorf("%s: %s = %v, want %v", name, key, got[key], ratio)
		}
	}
	if got[slo.MetricObjective+" "+slo.KeyName+"=pay"] != 0.99 {
		t.Errorf("objective of pay: %v", got[slo.MetricObjective+" "+slo.KeyName+"=pay"])
	}
	for _, sev := range []string{"page", "ticket"} {
		key := slo.MetricAlert + " " + slo.KeySeverity + "=" + sev + "," + slo.KeyName + "=all"
		if v, ok := got[key]; !ok || v != 0 {
			t.Errorf("%s = %v (reported %v), want 0: under the minimum events", key, v, ok)
		}
	}
	// The status is the same figures.
	st := mw.SLOStatus()
	if len(st) != 3 {
		t.Fatalf("SLOStatus: %d statuses", len(st))
	}
	for _, s := range st {
		if w := want[s.SLO.Name]; s.Good != w[0] || s.Total != w[1] {
			t.Errorf("SLOStatus %s: good %d of %d, want %d of %d", s.SLO.Name, s.Good, s.Total, w[0], w[1])
		}
	}
}

func TestMiddlewareLatencyThresholdIsABucketBoundary(t *testing.T) {
	mp, r := newProvider()
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp),
		operational.WithSLOs(slo.SLO{Name: "fast", Objective: 0.9, SLI: slo.HTTPLatency{Threshold: 300 * time.Millisecond}}))
	if err != nil {
		t.Fatal(err)
	}
	bounds := durationBounds(t, mw, r)
	want := append(slices.Clone(operational.DurationBuckets), 0.3)
	slices.Sort(want)
	if diff := cmp.Diff(want, bounds); diff != "" {
		t.Fatalf("bounds (-want +got):\n%s", diff)
	}
}

func TestOperationSLOs(t *testing.T) {
	mp, r := newProvider()
	op, err := operational.NewOperation("db.query", operational.WithMeterProvider(mp), operational.WithSLOs(
		slo.SLO{Name: "db-up", Objective: 0.9, SLI: slo.OperationAvailability{Operation: "db.query"}},
		slo.SLO{Name: "db-fast", Objective: 0.9, SLI: slo.OperationLatency{Operation: "db.query", Threshold: 100 * time.Millisecond}},
	))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op.Record(ctx, time.Millisecond, nil)                                         // good, good
	op.Record(ctx, time.Second, nil)                                              // good, slow
	op.Record(ctx, time.Millisecond, errors.New("boom"))                          // bad, bad
	op.Record(ctx, time.Millisecond, fmt.Errorf("gave up: %w", context.Canceled)) // the caller's cancellation: good, good
	op.Start(ctx).End(nil)                                                        // good, good
	got := sloPoints(t, r)
	for name, w := range map[string][2]float64{"db-up": {4, 5}, "db-fast": {3, 5}} {
		n := slo.KeyName + "=" + name
		if g, e := got[slo.MetricGoodEvents+" "+n], got[slo.MetricEvents+" "+n]; g != w[0] || e != w[1] {
			t.Errorf("%s: good %v of %v, want %v of %v", name, g, e, w[0], w[1])
		}
	}
	if st := op.SLOStatus(); len(st) != 2 || st[0].Good != 4 || st[1].Good != 3 {
		t.Errorf("SLOStatus: %+v", st)
	}
}

func TestSLOsThatCannotWork(t *testing.T) {
	avail := func(name string) slo.SLO {
		return slo.SLO{Name: name, Objective: 0.99, SLI: slo.HTTPAvailability{}}
	}
	with := func(f func(*slo.SLO)) slo.SLO {
		s := avail("x")
		f(&s)
		return s
	}
	tests := []struct {
		name string
		op   bool // an Operation's, else a Middleware's
		slos []slo.SLO
		want string
	}{
		{"objective 1", false, []slo.SLO{with(func(s *slo.SLO) { s.Objective = 1 })}, "objective 1 is not in (0, 1)"},
		{"objective 0", false, []slo.SLO{with(func(s *slo.SLO) { s.Objective = 0 })}, "objective 0 is not in (0, 1)"},
		{"objective NaN", false, []slo.SLO{with(func(s *slo.SLO) { s.Objective = nan() })}, "objective NaN"},
		{"window of 12h", false, []slo.SLO{with(func(s *slo.SLO) { s.Window = 12 * time.Hour })}, "window 12h0m0s"},
		{"window of 36 days", false, []slo.SLO{with(func(s *slo.SLO) { s.Window = 36 * slo.Day })}, "window 864h0m0s"},
		{"window not whole days", false, []slo.SLO{with(func(s *slo.SLO) { s.Window = 30*slo.Day + time.Hour })}, "window 721h0m0s"},
		{"negative min events", false, []slo.SLO{with(func(s *slo.SLO) { s.MinEvents = -1 })}, "MinEvents -1"},
		{"no SLI", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = nil })}, "no SLI"},
		{"bad name", false, []slo.SLO{avail("Pay Availability")}, `"Pay Availability": name`},
		{"empty name", false, []slo.SLO{avail("")}, `"": name`},
		{"two with one name", false, []slo.SLO{avail("dup"), avail("dup")}, `"dup": two SLOs have this name`},
		{"threshold 0", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPLatency{} })}, "latency threshold 0s is not positive"},
		{"negative threshold", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPLatency{Threshold: -time.Second} })}, "latency threshold -1s"},
		{"routes selecting nothing", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPAvailability{Routes: []string{}} })}, "selects nothing"},
		{"a ServeMux pattern as a route", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPAvailability{Routes: []string{"POST /pay"}} })}, `route "POST /pay" is not a path template`},
		{"empty route", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPAvailability{Routes: []string{""}} })}, `route ""`},
		{"methods selecting nothing", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPLatency{Threshold: time.Second, Methods: []string{}} })}, "selects nothing"},
		{"unknown method", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.HTTPAvailability{Methods: []string{"get"}} })}, `method "get"`},
		{"an operation's SLI", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.OperationAvailability{Operation: "db.query"} })}, "want slo.HTTPAvailability or slo.HTTPLatency"},
		{"a goal's SLI", false, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.GoalConversion{Goal: "checkout"} })}, "slo.GoalConversion"},
		{"another operation's", true, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.OperationAvailability{Operation: "cache.get"} })}, `operation "db.query"`},
		{"an HTTP SLI", true, []slo.SLO{avail("x")}, "slo.HTTPAvailability"},
		{"operation threshold not a boundary", true, []slo.SLO{with(func(s *slo.SLO) {
			s.SLI = slo.OperationLatency{Operation: "db.query", Threshold: 300 * time.Millisecond}
		})}, "latency threshold 300ms is not a bucket boundary"},
		{"no operation name", true, []slo.SLO{with(func(s *slo.SLO) { s.SLI = slo.OperationAvailability{} })}, "no operation name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, _ := newProvider()
			opts := []operational.Option{operational.WithMeterProvider(mp), operational.WithSLOs(tt.slos...)}
			var err error
			var isNil bool
			if tt.op {
				var op *operational.Operation
				op, err = operational.NewOperation("db.query", opts...)
				isNil = op == nil
			} else {
				var mw *operational.Middleware
				mw, err = operational.NewMiddleware(opts...)
				isNil = mw == nil
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, slo.ErrInvalid) && !errors.Is(err, operational.ErrInvalidOption) {
				t.Errorf("error %v wraps neither slo.ErrInvalid nor operational.ErrInvalidOption", err)
			}
			if !isNil {
				t.Error("a recorder was returned with the error")
			}
		})
	}
	// WithSLOs does not apply to a Transport or an ErrorCounter.
	if _, err := operational.NewTransport(nil, operational.WithSLOs(avail("x"))); err == nil || !strings.Contains(err.Error(), "WithSLOs does not apply") {
		t.Errorf("Transport with WithSLOs: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

// durationBounds serves one request through mw and returns the bucket
// boundaries of its duration histogram, as collected by r.
func durationBounds(t *testing.T, mw *operational.Middleware, r *sdkmetric.ManualReader) []float64 {
	t.Helper()
	mw.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	for _, sm := range collectRM(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == operational.MetricServerRequestDuration {
				return m.Data.(metricdata.Histogram[float64]).DataPoints[0].Bounds
			}
		}
	}
	t.Fatalf("no %s collected", operational.MetricServerRequestDuration)
	return nil
}
