package operational_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// point is one collected data point: its attributes, encoded and sorted,
// and its value (a sum) or count (a histogram).
type point struct {
	Attrs string
	Value int64
}

func (p point) String() string { return fmt.Sprintf("%s => %d", p.Attrs, p.Value) }

func newProvider() (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	r := sdkmetric.NewManualReader()
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), r
}

func collectRM(t testing.TB, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// collect returns the data points of every metric by name: histogram
// counts and sum values. Zero-valued sums (an up-down counter back at 0)
// are kept.
func collect(t testing.TB, r *sdkmetric.ManualReader) map[string][]point {
	t.Helper()
	out := map[string][]point{}
	for _, sm := range collectRM(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			var ps []point
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{enc(dp.Attributes), int64(dp.Count)})
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{enc(dp.Attributes), int64(dp.Count)})
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{enc(dp.Attributes), dp.Value})
				}
			default:
				t.Fatalf("unexpected data %T for %s", d, m.Name)
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i].Attrs < ps[j].Attrs })
			out[m.Name] = ps
		}
	}
	return out
}

// histSums returns the sum of each int64 histogram data point by attributes.
func histSums(t testing.TB, r *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, sm := range collectRM(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[int64]).DataPoints {
				out[enc(dp.Attributes)] = dp.Sum
			}
		}
	}
	return out
}

func enc(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }
