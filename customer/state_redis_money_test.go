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

const (
	keyUnavailable = `kpikit.dropped{kpikit.component=customer.activity,reason=store_unavailable}`
	keyOverflow    = `kpikit.dropped{kpikit.component=customer.activity,reason=amount_overflow}`
)

// TestActivityRedisMoneyNeverDropped kills Redis (no persistence), records
// 2,000 purchases of 10 users into a 16-write buffer, and restarts Redis
// empty. Money is not buffered with the per-user writes: every purchase
// and every cent is in Redis after recovery. The per-user writes that the
// buffer dropped are counted in events: each user's first purchase needed
// one event of three writes (day, cohort cell, paying set; the sent cache
// skips the user's later purchases), so store_unavailable is exactly the
// number of users missing from the paying set.
func TestActivityRedisMoneyNeverDropped(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	ctx := context.Background()
	h := newHarness(t)
	a := newStateActivity(t, "nodrop", h, redisOpt(t, srv.Addr(), redisstate.WithBufferSize(16),
		redisstate.WithKeyPrefix("test:nodrop:")))
	signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	srv.Kill()
	const n, users = 2000, 10
	var want int64
	for i := range n {
		amount := int64(100 + i%997)
		want += amount
		a.PurchaseAt(ctx, stateNow, "user-"+itoa(i%users), signup, "USD", amount)
	}
	time.Sleep(500 * time.Millisecond) // the hand-overs fail meanwhile
	srv.Restart()
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	p := h.points(t)
	for _, c := range []struct {
		key  string
		want float64
	}{
		{customer.MetricRevenuePurchases + "{activity=nodrop,currency=USD,period=2026-03}", n},
		{customer.MetricRevenueAmount + "{activity=nodrop,currency=USD,period=2026-03}", float64(want) / 100},
		{customer.MetricCohortPurchases + "{activity=nodrop,cohort.offset=0,cohort=2026-03,currency=USD}", n},
		{customer.MetricCohortRevenue + "{activity=nodrop,cohort.offset=0,cohort=2026-03,currency=USD}", float64(want) / 100},
	} {
		if got := p[c.key]; got != c.want {
			t.Errorf("%s = %v after a kill and an empty restart, want %v", c.key, got, c.want)
		}
	}
	paying := p[customer.MetricRevenuePayingUsers+"{activity=nodrop,currency=USD,period=2026-03}"]
	dropped := p[keyUnavailable]
	if dropped+paying != users {
		t.Errorf("store_unavailable %v + paying users %v != %d users: each lost event must count once", dropped, paying, users)
	}
	t.Logf("store_unavailable %v, paying users in Redis %v", dropped, paying)
}

// TestActivityRedisMoneyManyUsers is the same with 500 users: the buffer
// must drop per-user writes, and money stays exact.
func TestActivityRedisMoneyManyUsers(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	ctx := context.Background()
	h := newHarness(t)
	a := newStateActivity(t, "many", h, redisOpt(t, srv.Addr(), redisstate.WithBufferSize(16),
		redisstate.WithKeyPrefix("test:many:")))
	signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	srv.Kill()
	const n, users = 8000, 500
	var want int64
	refunds := 0
	for i := range n {
		amount := int64(100 + i%4999)
		if i%10 == 9 {
			a.RefundAt(ctx, stateNow, "user-"+itoa(i%users), signup, "USD", amount/2)
			want -= amount / 2
			refunds++
			continue
		}
		want += amount
		a.PurchaseAt(ctx, stateNow, "user-"+itoa(i%users), signup, "USD", amount)
	}
	srv.Restart()
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	p := h.points(t)
	if got := p[customer.MetricRevenuePurchases+"{activity=many,currency=USD,period=2026-03}"]; got != n-float64(refunds) {
		t.Errorf("purchases = %v, want %d", got, n-refunds)
	}
	if got := p[customer.MetricRevenueRefunds+"{activity=many,currency=USD,period=2026-03}"]; got != float64(refunds) {
		t.Errorf("refunds = %v, want %d", got, refunds)
	}
	if got := p[customer.MetricRevenueAmount+"{activity=many,currency=USD,period=2026-03}"]; got != float64(want)/100 {
		t.Errorf("revenue = %v, want %v", got, float64(want)/100)
	}
	if d := p[keyUnavailable]; d <= 0 || d > users {
		t.Errorf("store_unavailable = %v, want between 1 and %d (one per user event that made a buffer entry)", d, users)
	}
}

// TestActivityRedisMoneyOverflow: two purchases of MaxInt64/2+1, handed
// to Redis one after the other. The second would overflow the total in
// Redis: the script refuses it, nothing wraps, and the purchase is counted
// as amount_overflow, once.
func TestActivityRedisMoneyOverflow(t *testing.T) {
	reported := captureErrors(t)
	srv := redistest.Start(t)
	ctx := context.Background()
	h := newHarness(t)
	a := newStateActivity(t, "ovf", h, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:ovf:")))
	big := int64(math.MaxInt64/2 + 1)
	signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a.PurchaseAt(ctx, stateNow, "u1", signup, "USD", big)
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	a.PurchaseAt(ctx, stateNow, "u2", signup, "USD", big)
	a.PurchaseAt(ctx, stateNow, "u3", signup, "EUR", 250)
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	p := h.points(t)
	for _, c := range []struct {
		key  string
		want float64
	}{
		{customer.MetricRevenueAmount + "{activity=ovf,currency=USD,period=2026-03}", float64(big) / 100},
		{customer.MetricRevenuePurchases + "{activity=ovf,currency=USD,period=2026-03}", 1},
		{customer.MetricRevenueAmount + "{activity=ovf,currency=EUR,period=2026-03}", 2.5},
		{customer.MetricRevenuePurchases + "{activity=ovf,currency=EUR,period=2026-03}", 1},
		{keyOverflow, 1},
		{keyUnavailable, 0},
	} {
		if got := p[c.key]; got != c.want {
			t.Errorf("%s = %v, want %v", c.key, got, c.want)
		}
	}
	if len(reported()) == 0 {
		t.Error("the refused increment was not reported through the error handler")
	}
	// A later purchase that fits is applied: nothing is stuck retrying.
	a.PurchaseAt(ctx, stateNow, "u4", signup, "USD", 1)
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	p = h.points(t)
	if got := p[customer.MetricRevenuePurchases+"{activity=ovf,currency=USD,period=2026-03}"]; got != 2 {
		t.Errorf("purchases after a fitting one = %v, want 2", got)
	}
}

// TestActivityRedisShutdownCountsMoney: Shutdown with Redis down and a
// 300 ms deadline counts, on store_unavailable, the 50 purchases it could
// not write and the 50 per-user events still buffered: 100 exactly.
func TestActivityRedisShutdownCountsMoney(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	h := newHarness(t)
	a := newStateActivity(t, "lost", h, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:lost:")))
	srv.Kill()
	for i := range 50 {
		a.PurchaseAt(context.Background(), stateNow, "user-"+itoa(i), stateNow, "USD", 100)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Shutdown(ctx); err == nil {
		t.Error("Shutdown with Redis down returned nil")
	}
	if got := h.points(t)[keyUnavailable]; got != 100 {
		t.Errorf("%s = %v, want 100 (50 purchases not written, 50 per-user events dropped)", keyUnavailable, got)
	}
}
