package customer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestActivityDefaultCurrencies: without WithCurrencies an activity takes
// every ISO 4217 currency at its minor unit (JPY 0 digits, USD 2, KWD 3),
// reports only the currencies it was given, in memory and in Redis (where
// a replica that recorded nothing reports them too), and drops a code that
// is not ISO 4217 as unknown_currency.
func TestActivityDefaultCurrencies(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	clock := customer.WithClock(func() time.Time { return now })
	opts := func(h *harness, extra ...customer.Option) []customer.Option {
		return append([]customer.Option{customer.WithMeterProvider(h.mp), clock, customer.WithPeriod(customer.Month)}, extra...)
	}
	usd, jpy, kwd := "currency=USD", "currency=JPY", "currency=KWD"
	want := map[string]float64{
		periodKey(customer.MetricRevenueAmount, "2026-03", usd):    19.99,
		periodKey(customer.MetricRevenueAmount, "2026-03", jpy):    1500 - 200,
		periodKey(customer.MetricRevenueAmount, "2026-03", kwd):    1.234,
		periodKey(customer.MetricRevenuePurchases, "2026-03", usd): 1,
		periodKey(customer.MetricRevenuePurchases, "2026-03", jpy): 2,
		periodKey(customer.MetricRevenuePurchases, "2026-03", kwd): 1,
		periodKey(customer.MetricRevenueRefunds, "2026-03", usd):   0,
		periodKey(customer.MetricRevenueRefunds, "2026-03", jpy):   1,
		periodKey(customer.MetricRevenueRefunds, "2026-03", kwd):   0,
	}
	record := func(a *customer.Activity) {
		a.PurchaseAt(ctx, now, "ann", now, "USD", 1999) // cents
		a.PurchaseAt(ctx, now, "bob", now, "JPY", 1000) // yen: no minor unit
		a.PurchaseAt(ctx, now, "bob", now, "JPY", 500)
		a.RefundAt(ctx, now, "bob", now, "JPY", 200)
		a.PurchaseAt(ctx, now, "cid", time.Time{}, "KWD", 1234) // fils: 1.234 KWD
		a.PurchaseAt(ctx, now, "dan", now, "usd", 100)          // not a code
		a.PurchaseAt(ctx, now, "dan", now, "XYZ", 100)          // not ISO 4217
	}
	check := func(t *testing.T, who string, p map[string]float64, drops bool) {
		t.Helper()
		got := map[string]float64{}
		for _, m := range []string{customer.MetricRevenueAmount, customer.MetricRevenuePurchases, customer.MetricRevenueRefunds} {
			for k, v := range only(p, m+"{") {
				got[k] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: revenue (-want +got):\n%s", who, diff)
		}
		if k := "kpikit.dropped{kpikit.component=customer.activity,reason=unknown_currency}"; drops && p[k] != 2 {
			t.Errorf("%s: %s = %v, want 2", who, k, p[k])
		}
	}

	t.Run("memory", func(t *testing.T) {
		h := newHarness(t)
		a := mustActivity(t, opts(h)...)
		record(a)
		check(t, "memory", h.points(t), true)
		for code, digits := range map[string]int{"USD": 2, "JPY": 0, "KWD": 3, "EUR": 2} {
			if s, ok := a.Scale(code); !ok || s != digits {
				t.Errorf("Scale(%s) = %d, %v; want %d, true", code, s, ok, digits)
			}
		}
		if _, ok := a.Scale("XYZ"); ok {
			t.Error("Scale(XYZ) is known")
		}
		if v, err := a.ParseAmount("KWD", "1.234"); v != 1234 || err != nil {
			t.Errorf("ParseAmount(KWD, 1.234) = %v, %v; want 1234", v, err)
		}
		if v, err := a.ParseAmount("JPY", "1.5"); err == nil {
			t.Errorf("ParseAmount(JPY, 1.5) = %v, want an error: yen have no minor unit", v)
		}
		if diff := cmp.Diff([]string{"USD", "JPY", "KWD"}, a.Currencies()); diff != "" {
			t.Errorf("Currencies() (-want +got):\n%s", diff)
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state")
		h1 := newHarness(t)
		a1, err := customer.NewActivity("app", opts(h1, customer.WithSnapshot(path, 0))...)
		if err != nil {
			t.Fatal(err)
		}
		record(a1)
		if err := a1.Close(); err != nil {
			t.Fatal(err)
		}
		h2 := newHarness(t)
		mustActivity(t, opts(h2, customer.WithSnapshot(path, 0))...)
		check(t, "restored", h2.points(t), false)
	})

	t.Run("redis", func(t *testing.T) {
		redis := []customer.Option{redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:currencies:"))}
		h := newHarness(t)
		a := mustActivity(t, opts(h, redis...)...)
		record(a)
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		check(t, "replica", h.points(t), true)
		late := newHarness(t)
		mustActivity(t, opts(late, redis...)...)
		check(t, "replica that recorded nothing", late.points(t), false)
	})
}

// TestActivityDefaultCurrencyLimit: without WithCurrencies an activity
// takes at most MaxCurrencies currencies; a purchase in one more is
// dropped with reason currency_limit.
func TestActivityDefaultCurrencyLimit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return t0 }))
	codes := []string{"AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "INR", "JPY", "KRW", "MXN", "NOK", "PLN", "SEK", "USD"}
	for i, c := range codes {
		a.PurchaseAt(ctx, t0, fmt.Sprint("u", i), t0, c, 100)
	}
	p := h.points(t)
	if got := len(only(p, customer.MetricRevenueAmount+"{")); got != customer.MaxCurrencies {
		t.Errorf("%d currencies reported, want %d", got, customer.MaxCurrencies)
	}
	k := "kpikit.dropped{kpikit.component=customer.activity,reason=currency_limit}"
	if got, want := p[k], float64(len(codes)-customer.MaxCurrencies); got != want {
		t.Errorf("%s = %v, want %v", k, got, want)
	}
}
