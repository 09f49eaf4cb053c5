package customer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
)

// TestActivityRedisOverflow kills Redis and records more writes than the
// buffer holds: after recovery every write was either written or counted
// on kpikit.dropped{reason="store_unavailable"}, and the counter equals the
// store's own count of dropped writes.
func TestActivityRedisOverflow(t *testing.T) {
	srv := redistest.Start(t, redistest.WithDurable())
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(ctx) })
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	const buffer = 64
	a, err := NewActivity("overflow", WithMeterProvider(mp), WithClock(func() time.Time { return now }),
		WithRedis(srv.Addr()), WithRedisBufferSize(buffer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	active := func(from, to int) {
		for i := from; i < to; i++ {
			a.ActiveAt(ctx, now, "user-"+strconv.Itoa(i), now) // two PFADDs: cohort cell, day
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	const n = 100
	for i := 0; i < n; i += 10 { // in steps that fit the buffer
		active(i, i+10)
		if err := a.Flush(fctx); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	active(n, 3*n) // 400 writes into a buffer of 64
	srv.Restart()
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	st := a.rs.store.Stats()
	if st.Pending != 0 || st.Enqueued != st.Written+st.Dropped+st.Rejected {
		t.Errorf("stats %+v: enqueued is not written + dropped + rejected", st)
	}
	const writes = 2 * 2 * n
	if minDrop := uint64(writes - 2*buffer); st.Dropped < minDrop {
		t.Errorf("dropped %d writes, want at least %d (%d writes, buffer %d)", st.Dropped, minDrop, writes, buffer)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(selfobs.ComponentKey.String("customer.activity"), selfobs.ReasonKey.String("store_unavailable"))
	var dropped, users int64 = -1, -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case selfobs.MetricName:
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if p.Attributes.Equals(&want) {
						dropped = p.Value
					}
				}
			case MetricActivePeriodUsers:
				users = m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
			}
		}
	}
	// Each event needed two writes (its day and its cohort cell), dropped
	// together and counted once.
	if dropped != int64(st.Lost) || st.Dropped != 2*st.Lost {
		t.Errorf("kpikit.dropped{reason=store_unavailable} = %d, store lost %d events of %d writes, want the counter = events and 2 writes each", dropped, st.Lost, st.Dropped)
	}
	t.Logf("store stats %+v; kpikit.dropped{reason=store_unavailable} = %d; active users %d", st, dropped, users)
	// The users written before the outage are all there; of those recorded
	// during it, at most the buffer's worth.
	if users < n || users > n+buffer+2 {
		t.Errorf("%s = %d, want %d to %d", MetricActivePeriodUsers, users, n, n+buffer)
	}
}
