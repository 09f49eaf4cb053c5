package customer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kpikit/kpikit/customer"
)

// benchActivity returns a weekly activity in USD on an SDK provider (or
// the no-op one), and the time its events happen at.
func benchActivity(b *testing.B, sdk bool) (*customer.Activity, time.Time) {
	b.Helper()
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	mp := customer.WithMeterProvider(noop.NewMeterProvider())
	if sdk {
		mp = customer.WithMeterProvider(newHarness(b).mp)
	}
	a := mustActivity(b, mp, customer.WithCurrencies("USD"), customer.WithClock(func() time.Time { return at }))
	return a, at
}

// BenchmarkActivity records one event for users already seen (16,384 of
// them, or 4,096): activity with a signup time (no per-user state), activity with a first-seen
// cohort (one shard lock and map lookup), a purchase, and the dropped and
// nil paths.
func BenchmarkActivity(b *testing.B) {
	ctx := context.Background()
	const nUsers = 1 << 14
	ids := userIDs(nUsers)
	signup := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	var none time.Time
	b.Run("baseline_nil", func(b *testing.B) {
		var a *customer.Activity
		at := time.Now()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			a.ActiveAt(ctx, at, ids[i%nUsers], signup)
		}
	})
	for _, sdk := range []bool{true, false} {
		provider := map[bool]string{true: "sdk", false: "noop"}[sdk]
		b.Run("active_signup/"+provider, func(b *testing.B) {
			a, at := benchActivity(b, sdk)
			for _, id := range ids { // seen before: the sets hold them all
				a.ActiveAt(ctx, at, id, signup)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.ActiveAt(ctx, at, ids[i%nUsers], signup)
			}
		})
		// 4,096 users: the day, week and retention sets stay in their
		// sparse tier (exact up to 1,536, dense above about 7,000).
		b.Run("active_signup_4k/"+provider, func(b *testing.B) {
			a, at := benchActivity(b, sdk)
			for _, id := range ids[:4096] {
				a.ActiveAt(ctx, at, id, signup)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.ActiveAt(ctx, at, ids[i%4096], signup)
			}
		})
		b.Run("active_first_seen/"+provider, func(b *testing.B) {
			a, at := benchActivity(b, sdk)
			for _, id := range ids {
				a.ActiveAt(ctx, at, id, none)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.ActiveAt(ctx, at, ids[i%nUsers], none)
			}
		})
		b.Run("purchase_signup/"+provider, func(b *testing.B) {
			a, at := benchActivity(b, sdk)
			for _, id := range ids {
				a.PurchaseAt(ctx, at, id, signup, "USD", 1999)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.PurchaseAt(ctx, at, ids[i%nUsers], signup, "USD", 1999)
			}
		})
		b.Run("purchase_first_seen/"+provider, func(b *testing.B) {
			a, at := benchActivity(b, sdk)
			for _, id := range ids {
				a.PurchaseAt(ctx, at, id, none, "USD", 1999)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.PurchaseAt(ctx, at, ids[i%nUsers], none, "USD", 1999)
			}
		})
		b.Run("active_now/"+provider, func(b *testing.B) {
			a, _ := benchActivity(b, sdk)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.Active(ctx, ids[i%nUsers], signup)
			}
		})
		b.Run("dropped_late/"+provider, func(b *testing.B) {
			a, at := benchActivity(b, sdk)
			a.ActiveAt(ctx, at, "u", none)
			late := at.AddDate(-1, 0, 0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.ActiveAt(ctx, late, ids[i%nUsers], none)
			}
		})
	}
}

func BenchmarkActivityParallel(b *testing.B) {
	ctx := context.Background()
	const nUsers = 1 << 16
	ids := userIDs(nUsers)
	signup := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	var none time.Time
	for _, tc := range []struct {
		name string
		fn   func(a *customer.Activity, at time.Time, id string)
	}{
		{"active_signup", func(a *customer.Activity, at time.Time, id string) { a.ActiveAt(ctx, at, id, signup) }},
		{"active_first_seen", func(a *customer.Activity, at time.Time, id string) { a.ActiveAt(ctx, at, id, none) }},
		{"purchase_signup", func(a *customer.Activity, at time.Time, id string) { a.PurchaseAt(ctx, at, id, signup, "USD", 1999) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, at := benchActivity(b, true)
			var seed atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7919))
				for pb.Next() {
					tc.fn(a, at, ids[i%nUsers])
					i++
				}
			})
		})
	}
}
