package customer_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// BenchmarkActivityState compares the recording hot path of the three
// states in one run: memory (the default), memory with a snapshot file
// (the same path; snapshots run off it) and Redis (writes buffered for the
// flusher). The Redis server runs on the same machine and shares its
// cores with the benchmark. The sets of 16,384 users fill the sparse
// tier; those of active_signup_4096 do not.
func BenchmarkActivityState(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	const nUsers = 1 << 14
	ids := userIDs(nUsers)
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	signup := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	stores := []struct {
		name string
		opts func(b *testing.B) []customer.Option
	}{
		{"memory", func(*testing.B) []customer.Option { return nil }},
		{"snapshot", func(b *testing.B) []customer.Option {
			return []customer.Option{customer.WithSnapshot(b.TempDir()+"/activity.snap", time.Minute)}
		}},
		{"redis", func(b *testing.B) []customer.Option {
			return []customer.Option{redisOpt(b, srv.Addr(), redisstate.WithKeyPrefix("bench:"))}
		}},
	}
	newActivity := func(b *testing.B, extra []customer.Option) *customer.Activity {
		opts := append([]customer.Option{customer.WithMeterProvider(noop.NewMeterProvider()),
			customer.WithCurrencies("USD"), customer.WithClock(func() time.Time { return at })}, extra...)
		a, err := customer.NewActivity("bench", opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = a.Close() })
		return a
	}
	// seen records every user once and flushes: the benchmarks measure
	// users seen before, not the filling of the sets.
	seen := func(b *testing.B, a *customer.Activity, ids []string, purchase bool) {
		for _, id := range ids {
			if purchase {
				a.PurchaseAt(ctx, at, id, signup, "USD", 1999)
			} else {
				a.ActiveAt(ctx, at, id, signup)
			}
		}
		if err := a.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range stores {
		b.Run("active_signup/"+s.name, func(b *testing.B) {
			a := newActivity(b, s.opts(b))
			seen(b, a, ids, false)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.ActiveAt(ctx, at, ids[i%nUsers], signup)
			}
		})
		b.Run("active_signup_4096/"+s.name, func(b *testing.B) {
			// 4,096 users: with Redis every set's fingerprints stay sparse,
			// so each event looks its user up in them.
			a := newActivity(b, s.opts(b))
			seen(b, a, ids[:4096], false)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.ActiveAt(ctx, at, ids[i%4096], signup)
			}
		})
		b.Run("purchase_signup/"+s.name, func(b *testing.B) {
			a := newActivity(b, s.opts(b))
			seen(b, a, ids, true)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.PurchaseAt(ctx, at, ids[i%nUsers], signup, "USD", 1999)
			}
		})
		b.Run("active_signup_parallel/"+s.name, func(b *testing.B) {
			a := newActivity(b, s.opts(b))
			seen(b, a, ids, false)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					a.ActiveAt(ctx, at, ids[i%nUsers], signup)
				}
			})
		})
	}
}

// BenchmarkActivityRedisIngest measures sustained ingest through one
// Redis from one process: b.N activity events of distinct users recorded
// and then flushed, so that the figure includes the writes to Redis. An
// event needs at most two PFADDs (cohort cell, day), and only those that
// would change the HyperLogLog are sent, with the fingerprints of the
// first users of each key (about 7,000, until its companion is full);
// redis-us/event is the time Redis spent in PFADD (INFO commandstats) per
// event, script-us/event in the script that writes keys with their
// companions while those are not full.
func BenchmarkActivityRedisIngest(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	signup := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	const nUsers = 1 << 20
	ids := userIDs(nUsers)
	a, err := customer.NewActivity("ingest", customer.WithMeterProvider(noop.NewMeterProvider()),
		customer.WithClock(func() time.Time { return at }),
		redisOpt(b, srv.Addr(), redisstate.WithKeyPrefix("ingest:")))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		a.ActiveAt(ctx, at, ids[i%nUsers], signup)
		if i%4096 == 4095 { // stay within the buffer: measure what Redis takes, not what is dropped
			if err := a.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := a.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	_, pfaddUsec := redistest.CommandStat(b, srv.Addr(), "pfadd")
	b.ReportMetric(pfaddUsec/float64(b.N), "redis-us/event")
	// The script that writes a key and its companion of fingerprints
	// together (its PFADDs are in both figures).
	_, scriptUsec := redistest.CommandStat(b, srv.Addr(), "evalsha")
	b.ReportMetric(scriptUsec/float64(b.N), "script-us/event")
}
