package selfobs_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kpikit/kpikit/internal/selfobs"
)

func TestCounterReasons(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c, err := selfobs.New(mp.Meter("test"), "customer.funnel")
	if err != nil {
		t.Fatal(err)
	}
	empty := c.Reason("empty_user_id")
	late := c.Reason("late_event")
	c.Reason("user_cap") // never added to: reported at 0
	ctx := context.Background()
	empty.Add(ctx, 1)
	empty.Add(ctx, 2)
	late.Add(ctx, 5)
	selfobs.Reason{}.Add(ctx, 100) // zero value: no-op

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	want := metricdata.Metrics{
		Name:        selfobs.MetricName,
		Description: "Events kpikit dropped or folded instead of recording, by component and reason.",
		Unit:        selfobs.Unit,
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{
				{Attributes: attribute.NewSet(selfobs.ComponentKey.String("customer.funnel"), selfobs.ReasonKey.String("empty_user_id")), Value: 3},
				{Attributes: attribute.NewSet(selfobs.ComponentKey.String("customer.funnel"), selfobs.ReasonKey.String("late_event")), Value: 5},
				{Attributes: attribute.NewSet(selfobs.ComponentKey.String("customer.funnel"), selfobs.ReasonKey.String("user_cap")), Value: 0},
			},
		},
	}
	metricdatatest.AssertEqual(t, want, rm.ScopeMetrics[0].Metrics[0], metricdatatest.IgnoreTimestamp())
}

func TestReasonAddDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	c, err := selfobs.New(mp.Meter("test"), "operational.http.server")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Reason("invalid_status_code")
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { r.Add(ctx, 1) }); n != 0 {
		t.Errorf("Reason.Add: %v allocs, want 0", n)
	}
}
