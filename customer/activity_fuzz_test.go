package customer_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
)

// FuzzActivity records arbitrary events and amounts and checks that
// nothing panics, that the attributes stay bounded by the horizon, that
// ratios stay in [0, 1] and that every value is finite.
func FuzzActivity(f *testing.F) {
	f.Add("u1", int64(0), int64(0), uint8(0), "USD", int64(1999))
	f.Add("u1", int64(3600), int64(-86400*7), uint8(1), "USD", int64(0))
	f.Add("", int64(0), int64(0), uint8(2), "EUR", int64(-1))
	f.Add("u2", int64(-1<<40), int64(1<<40), uint8(1), "usd", int64(math.MaxInt64))
	f.Add(strings.Repeat("u", 300), int64(1<<62), int64(-1<<62), uint8(3), "\xff", int64(math.MinInt64))
	f.Add("u3", int64(-86400*30), int64(0), uint8(1), "EUR", int64(math.MaxInt64))

	h := newHarness(f)
	clk := newClock(t0)
	const horizon = 3
	a := mustActivity(f, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now), customer.WithHorizon(horizon),
		customer.WithCurrencies("USD", "EUR"), customer.WithScale(4), customer.WithMaxUsers(50))
	f.Fuzz(func(t *testing.T, user string, offset, signupOffset int64, kind uint8, currency string, amount int64) {
		ctx := context.Background()
		at := t0.Add(time.Duration(offset) * time.Second)
		var signup time.Time
		if kind&4 == 0 {
			signup = t0.Add(time.Duration(signupOffset) * time.Second)
		}
		switch kind % 4 {
		case 0:
			a.ActiveAt(ctx, at, user, signup)
		case 1:
			a.PurchaseAt(ctx, at, user, signup, currency, amount)
		case 2:
			a.RefundAt(ctx, at, user, signup, currency, amount)
		case 3:
			a.Purchase(ctx, user, signup, currency, amount)
		}
		if v, err := a.ParseAmount("USD", user); err == nil && kind%4 == 1 {
			a.PurchaseAt(ctx, at, user, signup, "USD", v)
		}
		clk.Set(clk.Now().Add(time.Minute))

		periods, cohorts := map[string]bool{}, map[string]bool{}
		for k, v := range h.points(t) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s = %v", k, v)
			}
			if (strings.HasPrefix(k, customer.MetricRetentionRatio) || strings.HasPrefix(k, customer.MetricActiveStickiness)) && (v < 0 || v > 1) {
				t.Fatalf("%s = %v, outside [0, 1]", k, v)
			}
			if v, ok := attrValue(k, "period"); ok {
				periods[v] = true
			}
			if v, ok := attrValue(k, "cohort"); ok {
				cohorts[v] = true
			}
		}
		if len(periods) > horizon || len(cohorts) > horizon {
			t.Fatalf("%d period and %d cohort attribute values, horizon %d", len(periods), len(cohorts), horizon)
		}
	})
}

// attrValue returns the value of attribute key in a flattened point key.
func attrValue(point, key string) (string, bool) {
	i := strings.Index(point, "{")
	if i < 0 {
		return "", false
	}
	for _, kv := range strings.Split(strings.TrimSuffix(point[i+1:], "}"), ",") {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
