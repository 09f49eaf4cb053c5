package customer_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
)

// TestActivityCountsAddUp records purchases and refunds with hostile input
// (empty and huge user ids, unknown and lower-case currencies, negative and
// overflowing amounts, future and ancient times, signups after the event)
// and checks that every event is either in customer.revenue.purchases /
// refunds or on kpikit.dropped, once.
func TestActivityCountsAddUp(t *testing.T) {
	ctx := context.Background()
	for _, declared := range []bool{false, true} {
		name := map[bool]string{false: "any currency", true: "declared"}[declared]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			now := t0.Add(30 * 24 * time.Hour)
			opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return now })}
			if declared {
				opts = append(opts, customer.WithCurrencies("USD", "JPY", "KWD"))
			}
			a, err := customer.NewActivity("shop", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			users := []string{"", "u1", "u2", "u3", strings.Repeat("x", customer.MaxUserIDLen+1), "\xff\xfe"}
			curs := []string{"USD", "JPY", "KWD", "usd", "", "ZZZ", "EUR", "XAU"}
			amounts := []int64{0, 1, -1, 1999, math.MaxInt64, math.MaxInt64 - 1, math.MinInt64, 1 << 62}
			times := []time.Time{now, t0, t0.Add(-24 * time.Hour), now.Add(2 * time.Hour), time.Unix(-1, 0), {},
				time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}
			signups := []time.Time{{}, t0, now.Add(24 * time.Hour), time.Unix(-86400*400, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
			const n = 5000
			var purchases, refunds int
			for range n {
				u, c, amt := users[rng.IntN(len(users))], curs[rng.IntN(len(curs))], amounts[rng.IntN(len(amounts))]
				at, su := times[rng.IntN(len(times))], signups[rng.IntN(len(signups))]
				if rng.IntN(2) == 0 {
					a.PurchaseAt(ctx, at, u, su, c, amt)
					purchases++
				} else {
					a.RefundAt(ctx, at, u, su, c, amt)
					refunds++
				}
			}
			p := h.points(t)
			var gotP, gotR, dropped float64
			for k, v := range p {
				switch {
				case strings.HasPrefix(k, "customer.revenue.purchases{"):
					gotP += v
				case strings.HasPrefix(k, "customer.revenue.refunds{"):
					gotR += v
				case strings.HasPrefix(k, "kpikit.dropped{"):
					dropped += v
				}
			}
			if int(gotP+gotR+dropped) != n {
				t.Errorf("purchases %v + refunds %v + dropped %v = %v, want %d events (%d purchases, %d refunds); drops %v",
					gotP, gotR, dropped, gotP+gotR+dropped, n, purchases, refunds, only(p, "kpikit.dropped"))
			}
		})
	}
}
