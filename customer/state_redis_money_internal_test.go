package customer

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/internal/redistest"
)

// TestMoneyScriptOnce sends one hand-over twice, as after a lost reply:
// Redis applies it once, and the retry acknowledges it.
func TestMoneyScriptOnce(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mp := sdkmetric.NewMeterProvider()
	a, err := NewActivity("once", WithMeterProvider(mp), WithClock(func() time.Time { return now }),
		WithCurrencies("USD"), WithRedis(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	rs := a.rs
	if !rs.moneyMu.lock(ctx) { // keep the goroutine out
		t.Fatal("lock")
	}
	a.PurchaseAt(ctx, now, "u1", now, "USD", 1234)
	w := &rs.money
	if !a.buildMoney(w) {
		t.Fatal("nothing pending after a purchase")
	}
	b := &w.batch
	args := append([]any{b.seq, int64(moneyGuardTTL / time.Second), rs.ttl.Milliseconds(), len(b.groups)}, b.args...)
	keys := append([]string{w.guard}, b.keys...)
	if err := moneyRedisScript.Run(ctx, rs.client, keys, args...).Err(); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	// The reply was "lost": the writer sends the same hand-over again.
	if err := a.writeMoney(ctx, w); err != nil {
		t.Fatal(err)
	}
	rs.moneyMu.unlock()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	rev, err := c.Get(ctx, b.keys[0]).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1234 {
		t.Errorf("%s = %d after a hand-over sent twice, want 1234", b.keys[0], rev)
	}
	if p := a.rs.periods.get(a.periodOf(a.dayOf(now, now.Unix()))).v.money[0].pending.revenue.Load(); p != 0 {
		t.Errorf("pending revenue after the acknowledgement = %d, want 0", p)
	}
}
