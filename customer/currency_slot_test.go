package customer_test

import (
	"context"
	"testing"

	"github.com/kpikit/kpikit/customer"
)

// A purchase or refund that is dropped (negative amount, future or late
// time, closed recorder…) is not a purchase: it must not take one of the
// MaxCurrencies slots of an Activity without WithCurrencies, or dropped
// garbage would lock real currencies out as currency_limit and make a
// currency that never had a purchase report in every period.
func TestActivityDroppedPurchaseTakesNoCurrencySlot(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	clk := newClock(t0)
	a, err := customer.NewActivity("shop", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	codes := []string{"EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK",
		"NOK", "DKK", "PLN", "CZK", "HUF", "KWD", "BHD", "INR"}
	if len(codes) != customer.MaxCurrencies {
		t.Fatalf("%d codes, want %d", len(codes), customer.MaxCurrencies)
	}
	for _, c := range codes {
		a.PurchaseAt(ctx, t0, "u1", t0, c, -1) // invalid_amount
	}
	a.PurchaseAt(ctx, t0, "u1", t0, "USD", 1999)
	p := h.points(t)
	if got := p["customer.revenue.amount{activity=shop,currency=USD,period=2026-W10}"]; got != 19.99 {
		t.Errorf("USD revenue after %d dropped purchases in other currencies = %v, want 19.99; currencies %v, dropped %v",
			len(codes), got, a.Currencies(), only(p, "kpikit.dropped"))
	}
	if got := a.Currencies(); len(got) != 1 {
		t.Errorf("Currencies() = %v, want [USD]: only USD had a purchase", got)
	}
}
