package customer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

// TestShutdownExpiredContextKeepsFinalValues: Shutdown with a context that
// has already ended returns its error, and yet, for state the recorder
// holds in memory, the provider's final collection carries the values
// reported before: reading memory needs no deadline.
func TestShutdownExpiredContextKeepsFinalValues(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(2 * time.Hour)
	clock := customer.WithClock(func() time.Time { return now })
	states := map[string]func(t *testing.T) []customer.Option{
		"memory": func(*testing.T) []customer.Option { return nil },
		"snapshot": func(t *testing.T) []customer.Option {
			return []customer.Option{customer.WithSnapshot(filepath.Join(t.TempDir(), "s"), time.Hour)}
		},
	}
	for _, kind := range []string{"funnel", "goal", "activity"} {
		for st, opts := range states {
			t.Run(kind+"/"+st, func(t *testing.T) {
				p := newFinalProvider(t)
				r, record, err := newRecorder(kind, append([]customer.Option{customer.WithMeterProvider(p.mp), clock}, opts(t)...)...)
				if err != nil {
					t.Fatal(err)
				}
				record()
				var rm metricdata.ResourceMetrics
				if err := p.manual.Collect(ctx, &rm); err != nil {
					t.Fatal(err)
				}
				want := only(flatten(rm), "customer.")
				dead, cancel := context.WithCancel(ctx)
				cancel()
				start := time.Now()
				_ = r.Shutdown(dead)
				if took := time.Since(start); took > time.Second {
					t.Errorf("Shutdown with an ended context took %v", took)
				}
				if err := p.mp.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				got, _ := p.final.last()
				if diff := cmp.Diff(want, only(got, "customer.")); diff != "" {
					t.Errorf("final export (-before +final):\n%s", diff)
				}
				record() // closed: dropped, no panic
			})
		}
	}
}
