package customer_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"

	"github.com/kpikit/kpikit/customer"
)

// benchFunnel returns a five-step funnel with two segment dimensions on an
// SDK provider (or the no-op one), and the time its events happen at.
func benchFunnel(b *testing.B, sdk bool, opts ...customer.Option) (*customer.Funnel, *harness, time.Time) {
	b.Helper()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var h *harness
	var mp customer.Option = customer.WithMeterProvider(noop.NewMeterProvider())
	if sdk {
		h = newHarness(b)
		mp = customer.WithMeterProvider(h.mp)
	}
	opts = append([]customer.Option{mp, customer.WithSegments("device", "plan"),
		customer.WithClock(func() time.Time { return at })}, opts...)
	f := mustFunnel(b, "bench", []string{"s1", "s2", "s3", "s4", "s5"}, opts...)
	return f, h, at
}

func userIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "user-" + strconv.Itoa(i)
	}
	return ids
}

func BenchmarkFunnelStep(b *testing.B) {
	ctx := context.Background()
	const nUsers = 1 << 14
	ids := userIDs(nUsers)
	for _, sdk := range []bool{true, false} {
		provider := map[bool]string{true: "sdk", false: "noop"}[sdk]
		b.Run("baseline_nil_funnel/"+provider, func(b *testing.B) {
			var f *customer.Funnel
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.Step(ctx, ids[i%nUsers], "s1", "ios", "pro")
			}
		})
		b.Run("tracked_repeat/"+provider, func(b *testing.B) { benchRepeat(b, ids, sdk) })
		b.Run("tracked_advance/"+provider, func(b *testing.B) { benchAdvance(b, ids, sdk) })
		b.Run("new_user/"+provider, func(b *testing.B) {
			f, _, at := benchFunnel(b, sdk, customer.WithMaxUsers(1<<30))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.StepAt(ctx, at, "new-"+strconv.Itoa(i), "s1", "ios", "pro")
			}
		})
		b.Run("dropped_unknown_step/"+provider, func(b *testing.B) {
			f, _, at := benchFunnel(b, sdk)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.StepAt(ctx, at, ids[i%nUsers], "nope")
			}
		})
	}
}

// benchRepeat times Step of tracked users repeating a step.
func benchRepeat(b *testing.B, ids []string, sdk bool, opts ...customer.Option) {
	ctx := context.Background()
	f, _, at := benchFunnel(b, sdk, opts...)
	for _, id := range ids {
		f.StepAt(ctx, at, id, "s1", "ios", "pro")
		f.StepAt(ctx, at, id, "s2", "ios", "pro")
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.Step(ctx, ids[i%len(ids)], "s2", "ios", "pro")
	}
}

// benchAdvance times StepAt of tracked users advancing: each round moves
// every user one step further; after the last step a fresh funnel starts
// over (not timed).
func benchAdvance(b *testing.B, ids []string, sdk bool, opts ...customer.Option) {
	ctx := context.Background()
	steps := []string{"s2", "s3", "s4", "s5"}
	var f *customer.Funnel
	var at time.Time
	reset := func() {
		f, _, at = benchFunnel(b, sdk, opts...)
		for _, id := range ids {
			f.StepAt(ctx, at, id, "s1", "ios", "pro")
		}
	}
	reset()
	n := len(ids)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round := (i / n) % len(steps)
		if i > 0 && i%(n*len(steps)) == 0 {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		f.StepAt(ctx, at, ids[i%n], steps[round])
	}
}

func BenchmarkFunnelStepParallel(b *testing.B) {
	ctx := context.Background()
	const nUsers = 1 << 16
	ids := userIDs(nUsers)
	f, _, at := benchFunnel(b, true)
	for _, id := range ids {
		f.StepAt(ctx, at, id, "s1", "ios", "pro")
		f.StepAt(ctx, at, id, "s2", "ios", "pro")
	}
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		for pb.Next() {
			f.Step(ctx, ids[i%nUsers], "s2", "ios", "pro")
			i++
		}
	})
}

func BenchmarkGoal(b *testing.B) {
	ctx := context.Background()
	const nUsers = 1 << 14
	ids := userIDs(nUsers)
	h := newHarness(b)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	g := mustGoal(b, "bench", customer.WithMeterProvider(h.mp), customer.WithSegments("variant"),
		customer.WithClock(func() time.Time { return at }))
	for _, id := range ids {
		g.ExposeAt(ctx, at, id, "A")
	}
	b.Run("convert_tracked", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			g.Convert(ctx, ids[i%nUsers])
		}
	})
	b.Run("expose_tracked", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			g.Expose(ctx, ids[i%nUsers], "A")
		}
	})
}

// BenchmarkFunnelCollect collects a funnel of 5 steps and 20 values of one
// segment dimension through the SDK's ManualReader.
func BenchmarkFunnelCollect(b *testing.B) {
	ctx := context.Background()
	h := newHarness(b)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	steps := []string{"s1", "s2", "s3", "s4", "s5"}
	f := mustFunnel(b, "bench", steps, customer.WithMeterProvider(h.mp), customer.WithSegments("channel"),
		customer.WithClock(func() time.Time { return at }))
	for u := range 2000 {
		id, ch := strconv.Itoa(u), "channel-"+strconv.Itoa(u%20)
		for _, s := range steps[:1+u%5] {
			f.StepAt(ctx, at, id, s, ch)
		}
	}
	if got := len(only(h.points(b), customer.MetricFunnelUsers)); got != 100 {
		b.Fatalf("%d user points, want 100", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.collect(b)
	}
}

// BenchmarkFunnelMemory tracks one million users and reports the heap they
// take, per user. Run it with -benchtime=1x.
func BenchmarkFunnelMemory(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	ids := userIDs(n) // allocated before the baseline: only the funnel's state counts
	for _, v := range []struct {
		name string
		opts []customer.Option
	}{
		{"attempts", nil},
		{"by_period", []customer.Option{customer.WithPeriod(customer.Day)}},
		{"by_period_any", []customer.Option{customer.WithPeriod(customer.Day), customer.WithOrder(customer.Any)}},
	} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				f, _, at := benchFunnel(b, false, v.opts...)
				for i, id := range ids {
					f.StepAt(ctx, at, id, "s1", "ios", fmt.Sprint("plan", i%4))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/user")
				runtime.KeepAlive(f)
			}
		})
	}
}

// BenchmarkFunnelStepByPeriod compares Step on a funnel with figures by
// entry period (WithPeriod) with the same funnel without them, in one
// run: tracked users repeating a step, and tracked users advancing.
func BenchmarkFunnelStepByPeriod(b *testing.B) {
	ids := userIDs(1 << 14)
	for _, v := range []struct {
		name string
		opts []customer.Option
	}{
		{"attempts", nil},
		{"by_period", []customer.Option{customer.WithPeriod(customer.Day)}},
		{"by_period_exclusion", []customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("x", "s1", "s5")}},
	} {
		b.Run("tracked_repeat/impl="+v.name, func(b *testing.B) { benchRepeat(b, ids, true, v.opts...) })
		b.Run("tracked_advance/impl="+v.name, func(b *testing.B) { benchAdvance(b, ids, true, v.opts...) })
	}
}

// BenchmarkFunnelPeriodCollect collects a funnel with figures by entry
// day for 12 days, 5 steps and 20 values of one segment dimension (1,200
// user points, 960 conversion points) through the SDK's ManualReader.
func BenchmarkFunnelPeriodCollect(b *testing.B) {
	b.Run("sdk_default", func(b *testing.B) { benchPeriodCollect(b, newHarness(b)) })
	// Without exemplars, the SDK does not allocate a reservoir per point.
	b.Run("sdk_exemplars_off", func(b *testing.B) {
		r := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r), sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		benchPeriodCollect(b, &harness{reader: r, mp: mp})
	})
}

func benchPeriodCollect(b *testing.B, h *harness) {
	ctx := context.Background()
	day := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	last := day.Add(11 * 24 * time.Hour)
	steps := []string{"s1", "s2", "s3", "s4", "s5"}
	f := mustFunnel(b, "bench", steps, customer.WithMeterProvider(h.mp), customer.WithSegments("channel"),
		customer.WithPeriod(customer.Day), customer.WithHorizon(12), customer.WithWindow(time.Hour),
		customer.WithClock(func() time.Time { return last }))
	for d := range 12 {
		at := day.Add(time.Duration(d) * 24 * time.Hour)
		for u := range 200 {
			id, ch := strconv.Itoa(d*1000+u), "channel-"+strconv.Itoa(u%20)
			for _, s := range steps[:1+u%5] {
				f.StepAt(ctx, at, id, s, ch)
			}
		}
	}
	if got := len(only(h.points(b), customer.MetricFunnelPeriodUsers)); got != 12*5*20 {
		b.Fatalf("%d user points by period, want %d", got, 12*5*20)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.collect(b)
	}
}
