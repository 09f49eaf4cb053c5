package customer_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestActivityRedisAmountsDoNotWrap: with Redis, money is summed locally
// between hand-overs. Two valid purchases whose sum exceeds int64, recorded
// within one hand-over interval, must not wrap that local sum into a huge
// negative INCRBY that Redis accepts: the revenue must never go negative
// when there were only purchases, and must not be less than either.
func TestActivityRedisAmountsDoNotWrap(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	ctx := context.Background()
	h := newHarness(t)
	a, err := customer.NewActivity("shop", customer.WithMeterProvider(h.mp),
		customer.WithClock(func() time.Time { return t0.Add(time.Hour) }),
		customer.WithCurrencies("USD"), redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:wrap:")))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	big := int64(math.MaxInt64/2 + 1)
	a.PurchaseAt(ctx, t0, "u1", t0, "USD", big)
	a.PurchaseAt(ctx, t0, "u2", t0, "USD", big)
	_ = a.Flush(ctx)
	p := h.points(t)
	key := "customer.revenue.amount{activity=shop,currency=USD,period=2026-W10}"
	got, ok := p[key]
	if !ok {
		t.Fatalf("no %s; points %v", key, only(p, "customer.revenue"))
	}
	if min := float64(big) / 100; got < min {
		t.Errorf("revenue after two purchases of %d cents = %v USD, want at least %v (the local sum wrapped)", big, got, min)
	}
}
