package customer_test

import (
	"context"
	"fmt"
	"sort"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

// printPoints prints the sums and gauges of one collection, sorted, without
// timestamps.
func printPoints(reader *sdkmetric.ManualReader, names ...string) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !want[m.Name] {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %.2f", m.Name, attrs(p.Attributes), p.Value))
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

func ExampleNewFunnel() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	checkout, err := customer.NewFunnel("checkout", []string{"cart", "pay"},
		customer.WithMeterProvider(mp),
		customer.WithSegments("device"),
		customer.WithWindow(24*time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	checkout.Step(ctx, "alice", "cart", "mobile")
	checkout.Step(ctx, "alice", "pay")
	checkout.Step(ctx, "bob", "cart", "mobile")
	checkout.Step(ctx, "bob", "cart", "mobile") // a repeat counts once

	printPoints(reader, customer.MetricFunnelUsers, customer.MetricFunnelConversion)
	// Output:
	// customer.funnel.conversion{device=mobile,funnel.basis=first,funnel.step.index=2,funnel.step=pay,funnel=checkout} 0.50
	// customer.funnel.conversion{device=mobile,funnel.basis=previous,funnel.step.index=2,funnel.step=pay,funnel=checkout} 0.50
	// customer.funnel.users{device=mobile,funnel.step.index=1,funnel.step=cart,funnel=checkout} 2
	// customer.funnel.users{device=mobile,funnel.step.index=2,funnel.step=pay,funnel=checkout} 1
}

func ExampleFunnel_StepAt() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	// Replaying history: every event at its own time.
	f, _ := customer.NewFunnel("onboarding", []string{"signup", "activate"},
		customer.WithMeterProvider(mp), customer.WithWindow(7*24*time.Hour))
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2025, 1, d, 12, 0, 0, 0, time.UTC) }
	f.StepAt(ctx, day(1), "u1", "signup")
	f.StepAt(ctx, day(3), "u1", "activate")
	f.StepAt(ctx, day(2), "u2", "signup")
	f.StepAt(ctx, day(10), "u2", "activate") // after u2's window: not counted

	printPoints(reader, customer.MetricFunnelUsers)
	// Output:
	// customer.funnel.users{funnel.step.index=1,funnel.step=signup,funnel=onboarding} 2
	// customer.funnel.users{funnel.step.index=2,funnel.step=activate,funnel=onboarding} 1
}

func ExampleNewGoal() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	// An A/B test: the variant is a segment of the exposure.
	g, err := customer.NewGoal("new_pricing_page",
		customer.WithMeterProvider(mp), customer.WithSegments("variant"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	g.Expose(ctx, "u1", "A")
	g.Expose(ctx, "u2", "B")
	g.Expose(ctx, "u3", "B")
	g.Convert(ctx, "u2")
	g.Convert(ctx, "u2") // a second purchase: one more conversion, same user
	g.Convert(ctx, "u9") // never exposed: not counted

	printPoints(reader, customer.MetricGoalExposedUsers, customer.MetricGoalConvertedUsers,
		customer.MetricGoalConversions, customer.MetricGoalConversion)
	// Output:
	// customer.goal.conversions{goal=new_pricing_page,variant=A} 0
	// customer.goal.conversions{goal=new_pricing_page,variant=B} 2
	// customer.goal.conversion{goal=new_pricing_page,variant=A} 0.00
	// customer.goal.conversion{goal=new_pricing_page,variant=B} 0.50
	// customer.goal.converted_users{goal=new_pricing_page,variant=A} 0
	// customer.goal.converted_users{goal=new_pricing_page,variant=B} 1
	// customer.goal.exposed_users{goal=new_pricing_page,variant=A} 1
	// customer.goal.exposed_users{goal=new_pricing_page,variant=B} 2
}
