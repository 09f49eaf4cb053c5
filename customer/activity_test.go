package customer_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/customer"
)

// week0 is a Monday: ISO week 2026-W10.
var week0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func mustActivity(t testing.TB, opts ...customer.Option) *customer.Activity {
	t.Helper()
	a, err := customer.NewActivity("app", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func week(n int) time.Time { return week0.AddDate(0, 0, 7*n) }

func cohortKey(metric, cohort string, offset int, extra ...string) string {
	kv := append([]string{"activity=app", "cohort=" + cohort, fmt.Sprint("cohort.offset=", offset)}, extra...)
	return metric + "{" + strings.Join(sorted(kv), ",") + "}"
}

func periodKey(metric, label string, extra ...string) string {
	kv := append([]string{"activity=app", "period=" + label}, extra...)
	return metric + "{" + strings.Join(sorted(kv), ",") + "}"
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestActivityRetention(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return week(3) }),
		customer.WithHorizon(4))
	var none time.Time
	// Cohort W10: u1 u2 u3 u4. u1 comes back in weeks 1 and 3, u2 in week
	// 2 only, u3 in week 1 only, u4 never.
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		a.ActiveAt(ctx, week(0), u, none)
	}
	a.ActiveAt(ctx, week(1), "u1", none)
	a.ActiveAt(ctx, week(1).Add(time.Hour), "u1", none) // repeat
	a.ActiveAt(ctx, week(1), "u3", none)
	a.ActiveAt(ctx, week(2), "u2", none)
	a.ActiveAt(ctx, week(3), "u1", none)
	// Cohort W11 by signup time: v1 signed up in W11, first active in W12.
	a.ActiveAt(ctx, week(2), "v1", week(1))

	p := h.points(t)
	users := customer.MetricRetentionUsers
	ratio := customer.MetricRetentionRatio
	want := map[string]float64{
		customer.MetricRetentionCohortSize + "{activity=app,cohort=2026-W10}": 4,
		customer.MetricRetentionCohortSize + "{activity=app,cohort=2026-W11}": 1,
	}
	on := []float64{4, 2, 1, 1}
	after := []float64{4, 3, 2, 1}
	for k := range 4 {
		want[cohortKey(users, "2026-W10", k, "retention.mode=on")] = on[k]
		want[cohortKey(users, "2026-W10", k, "retention.mode=on_or_after")] = after[k]
		want[cohortKey(ratio, "2026-W10", k, "retention.mode=on")] = on[k] / 4
		want[cohortKey(ratio, "2026-W10", k, "retention.mode=on_or_after")] = after[k] / 4
	}
	w11on, w11after := []float64{0, 1, 0}, []float64{1, 1, 0}
	for k := range 3 {
		want[cohortKey(users, "2026-W11", k, "retention.mode=on")] = w11on[k]
		want[cohortKey(users, "2026-W11", k, "retention.mode=on_or_after")] = w11after[k]
		want[cohortKey(ratio, "2026-W11", k, "retention.mode=on")] = w11on[k]
		want[cohortKey(ratio, "2026-W11", k, "retention.mode=on_or_after")] = w11after[k]
	}
	got := only(p, "customer.retention.")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retention (-want +got):\n%s", diff)
	}
	wantUsers := map[string]float64{
		periodKey(customer.MetricActivePeriodUsers, "2026-W10"): 4,
		periodKey(customer.MetricActivePeriodUsers, "2026-W11"): 2,
		periodKey(customer.MetricActivePeriodUsers, "2026-W12"): 2,
		periodKey(customer.MetricActivePeriodUsers, "2026-W13"): 1,
	}
	if diff := cmp.Diff(wantUsers, only(p, customer.MetricActivePeriodUsers)); diff != "" {
		t.Errorf("period users (-want +got):\n%s", diff)
	}
	if d := nonzeroDrops(p); len(d) != 0 {
		t.Errorf("dropped: %v", d)
	}
}

func TestActivityRevenue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return week(8) }),
		customer.WithPeriod(customer.Month), customer.WithCurrencies("USD", "EUR"), customer.WithScale(4))
	var none time.Time
	mar, apr := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	a.PurchaseAt(ctx, mar, "u1", none, "USD", 133125) // 13.3125
	a.PurchaseAt(ctx, mar, "u1", none, "USD", 10000)
	a.PurchaseAt(ctx, mar, "u2", none, "USD", 0)
	a.ActiveAt(ctx, mar, "u3", none)
	a.PurchaseAt(ctx, mar, "u3", none, "EUR", 50000)
	a.RefundAt(ctx, apr, "u1", none, "USD", 3125)
	a.PurchaseAt(ctx, apr, "u4", none, "USD", 20000)
	a.ActiveAt(ctx, apr, "u2", none)

	p := h.points(t)
	usd, eur := "currency=USD", "currency=EUR"
	want := map[string]float64{
		periodKey(customer.MetricRevenueAmount, "2026-03", usd):      14.3125,
		periodKey(customer.MetricRevenuePurchases, "2026-03", usd):   3,
		periodKey(customer.MetricRevenueRefunds, "2026-03", usd):     0,
		periodKey(customer.MetricRevenuePayingUsers, "2026-03", usd): 2,
		periodKey(customer.MetricRevenueARPU, "2026-03", usd):        14.3125 / 3,
		periodKey(customer.MetricRevenueARPPU, "2026-03", usd):       14.3125 / 2,
		periodKey(customer.MetricRevenueAmount, "2026-03", eur):      5,
		periodKey(customer.MetricRevenuePurchases, "2026-03", eur):   1,
		periodKey(customer.MetricRevenueRefunds, "2026-03", eur):     0,
		periodKey(customer.MetricRevenuePayingUsers, "2026-03", eur): 1,
		periodKey(customer.MetricRevenueARPU, "2026-03", eur):        5.0 / 3,
		periodKey(customer.MetricRevenueARPPU, "2026-03", eur):       5,
		periodKey(customer.MetricRevenueAmount, "2026-04", usd):      1.6875,
		periodKey(customer.MetricRevenuePurchases, "2026-04", usd):   1,
		periodKey(customer.MetricRevenueRefunds, "2026-04", usd):     1,
		periodKey(customer.MetricRevenuePayingUsers, "2026-04", usd): 1,
		periodKey(customer.MetricRevenueARPU, "2026-04", usd):        1.6875 / 2,
		periodKey(customer.MetricRevenueARPPU, "2026-04", usd):       1.6875,
		periodKey(customer.MetricRevenueAmount, "2026-04", eur):      0,
		periodKey(customer.MetricRevenuePurchases, "2026-04", eur):   0,
		periodKey(customer.MetricRevenueRefunds, "2026-04", eur):     0,
		periodKey(customer.MetricRevenuePayingUsers, "2026-04", eur): 0,
		periodKey(customer.MetricRevenueARPU, "2026-04", eur):        0,
	}
	if diff := cmp.Diff(want, only(p, "customer.revenue."), cmpFloat); diff != "" {
		t.Errorf("revenue (-want +got):\n%s", diff)
	}
	// Cohort 2026-03 (u1 u2 u3) and 2026-04 (u4).
	wantCohort := map[string]float64{
		cohortKey(customer.MetricCohortRevenue, "2026-03", 0, usd):   14.3125,
		cohortKey(customer.MetricCohortRevenue, "2026-03", 1, usd):   -0.3125,
		cohortKey(customer.MetricCohortPurchases, "2026-03", 0, usd): 3,
		cohortKey(customer.MetricCohortPurchases, "2026-03", 1, usd): 0,
		cohortKey(customer.MetricCohortLTV, "2026-03", 0, usd):       14.3125 / 3,
		cohortKey(customer.MetricCohortLTV, "2026-03", 1, usd):       14 / 3.0,
		cohortKey(customer.MetricCohortRevenue, "2026-03", 0, eur):   5,
		cohortKey(customer.MetricCohortRevenue, "2026-03", 1, eur):   0,
		cohortKey(customer.MetricCohortPurchases, "2026-03", 0, eur): 1,
		cohortKey(customer.MetricCohortPurchases, "2026-03", 1, eur): 0,
		cohortKey(customer.MetricCohortLTV, "2026-03", 0, eur):       5.0 / 3,
		cohortKey(customer.MetricCohortLTV, "2026-03", 1, eur):       5.0 / 3,
		cohortKey(customer.MetricCohortRevenue, "2026-04", 0, usd):   2,
		cohortKey(customer.MetricCohortPurchases, "2026-04", 0, usd): 1,
		cohortKey(customer.MetricCohortLTV, "2026-04", 0, usd):       2,
		cohortKey(customer.MetricCohortRevenue, "2026-04", 0, eur):   0,
		cohortKey(customer.MetricCohortPurchases, "2026-04", 0, eur): 0,
		cohortKey(customer.MetricCohortLTV, "2026-04", 0, eur):       0,
	}
	if diff := cmp.Diff(wantCohort, only(p, "customer.cohort."), cmpFloat); diff != "" {
		t.Errorf("cohort money (-want +got):\n%s", diff)
	}
}

var cmpFloat = cmp.Comparer(func(x, y float64) bool { return math.Abs(x-y) <= 1e-12*math.Max(1, math.Abs(x)) })

func TestActivityActiveWindows(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	day0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := newClock(day0.AddDate(0, 0, 29))
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now), customer.WithPeriod(customer.Day),
		customer.WithHorizon(40))
	var none time.Time
	// User i is active on days i to 29: day d has d+1 users.
	for d := range 30 {
		for i := 0; i <= d; i++ {
			a.ActiveAt(ctx, day0.AddDate(0, 0, d), fmt.Sprint("u", i), none)
		}
	}
	a.ActiveAt(ctx, day0.AddDate(0, 0, -5), "old", none) // before the 30 days: only in its period
	p := h.points(t)
	want := map[string]float64{
		customer.MetricActiveUsers + "{active.window=1d,activity=app}":  30,
		customer.MetricActiveUsers + "{active.window=7d,activity=app}":  30,
		customer.MetricActiveUsers + "{active.window=30d,activity=app}": 30,
		customer.MetricActiveStickiness + "{activity=app}":              1,
	}
	got := only(p, customer.MetricActiveUsers+"{")
	for k, v := range only(p, customer.MetricActiveStickiness) {
		got[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("active windows (-want +got):\n%s", diff)
	}
	// Ten days later nobody was active: the windows move with the clock.
	clk.Set(day0.AddDate(0, 0, 39))
	a.ActiveAt(ctx, day0.AddDate(0, 0, 39), "new", none)
	p = h.points(t)
	want = map[string]float64{
		customer.MetricActiveUsers + "{active.window=1d,activity=app}":  1,
		customer.MetricActiveUsers + "{active.window=7d,activity=app}":  1,
		customer.MetricActiveUsers + "{active.window=30d,activity=app}": 31,
		customer.MetricActiveStickiness + "{activity=app}":              1.0 / 31,
	}
	got = only(p, customer.MetricActiveUsers+"{")
	for k, v := range only(p, customer.MetricActiveStickiness) {
		got[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("active windows after ten days (-want +got):\n%s", diff)
	}
}

func TestActivityDrops(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := week(2)
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return now }),
		customer.WithHorizon(2), customer.WithCurrencies("USD"), customer.WithMaxUsers(3))
	var none time.Time
	a.ActiveAt(ctx, now, "u1", none)
	tests := []struct {
		name   string
		record func()
		reason string
	}{
		{"empty user", func() { a.ActiveAt(ctx, now, "", none) }, "empty_user_id"},
		{"long user", func() { a.ActiveAt(ctx, now, strings.Repeat("x", customer.MaxUserIDLen+1), none) }, "long_user_id"},
		{"future", func() { a.ActiveAt(ctx, now.Add(2*customer.FutureTolerance), "u1", none) }, "future_event"},
		{"before 1970", func() { a.ActiveAt(ctx, time.Time{}, "u1", none) }, "late_event"},
		{"older than the horizon", func() { a.ActiveAt(ctx, week(0), "u1", none) }, "late_event"},
		{"before the signup cohort", func() { a.ActiveAt(ctx, week(1), "u2", week(2)) }, "before_cohort"},
		{"before the first-seen cohort", func() { a.ActiveAt(ctx, week(1), "u1", none) }, "before_cohort"},
		{"unknown currency", func() { a.PurchaseAt(ctx, now, "u1", none, "usd", 1) }, "unknown_currency"},
		{"undeclared currency", func() { a.PurchaseAt(ctx, now, "u1", none, "EUR", 1) }, "unknown_currency"},
		{"negative purchase", func() { a.PurchaseAt(ctx, now, "u1", none, "USD", -1) }, "invalid_amount"},
		{"negative refund", func() { a.RefundAt(ctx, now, "u1", none, "USD", math.MinInt64) }, "invalid_amount"},
		{"overflow", func() {
			a.PurchaseAt(ctx, now, "rich", none, "USD", math.MaxInt64)
			a.PurchaseAt(ctx, now, "rich", none, "USD", 1)
		}, "amount_overflow"},
		{"user cap", func() {
			a.ActiveAt(ctx, now, "c1", none)
			a.ActiveAt(ctx, now, "c2", none)
		}, "user_cap"},
	}
	before := map[string]float64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.record()
			p := h.points(t)
			k := "kpikit.dropped{kpikit.component=customer.activity,reason=" + tt.reason + "}"
			if p[k] != before[k]+1 {
				t.Errorf("%s = %v, want %v; all drops: %v", k, p[k], before[k]+1, only(p, "kpikit.dropped"))
			}
			before = only(p, "kpikit.dropped")
		})
	}
	p := h.points(t)
	// The overflowing purchase left the totals unchanged.
	k := periodKey(customer.MetricRevenueAmount, "2026-W12", "currency=USD")
	if got, want := p[k], float64(math.MaxInt64)/100; got != want {
		t.Errorf("%s = %v, want %v", k, got, want)
	}
	if got := p[periodKey(customer.MetricRevenuePurchases, "2026-W12", "currency=USD")]; got != 1 {
		t.Errorf("purchases = %v, want 1", got)
	}
	if got := p[customer.MetricActivityTrackedUsers+"{activity=app}"]; got != 3 {
		t.Errorf("tracked users = %v, want the cap 3", got)
	}
	// Over the cap a user still counts in the period, not in a cohort.
	if got := p[periodKey(customer.MetricActivePeriodUsers, "2026-W12")]; got != 4 {
		t.Errorf("active users = %v, want 4 (u1, rich, c1, c2)", got)
	}
}

func TestActivityConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []customer.Option
		want string
	}{
		{"horizon 0", []customer.Option{customer.WithHorizon(0)}, "horizon 0"},
		{"horizon too long", []customer.Option{customer.WithHorizon(customer.MaxHorizon + 1)}, "horizon 367"},
		{"bad period", []customer.Option{customer.WithPeriod(customer.Period(9))}, "unknown period"},
		{"lower-case currency", []customer.Option{customer.WithCurrencies("usd")}, `"usd"`},
		{"garbage currency", []customer.Option{customer.WithCurrencies("XYZ")}, `"XYZ"`},
		{"duplicate currency", []customer.Option{customer.WithCurrencies("USD", "USD")}, `duplicate currency "USD"`},
		{"too many currencies", []customer.Option{customer.WithCurrencies(strings.Split(strings.Repeat("USD,", 17), ",")[:17]...)}, "17 currencies"},
		{"scale coarser than minor unit", []customer.Option{customer.WithCurrencies("USD"), customer.WithScale(1)}, "scale 1"},
		{"scale too fine", []customer.Option{customer.WithCurrencies("USD"), customer.WithScale(19)}, "scale 19"},
		{"scale without currency", []customer.Option{customer.WithScale(4)}, "scale 4 given without currencies"},
		{"funnel option", []customer.Option{customer.WithWindow(time.Hour)}, "WithWindow does not apply to NewActivity"},
		{"segments", []customer.Option{customer.WithSegments("plan")}, "WithSegments does not apply"},
		{"max users", []customer.Option{customer.WithMaxUsers(0)}, "max users 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := customer.NewActivity("app", tt.opts...)
			if err == nil || !errors.Is(err, customer.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewActivity(%s) = %v, want an ErrInvalidConfig naming %q", tt.name, err, tt.want)
			}
			if a != nil {
				t.Errorf("NewActivity(%s) returned a recorder with the error", tt.name)
			}
		})
	}
	if _, err := customer.NewActivity(""); err == nil || !strings.Contains(err.Error(), `activity name ""`) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := customer.NewFunnel("f", []string{"a", "b"}, customer.WithHorizon(3)); err == nil ||
		!strings.Contains(err.Error(), "WithHorizon applies to the figures by entry period: give WithPeriod too") {
		t.Errorf("funnel with WithHorizon: %v", err)
	}
	if _, err := customer.NewGoal("g", customer.WithCurrencies("USD")); !errors.Is(err, customer.ErrInvalidConfig) {
		t.Errorf("goal with WithCurrencies: %v", err)
	}
	if _, err := customer.ParsePeriod("year"); err == nil || !strings.Contains(err.Error(), `"year"`) {
		t.Errorf("ParsePeriod(year) = %v", err)
	}
}

func TestActivityNilAndClose(t *testing.T) {
	ctx := context.Background()
	var a *customer.Activity
	a.Active(ctx, "u", time.Time{})
	a.ActiveAt(ctx, t0, "u", time.Time{})
	a.Purchase(ctx, "u", time.Time{}, "USD", 1)
	a.PurchaseAt(ctx, t0, "u", time.Time{}, "USD", 1)
	a.Refund(ctx, "u", time.Time{}, "USD", 1)
	a.RefundAt(ctx, t0, "u", time.Time{}, "USD", 1)
	if a.Name() != "" || a.Currencies() != nil || a.Close() != nil || a.Period() != 0 {
		t.Error("nil activity is not a no-op")
	}
	if _, ok := a.Scale("USD"); ok {
		t.Error("nil activity has a scale")
	}
	if _, err := a.ParseAmount("USD", "1"); err == nil {
		t.Error("nil activity parses amounts")
	}

	h := newHarness(t)
	b := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithCurrencies("JPY", "USD"), customer.WithClock(func() time.Time { return t0 }))
	b.Active(ctx, "u", time.Time{})
	b.Purchase(ctx, "u", time.Time{}, "JPY", 500)
	if s, _ := b.Scale("JPY"); s != 0 {
		t.Errorf("JPY scale %d, want 0", s)
	}
	if v, err := b.ParseAmount("USD", "12.34"); v != 1234 || err != nil {
		t.Errorf("ParseAmount(USD, 12.34) = %v, %v", v, err)
	}
	for _, bad := range []string{"NaN", "Inf", "1e3", "12.345", "99999999999999999999"} {
		if _, err := b.ParseAmount("USD", bad); err == nil {
			t.Errorf("ParseAmount(USD, %q) accepted", bad)
		}
	}
	before := only(h.points(t), "customer.")
	if len(before) == 0 {
		t.Fatal("no points before Close")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Active(ctx, "v", time.Time{})
	p := h.points(t)
	if diff := cmp.Diff(before, only(p, "customer.")); diff != "" {
		t.Errorf("after Close, the last values (-before +after):\n%s", diff)
	}
	if got := nonzeroDrops(p); len(got) != 1 || got["kpikit.dropped{kpikit.component=customer.activity,reason=closed}"] != 1 {
		t.Errorf("dropped after Close: %v, want one closed", got)
	}
}

// TestActivityLocation checks that periods follow the calendar of the
// location: 23:30 UTC on Sunday is Monday in Berlin, a new ISO week.
func TestActivityLocation(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	h := newHarness(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 8, 23, 30, 0, 0, time.UTC) // Sunday, W10 in UTC
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithLocation(berlin), customer.WithClock(func() time.Time { return at }))
	a.ActiveAt(ctx, at, "u", time.Time{})
	if got := only(h.points(t), customer.MetricActivePeriodUsers); !cmp.Equal(got, map[string]float64{periodKey(customer.MetricActivePeriodUsers, "2026-W11"): 1}) {
		t.Errorf("period users in Berlin: %v, want one in 2026-W11", got)
	}
}

// TestActivityHorizonMoves checks that old periods leave the reports once
// the horizon moves past them, and that their memory is released.
func TestActivityHorizonMoves(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithHorizon(2), customer.WithClock(func() time.Time { return week(10) }))
	for w := range 10 {
		a.ActiveAt(ctx, week(w), fmt.Sprint("u", w), time.Time{})
	}
	got := only(h.points(t), customer.MetricActivePeriodUsers)
	want := map[string]float64{
		periodKey(customer.MetricActivePeriodUsers, "2026-W18"): 1,
		periodKey(customer.MetricActivePeriodUsers, "2026-W19"): 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("periods (-want +got):\n%s", diff)
	}
}

// TestActivityConcurrent records from several goroutines while collecting,
// for the race detector, and checks the exact totals.
func TestActivityConcurrent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithCurrencies("USD"), customer.WithClock(func() time.Time { return week(1) }))
	const workers, per = 4, 500
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range per {
				u := fmt.Sprint("u", (w*per+i)%700)
				signup := time.Time{}
				if i%2 == 0 {
					signup = week(0)
				}
				a.PurchaseAt(ctx, week(i%2), u, signup, "USD", 100)
			}
		}()
	}
	for range 5 {
		h.points(t)
	}
	for range workers {
		<-done
	}
	p := h.points(t)
	total := p[periodKey(customer.MetricRevenueAmount, "2026-W10", "currency=USD")] + p[periodKey(customer.MetricRevenueAmount, "2026-W11", "currency=USD")]
	if total != workers*per {
		t.Errorf("revenue %v, want %v", total, workers*per)
	}
}
