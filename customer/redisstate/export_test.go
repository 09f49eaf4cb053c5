package redisstate

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/internal/selfobs"
)

// DropCount returns the value of kpikit.dropped for component and reason
// that reader collects; the test fails when there is no such point.
func DropCount(t *testing.T, reader *sdkmetric.ManualReader, component, reason string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(selfobs.ComponentKey.String(component), selfobs.ReasonKey.String(reason))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != selfobs.MetricName {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if p.Attributes.Equals(&want) {
					return p.Value
				}
			}
		}
	}
	t.Fatalf("no %s{kpikit.component=%s,reason=%s}", selfobs.MetricName, component, reason)
	return 0
}
