package redisstate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/shared"
)

// BenchmarkProgressApply measures the Redis side of progress: 65,536 users
// go through 4 steps in order, every event changes its user's attempt, the
// state is flushed every 32,768 events. Besides events/s it reports the
// CPU time the Redis server spent per event (redis-µs/event), which the
// benchmark process sharing the cores does not blur as much.
func BenchmarkProgressApply(b *testing.B) {
	runs++ // each run its own keys: every run starts with no attempts
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = client.Close() })
	st, err := redisstate.New(client, redisstate.WithKeyPrefix(fmt.Sprint("apply:", runs, ":")), redisstate.WithBufferSize(1<<16))
	if err != nil {
		b.Fatal(err)
	}
	p, err := st.NewProgress(shared.ProgressConfig{
		Kind: shared.FunnelProgress, Name: "f", Steps: 4, Window: time.Hour, CountEvents: true, Rules: anyOrder,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	cpu0 := redistest.UsedCPU(b, srv.Addr())
	start := time.Now()
	i := 0
	for b.Loop() {
		u := uint64(i & (1<<16 - 1))
		p.Push(u*0x9e3779b97f4a7c15, at, (i>>16)&3, "de")
		i++
		if i&(1<<15-1) == 0 {
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric((redistest.UsedCPU(b, srv.Addr())-cpu0).Seconds()*1e6/float64(i), "redis-µs/event")
}

// runs numbers the runs of BenchmarkProgressApply.
var runs int
