package customer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

// t0 is the start of the event times the tests use.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// harness is an SDK MeterProvider with a manual reader.
type harness struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &harness{reader: r, mp: mp}
}

func (h *harness) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// points collects and flattens every data point to "name{k=v,...}" ->
// value. Histograms give "name{...}.count" and "name{...}.sum".
func (h *harness) points(t testing.TB) map[string]float64 {
	t.Helper()
	return flatten(h.collect(t))
}

func flatten(rm metricdata.ResourceMetrics) map[string]float64 {
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = p.Value
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)+".count"] = float64(p.Count)
					out[m.Name+attrs(p.Attributes)+".sum"] = p.Sum
				}
			default:
				panic(fmt.Sprintf("unexpected data %T", d))
			}
		}
	}
	return out
}

func attrs(s attribute.Set) string {
	var kv []string
	for _, a := range s.ToSlice() {
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	slices.Sort(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// only keeps the points whose key starts with prefix.
func only(points map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range points {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func mustFunnel(t testing.TB, name string, steps []string, opts ...customer.Option) *customer.Funnel {
	t.Helper()
	f, err := customer.NewFunnel(name, steps, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustGoal(t testing.TB, name string, opts ...customer.Option) *customer.Goal {
	t.Helper()
	g, err := customer.NewGoal(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
