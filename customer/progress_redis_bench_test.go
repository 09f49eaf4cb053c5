package customer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// BenchmarkFunnelIngest measures sustained funnel ingest in memory,
// through one local Redis and through a local 3-master Redis Cluster, in
// one run so that the ratios can be taken: 65,536 users go through 4
// steps, every event reaches the state (with Redis the funnel is flushed
// every 32,768 events, half its buffer, so that nothing is dropped), and
// events/s counts the events recorded from the first to the last flush.
func BenchmarkFunnelIngest(b *testing.B) {
	srv := redistest.Start(b)
	cl := redistest.StartCluster(b, 3)
	users := make([]string, 1<<16)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
	}
	at := t0.Add(time.Minute)
	stores := []struct {
		name  string
		state func(b *testing.B, opts ...redisstate.Option) customer.Option
	}{
		{"memory", nil},
		{"redis", func(b *testing.B, opts ...redisstate.Option) customer.Option {
			return customer.WithState(redisState(b, srv.Addr(), opts...))
		}},
		{"cluster", func(b *testing.B, opts ...redisstate.Option) customer.Option {
			return customer.WithState(clusterState(b, cl.Addrs(), opts...))
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			h := newHarness(b)
			opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return at }),
				customer.WithSegments("country")}
			if st.state != nil {
				opts = append(opts, st.state(b, redisstate.WithKeyPrefix(fmt.Sprint("ingest:", b.N, ":")), redisstate.WithBufferSize(1<<16)))
			}
			f := closingFunnel(b, "ingest", redisSteps, opts...)
			ctx := context.Background()
			b.ReportAllocs()
			start := time.Now()
			i := 0
			for b.Loop() {
				f.StepAt(ctx, at, users[i&(1<<16-1)], redisSteps[(i>>16)&3], "de")
				i++
				if i&(1<<15-1) == 0 {
					if err := f.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := f.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "events/s")
			if d := h.points(b)[storeUnavailable]; d != 0 {
				b.Fatalf("dropped %v events", d)
			}
		})
	}
}
