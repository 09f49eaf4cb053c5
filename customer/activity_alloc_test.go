package customer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
)

// TestActivityAllocs enforces the allocation budget of the recording calls
// for users already seen in periods already started.
func TestActivityAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	h := newHarness(t)
	ctx := context.Background()
	at := week(1)
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithCurrencies("USD"),
		customer.WithClock(func() time.Time { return at }))
	var none time.Time
	users := make([]string, 100)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
		a.PurchaseAt(ctx, at, users[i], none, "USD", 1)
		a.PurchaseAt(ctx, at, users[i], week(0), "USD", 1)
	}
	// Without WithCurrencies: any ISO 4217 currency, a slot on first use.
	anyCur := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return at }))
	for i := range users {
		anyCur.PurchaseAt(ctx, at, users[i], none, "JPY", 1)
	}
	for i := range 20 { // beyond MaxCurrencies
		anyCur.PurchaseAt(ctx, at, users[0], none, []string{"AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP",
			"HKD", "INR", "KRW", "MXN", "NOK", "PLN", "SEK", "USD", "ZAR", "THB"}[i], 1)
	}
	var nilActivity *customer.Activity
	tests := []struct {
		name string
		fn   func()
	}{
		{"ActiveAt signup", func() { a.ActiveAt(ctx, at, "user-1", week(0)) }},
		{"ActiveAt first-seen", func() { a.ActiveAt(ctx, at, "user-2", none) }},
		{"Active", func() { a.Active(ctx, "user-3", week(0)) }},
		{"PurchaseAt", func() { a.PurchaseAt(ctx, at, "user-4", none, "USD", 1999) }},
		{"RefundAt", func() { a.RefundAt(ctx, at, "user-5", week(0), "USD", 1) }},
		{"dropped empty user", func() { a.ActiveAt(ctx, at, "", none) }},
		{"dropped late", func() { a.ActiveAt(ctx, time.Time{}, "user-1", none) }},
		{"dropped currency", func() { a.PurchaseAt(ctx, at, "user-1", none, "XXX", 1) }},
		{"dropped before cohort", func() { a.ActiveAt(ctx, week(0), "user-1", week(1)) }},
		{"PurchaseAt any currency", func() { anyCur.PurchaseAt(ctx, at, "user-4", none, "JPY", 500) }},
		{"dropped not ISO 4217", func() { anyCur.PurchaseAt(ctx, at, "user-4", none, "XYZ", 500) }},
		{"dropped currency limit", func() { anyCur.PurchaseAt(ctx, at, "user-4", none, "ZAR", 500) }},
		{"nil", func() { nilActivity.ActiveAt(ctx, at, "user-1", none) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, tt.fn); got > 0 {
				t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
			}
		})
	}
}
