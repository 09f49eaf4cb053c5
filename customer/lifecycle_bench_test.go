package customer_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
)

// BenchmarkLifecycleActiveAt records activity of users already tracked
// (16,384, each seen on the event's day before), with and without
// WithLifecycle, through the SDK: the cost of the lifecycle on the hot
// path. Compare the columns with benchstat -col /lifecycle.
func BenchmarkLifecycleActiveAt(b *testing.B) {
	ctx := context.Background()
	const nUsers = 1 << 14
	ids := userIDs(nUsers)
	signup := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	for _, cohort := range []string{"first_seen", "signup"} {
		var sign time.Time
		if cohort == "signup" {
			sign = signup
		}
		for _, life := range []bool{false, true} {
			b.Run(fmt.Sprintf("cohort=%s/lifecycle=%s", cohort, map[bool]string{false: "off", true: "on"}[life]), func(b *testing.B) {
				at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
				opts := []customer.Option{customer.WithMeterProvider(newHarness(b).mp), customer.WithCurrencies("USD"),
					customer.WithClock(func() time.Time { return at })}
				if life {
					opts = append(opts, customer.WithLifecycle())
				}
				a := mustActivity(b, opts...)
				for _, id := range ids {
					a.ActiveAt(ctx, at.Add(-24*time.Hour), id, sign) // the day before: a period bit and a day bit
					a.ActiveAt(ctx, at, id, sign)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					a.ActiveAt(ctx, at, ids[i%nUsers], sign)
				}
			})
		}
	}
}

// BenchmarkLifecycleCollect collects an activity of 100,000 and 1,000,000
// users, each active on one to four of the last 30 days, through the SDK,
// with and without WithLifecycle: the difference is the scan of the
// per-user records for the stickiness distribution (the lifecycle
// counters cost a few loads per period).
func BenchmarkLifecycleCollect(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{100_000, 1_000_000} {
		ids := userIDs(n)
		for _, life := range []bool{false, true} {
			b.Run(fmt.Sprintf("users=%d/lifecycle=%s", n, map[bool]string{false: "off", true: "on"}[life]), func(b *testing.B) {
				now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
				h := newHarness(b)
				opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithPeriod(customer.Week),
					customer.WithClock(func() time.Time { return now })}
				if life {
					opts = append(opts, customer.WithLifecycle())
				}
				a := mustActivity(b, opts...)
				signup := now.AddDate(0, -2, 0)
				for i, id := range ids {
					for k := range 1 + i%4 {
						a.ActiveAt(ctx, now.AddDate(0, 0, -(i*7+k*5)%30), id, signup)
					}
				}
				h.collect(b)
				b.ReportAllocs()
				for b.Loop() {
					h.collect(b)
				}
			})
		}
	}
}

// TestLifecycleMemory measures what WithLifecycle holds per user: the
// heap that 100,000 users take with it, less what they take without it
// (the distinct-count sets, the same either way), for users with a signup
// time (nothing held per user without it) and for users without one (a
// first-seen cohort held either way). The budget is 64 bytes per user.
func TestLifecycleMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes the heap")
	}
	if testing.Short() {
		t.Skip("feeds 400,000 users")
	}
	ctx := context.Background()
	const n = 100_000
	ids := userIDs(n)
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	heap := func(life bool, signup time.Time) float64 {
		opts := []customer.Option{customer.WithMeterProvider(newHarness(t).mp), customer.WithClock(func() time.Time { return at })}
		if life {
			opts = append(opts, customer.WithLifecycle())
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a, err := customer.NewActivity("mem", opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			a.ActiveAt(ctx, at, id, signup)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(a)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		return float64(after.HeapAlloc) - float64(before.HeapAlloc)
	}
	for _, tt := range []struct {
		name   string
		signup time.Time
	}{
		{"signup time", at.AddDate(0, 0, -30)},
		{"first-seen", time.Time{}},
	} {
		without, with := heap(false, tt.signup), heap(true, tt.signup)
		perUser := (with - without) / n
		t.Logf("%s: %.1f B per user with WithLifecycle, %.1f B without; the lifecycle adds %.1f B per user",
			tt.name, with/n, without/n, perUser)
		if tt.name == "signup time" && perUser > 64 {
			t.Errorf("%s: the lifecycle holds %.1f B per user, want at most 64", tt.name, perUser)
		}
	}
}
