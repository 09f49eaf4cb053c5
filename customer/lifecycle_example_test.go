package customer_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

// Ann is active in weeks 10, 11 and 13, Bob (signed up in week 9) in
// week 11 only: PostHog's lifecycle per week, dormant users as negative
// counts, and the users by days active in the last 7 days.
func ExampleWithLifecycle() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	week := func(n int) time.Time { return time.Date(2026, 3, 2+7*(n-10), 12, 0, 0, 0, time.UTC) } // 2026-W10 is March 2
	now := week(13).Add(48 * time.Hour)
	app, err := customer.NewActivity("shop", customer.WithMeterProvider(mp),
		customer.WithLifecycle(), customer.WithHorizon(4),
		customer.WithClock(func() time.Time { return now }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer app.Close()

	var firstSeen time.Time
	app.ActiveAt(ctx, week(10), "ann", firstSeen)
	app.ActiveAt(ctx, week(11), "ann", firstSeen)
	app.ActiveAt(ctx, week(13), "ann", firstSeen)
	app.ActiveAt(ctx, week(13).Add(24*time.Hour), "ann", firstSeen)
	app.ActiveAt(ctx, week(11), "bob", week(9))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	p := flatten(rm)
	for w := 10; w <= 13; w++ {
		label := fmt.Sprintf("2026-W%d", w)
		fmt.Print(label)
		for _, status := range []string{customer.LifecycleNew, customer.LifecycleReturning, customer.LifecycleResurrecting, customer.LifecycleDormant} {
			v, ok := p[customer.MetricActiveLifecycle+"{activity=shop,lifecycle.status="+status+",period="+label+"}"]
			if ok {
				fmt.Printf(" %s=%v", status, v)
			}
		}
		fmt.Println()
	}
	fmt.Println("active on 2 of the last 7 days:", p[customer.MetricActiveDays+"{active.days=2,active.window=7d,activity=shop}"])
	// Output:
	// 2026-W10 new=1 returning=0 resurrecting=0
	// 2026-W11 new=0 returning=1 resurrecting=1 dormant=0
	// 2026-W12 new=0 returning=0 resurrecting=0 dormant=-2
	// 2026-W13 new=0 returning=0 resurrecting=1 dormant=0
	// active on 2 of the last 7 days: 1
}
