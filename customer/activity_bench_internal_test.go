package customer

import (
	"context"
	"strconv"
	"sync"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var (
	bigOnce   sync.Once
	bigAct    *Activity
	bigReader *sdkmetric.ManualReader
)

// BenchmarkActivityCollect collects, through an SDK ManualReader, a
// weekly activity with a 12x12 retention matrix and 30 daily sets built
// from one million distinct users a day (84 M events, built once per
// process), and reports the memory of its state (state-B).
//
//   - unchanged: nothing was recorded since the last collection, every
//     estimate comes from its cache;
//   - current_period: one event per cohort in the current week and day
//     before each collection, the steady state of live traffic: every
//     cohort's on_or_after unions and the current sets are recomputed;
//   - all_changed: one event in every cell and day before each
//     collection, the worst case.
func BenchmarkActivityCollect(b *testing.B) {
	bigOnce.Do(func() {
		bigReader = sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(bigReader))
		bigAct = bigActivity(b, 1_000_000, mp)
	})
	a := bigAct
	bytes, dense := a.stateBytes()
	ctx := context.Background()
	var rm metricdata.ResourceMetrics
	collect := func() {
		if err := bigReader.Collect(ctx, &rm); err != nil {
			b.Fatal(err)
		}
	}
	top := a.periods.Top()
	end := a.unit.Start(top, a.loc).AddDate(0, 0, 6).Add(12 * 3600e9)
	n := 0
	fresh := func() string { n++; return "fresh-" + strconv.Itoa(n) }
	cases := []struct {
		name   string
		before func()
	}{
		{"unchanged", func() {}},
		{"current_period", func() {
			for c := int64(0); c < 12; c++ {
				a.ActiveAt(ctx, end, fresh(), a.unit.Start(top-c, a.loc))
			}
		}},
		{"all_changed", func() {
			for c := int64(0); c < 12; c++ {
				for k := int64(0); k <= c; k++ {
					a.ActiveAt(ctx, a.unit.Start(top-c+k, a.loc), fresh(), a.unit.Start(top-c, a.loc))
				}
			}
			for d := range 30 {
				a.ActiveAt(ctx, end.AddDate(0, 0, -d), fresh(), a.unit.Start(top, a.loc))
			}
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			collect()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				tc.before()
				b.StartTimer()
				collect()
			}
			b.ReportMetric(float64(bytes), "state-B")
			b.ReportMetric(float64(dense), "dense-sets")
		})
	}
}
