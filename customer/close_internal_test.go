package customer

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
)

// TestFunnelRedisEventAfterHalt: an event that passed the closed check
// while Close ran, and reaches the shared state after its Shutdown, is
// counted as dropped with reason closed, not lost silently.
func TestFunnelRedisEventAfterHalt(t *testing.T) {
	srv := redistest.Start(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ctx := context.Background()
	t.Cleanup(func() { _ = mp.Shutdown(ctx) })
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	st, err := redisstate.New(client, redisstate.WithKeyPrefix("test:halt:"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f, err := NewFunnel("f", []string{"a", "b"}, WithMeterProvider(mp), WithClock(func() time.Time { return at }),
		WithState(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := f.store.remote.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	f.store.pushShared(ctx, at.UnixNano(), at.UnixNano(), "u", 0, nil) // as record does, past admit
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(selfobs.ComponentKey.String("customer.funnel"), selfobs.ReasonKey.String("closed"))
	got := int64(-1)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == selfobs.MetricName {
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if p.Attributes.Equals(&want) {
						got = p.Value
					}
				}
			}
		}
	}
	if got != 1 {
		t.Errorf("kpikit.dropped{reason=closed} = %d, want 1", got)
	}
}
