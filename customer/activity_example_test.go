package customer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

// The figures come from the provider's final export, at its Shutdown: the
// deferred calls run in reverse, so app.Close runs first, and the closed
// recorder still reports its last values.
func ExampleNewActivity() {
	ctx := context.Background()
	export := &printExporter{names: []string{customer.MetricRetentionRatio, customer.MetricRevenueAmount, customer.MetricCohortLTV}}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(export, sdkmetric.WithInterval(time.Hour))))
	defer mp.Shutdown(ctx) // the final export prints the figures

	now := time.Date(2026, 2, 20, 12, 0, 0, 0, time.UTC)
	app, err := customer.NewActivity("shop",
		customer.WithMeterProvider(mp),
		customer.WithPeriod(customer.Month),
		customer.WithHorizon(6),
		customer.WithCurrencies("USD"),
		customer.WithClock(func() time.Time { return now }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer app.Close() // runs before mp.Shutdown

	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	var firstSeen time.Time // no signup time: the cohort is the first month seen
	price, _ := app.ParseAmount("USD", "19.99")
	app.PurchaseAt(ctx, jan, "ann", firstSeen, "USD", price)
	app.ActiveAt(ctx, jan, "bob", firstSeen)
	app.PurchaseAt(ctx, feb, "ann", firstSeen, "USD", price)
	app.RefundAt(ctx, feb, "ann", firstSeen, "USD", 500)
	// Output:
	// customer.retention.ratio{activity=shop,cohort.offset=0,cohort=2026-01,retention.mode=on_or_after} 1
	// customer.retention.ratio{activity=shop,cohort.offset=0,cohort=2026-01,retention.mode=on} 1
	// customer.retention.ratio{activity=shop,cohort.offset=1,cohort=2026-01,retention.mode=on_or_after} 0.5
	// customer.retention.ratio{activity=shop,cohort.offset=1,cohort=2026-01,retention.mode=on} 0.5
	// customer.revenue.amount{activity=shop,currency=USD,period=2026-01} 19.99
	// customer.revenue.amount{activity=shop,currency=USD,period=2026-02} 14.99
	// customer.cohort.ltv{activity=shop,cohort.offset=0,cohort=2026-01,currency=USD} 9.995
	// customer.cohort.ltv{activity=shop,cohort.offset=1,cohort=2026-01,currency=USD} 17.49
}

// printExporter is a metric exporter that prints the float gauges named
// names, sorted and without timestamps.
type printExporter struct{ names []string }

func (e *printExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *printExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *printExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if slices.Contains(e.names, m.Name) {
				for _, line := range sortedPoints(m) {
					fmt.Println(line)
				}
			}
		}
	}
	return nil
}

func (e *printExporter) ForceFlush(context.Context) error { return nil }
func (e *printExporter) Shutdown(context.Context) error   { return nil }

// sortedPoints formats the points of a float gauge, sorted.
func sortedPoints(m metricdata.Metrics) []string {
	var out []string
	if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
		for _, p := range g.DataPoints {
			out = append(out, fmt.Sprintf("%s%s %v", m.Name, attrs(p.Attributes), p.Value))
		}
	}
	return sorted(out)
}

// A recorder with a snapshot file keeps its state across a restart: the
// second recorder loads what the first one wrote when it closed.
func ExampleWithSnapshot() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kpikit-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "shop.snap")
	now := time.Date(2026, 2, 20, 12, 0, 0, 0, time.UTC)
	start := func(mp *sdkmetric.MeterProvider) *customer.Activity {
		app, err := customer.NewActivity("shop", customer.WithMeterProvider(mp),
			customer.WithPeriod(customer.Month), customer.WithCurrencies("USD"),
			customer.WithClock(func() time.Time { return now }),
			customer.WithSnapshot(path, time.Minute)) // and on Close
		if err != nil {
			fmt.Println(err)
		}
		return app
	}

	first := sdkmetric.NewMeterProvider()
	defer first.Shutdown(ctx)
	before := start(first)
	before.PurchaseAt(ctx, now, "ann", time.Time{}, "USD", 1999)
	before.ActiveAt(ctx, now, "bob", time.Time{})
	if err := before.Close(); err != nil { // writes the snapshot
		fmt.Println(err)
		return
	}

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	after := start(mp) // loads the snapshot
	defer after.Close()
	after.ActiveAt(ctx, now, "ann", time.Time{})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	p := flatten(rm)
	fmt.Println("active users:", p["customer.active.period_users{activity=shop,period=2026-02}"])
	fmt.Println("revenue:", p["customer.revenue.amount{activity=shop,currency=USD,period=2026-02}"])
	// Output:
	// active users: 2
	// revenue: 19.99
}
