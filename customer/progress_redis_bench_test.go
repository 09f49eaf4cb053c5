package customer_test

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
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
// every 32,768 events, half its buffer, so that nothing is dropped; each
// run, -count included, starts with no attempts in Redis), and events/s
// counts the events recorded from the first to the last flush.
//
// The Redis servers share the machine's cores with the benchmark, so the
// CPU time spent is reported too: server-µs/event by the Redis servers
// (every master of the cluster), client-µs/event by this process, and
// cpu-busy the share of all the cores' time the two took together. A
// cpu-busy near 1 means the run was bound by the cores, not by waiting.
func BenchmarkFunnelIngest(b *testing.B) {
	srv := redistest.Start(b)
	cl := redistest.StartCluster(b, 3)
	users := make([]string, 1<<16)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
	}
	at := t0.Add(time.Minute)
	stores := []struct {
		name   string
		state  func(b *testing.B, opts ...redisstate.Option) customer.Option
		addrs  []string
		period bool // figures by entry period (WithPeriod) too
	}{
		{"memory", nil, nil, false},
		{"memory_by_period", nil, nil, true},
		{"redis", func(b *testing.B, opts ...redisstate.Option) customer.Option {
			return customer.WithState(redisState(b, srv.Addr(), opts...))
		}, []string{srv.Addr()}, false},
		{"redis_by_period", func(b *testing.B, opts ...redisstate.Option) customer.Option {
			return customer.WithState(redisState(b, srv.Addr(), opts...))
		}, []string{srv.Addr()}, true},
		{"cluster", func(b *testing.B, opts ...redisstate.Option) customer.Option {
			return customer.WithState(clusterState(b, cl.Addrs(), opts...))
		}, cl.Addrs(), false},
	}
	runs := 0
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			runs++ // each run its own keys: every run starts with no attempts
			h := newHarness(b)
			opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return at }),
				customer.WithSegments("country")}
			if st.state != nil {
				opts = append(opts, st.state(b, redisstate.WithKeyPrefix(fmt.Sprint("ingest:", runs, ":")), redisstate.WithBufferSize(1<<16)))
			}
			if st.period {
				opts = append(opts, customer.WithPeriod(customer.Day))
			}
			f := closingFunnel(b, "ingest", redisSteps, opts...)
			ctx := context.Background()
			b.ReportAllocs()
			server0, client0 := redistest.UsedCPU(b, st.addrs...), processCPU()
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
			wall := time.Since(start)
			server, client := redistest.UsedCPU(b, st.addrs...)-server0, processCPU()-client0
			b.ReportMetric(float64(i)/wall.Seconds(), "events/s")
			if st.state != nil {
				b.ReportMetric(server.Seconds()*1e6/float64(i), "server-µs/event")
			}
			b.ReportMetric(client.Seconds()*1e6/float64(i), "client-µs/event")
			b.ReportMetric(float64(server+client)/float64(wall)/float64(runtime.NumCPU()), "cpu-busy")
			if d := h.points(b)[storeUnavailable]; d != 0 {
				b.Fatalf("dropped %v events", d)
			}
		})
	}
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
