package customer_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
)

// request runs fn with the context of a request, which then ends: as a
// failure with errType when failed is set, as a success otherwise.
func request(failed bool, errType string, fn func(ctx context.Context)) {
	var c outcome.Context
	c.Set(context.Background())
	fn(&c)
	c.Outcome.Finish(failed, errType, nil)
}

// failing runs fn in a request that fails with errType.
func failing(errType string, fn func(ctx context.Context)) { request(true, errType, fn) }

func uid(i int) string { return "user-" + strconv.Itoa(i) }

// pt is the key of a point in the form of flatten: attributes kv
// ("key=value") sorted.
func pt(metric string, kv ...string) string {
	kv = slices.Clone(kv)
	slices.Sort(kv)
	return metric + "{" + strings.Join(kv, ",") + "}"
}

// impairedKey is the key of a customer.funnel.impaired_users point of
// funnel f, with segments kv.
func impairedKey(f, step string, index int, errType string, kv ...string) string {
	return pt(customer.MetricFunnelImpairedUsers, append(kv, "error.type="+errType, "funnel="+f, "funnel.step="+step,
		"funnel.step.index="+strconv.Itoa(index))...)
}

// stepKey is the key of a per-step point of funnel f, with segments kv.
func stepKey(metric, f, step string, index int, kv ...string) string {
	return pt(metric, append(kv, "funnel="+f, "funnel.step="+step, "funnel.step.index="+strconv.Itoa(index))...)
}

// failurePoints keeps the points of the cost of failures.
func failurePoints(p map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, m := range []string{customer.MetricFunnelImpairedUsers, customer.MetricFunnelImpairedStepUsers,
		customer.MetricFunnelLostUsers, customer.MetricRevenueAtRisk} {
		for k, v := range only(p, m+"{") {
			out[k] = v
		}
	}
	return out
}

// checkoutSteps plays the steps of TestImpairedDeterministic on the
// funnels on picks, by step and user: 10 users visit on segment "web", 7 of
// them reach cart, users 0 to 3 in requests that fail with 500, and users
// 0 (impaired) and 4 to 6 (clean) pay. between runs after each step.
func checkoutSteps(on func(step string, user int) *customer.Funnel, between func()) {
	bg := context.Background()
	for i := range 10 {
		on("visit", i).Step(bg, uid(i), "visit", "web")
	}
	between()
	for i := range 7 {
		if i < 4 {
			failing("500", func(ctx context.Context) { on("cart", i).Step(ctx, uid(i), "cart") })
		} else {
			on("cart", i).Step(bg, uid(i), "cart")
		}
	}
	between()
	for _, i := range []int{0, 4, 5, 6} {
		on("pay", i).Step(bg, uid(i), "pay")
	}
	between()
}

// TestImpairedDeterministic: 10 users reach the first step, 7 the second,
// 4 of those in requests that fail with 500 at it, then 3 clean users and
// 1 impaired one reach the last step.
func TestImpairedDeterministic(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	steps := []string{"visit", "cart", "pay"}
	f := closingFunnel(t, "checkout", steps, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now),
		customer.WithSegments("device"))
	checkoutSteps(func(string, int) *customer.Funnel { return f }, func() {})

	// Step users 10, 7, 4; impaired attempts 4, 4, 1 at the steps.
	const users0, usersLast, imp0, impLast = 10.0, 4.0, 4.0, 1.0
	clean := (usersLast - impLast) / (users0 - imp0) // 3/6
	impaired := impLast / imp0                       // 1/4
	lost := imp0 * (clean - impaired)                // 4 × (0.5 − 0.25) = 1
	const web = "device=web"
	want := map[string]float64{
		impairedKey("checkout", "cart", 2, "500", web):                               4,
		stepKey(customer.MetricFunnelImpairedStepUsers, "checkout", "visit", 1, web): 4,
		stepKey(customer.MetricFunnelImpairedStepUsers, "checkout", "cart", 2, web):  4,
		stepKey(customer.MetricFunnelImpairedStepUsers, "checkout", "pay", 3, web):   1,
		pt(customer.MetricFunnelLostUsers, web, "funnel=checkout"):                   lost,
	}
	p := h.points(t)
	if diff := cmp.Diff(want, failurePoints(p)); diff != "" {
		t.Errorf("failure points (-want +got):\n%s", diff)
	}
	if lost != 1 {
		t.Fatalf("arithmetic: lost %v", lost)
	}
	// The funnel's own figures are unchanged by the failures.
	for k, w := range map[string]float64{
		stepKey(customer.MetricFunnelUsers, "checkout", "visit", 1, web): 10,
		stepKey(customer.MetricFunnelUsers, "checkout", "cart", 2, web):  7,
		stepKey(customer.MetricFunnelUsers, "checkout", "pay", 3, web):   4,
	} {
		if p[k] != w {
			t.Errorf("%s = %v, want %v", k, p[k], w)
		}
	}
	if d := nonzeroDrops(p); len(d) != 0 {
		t.Errorf("drops %v, want none", d)
	}
}

// TestImpairedLinkRules: only a failed request's links impair, a link
// made after the request failed impairs at once, and a second Finish does
// nothing.
func TestImpairedLinkRules(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f := closingFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	bg := context.Background()
	for i := range 4 {
		f.Step(bg, uid(i), "a")
	}
	// User 0's request fails without a customer call: nothing to impair.
	failing("500", func(context.Context) {})
	// User 1's request succeeds: its link impairs nothing.
	request(false, "", func(ctx context.Context) { f.Step(ctx, uid(1), "b") })
	p := failurePoints(h.points(t))
	want := map[string]float64{
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1): 0,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2): 0,
		customer.MetricFunnelLostUsers + "{funnel=f}":                0,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("after a success (-want +got):\n%s", diff)
	}

	// User 2 is linked after the request failed: impaired at once.
	var c outcome.Context
	c.Set(bg)
	c.Outcome.Finish(true, "503", nil)
	f.Step(&c, uid(2), "a")
	// User 3's request finishes twice: impaired once.
	var c3 outcome.Context
	c3.Set(bg)
	f.Step(&c3, uid(3), "b")
	c3.Outcome.Finish(true, "500", nil)
	c3.Outcome.Finish(true, "502", nil)
	p = failurePoints(h.points(t))
	want = map[string]float64{
		impairedKey("f", "a", 1, "503"):                              1,
		impairedKey("f", "b", 2, "500"):                              1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1): 2,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2): 1,
		// clean 1/2, impaired 1/2
		customer.MetricFunnelLostUsers + "{funnel=f}": 0,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("after failures (-want +got):\n%s", diff)
	}
}

// TestImpairedOnceConcurrent: concurrent failing requests of one user at
// one step impair the attempt once; a failure at another step counts
// there, but the attempt counts once per step in impaired_step_users; an
// operation that fails inside a failing request impairs once, with the
// first failure's error type.
func TestImpairedOnceConcurrent(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f := closingFunnel(t, "f", []string{"a", "b", "c"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	bg := context.Background()
	f.Step(bg, "u", "a")
	f.Step(bg, "v", "a")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			failing("500", func(ctx context.Context) { f.Step(ctx, "u", "b") })
		})
	}
	wg.Wait()
	failing("504", func(ctx context.Context) { f.Step(ctx, "u", "c") })

	// v: an operation fails inside a request that fails too.
	var outer, inner outcome.Context
	outer.Set(bg)
	inner.Set(&outer)
	f.Step(&inner, "v", "b")
	inner.Outcome.Finish(true, "timeout", nil)
	outer.Outcome.Finish(true, "500", nil)

	want := map[string]float64{
		impairedKey("f", "b", 2, "500"):                              1,
		impairedKey("f", "b", 2, "timeout"):                          1,
		impairedKey("f", "c", 3, "504"):                              1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1): 2,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2): 2,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "c", 3): 1,
		// No lost users: no attempt is clean, there is nothing to compare.
	}
	if diff := cmp.Diff(want, failurePoints(h.points(t))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestImpairedRace runs linking, failures, recording and collection
// together (run it with -race).
func TestImpairedRace(t *testing.T) {
	h := newHarness(t)
	f := closingFunnel(t, "f", []string{"a", "b", "c"}, customer.WithMeterProvider(h.mp), customer.WithSegments("plan"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				u := uid(i % 50)
				step := []string{"a", "b", "c"}[i%3]
				request(i%3 == g%3, "500", func(ctx context.Context) { f.Step(ctx, u, step, "p"+strconv.Itoa(g)) })
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			h.points(t)
		}
	})
	wg.Wait()
	p := h.points(t)
	imp := only(p, customer.MetricFunnelImpairedStepUsers+"{")
	if len(imp) == 0 {
		t.Fatal("no impaired step users")
	}
	for k, v := range imp {
		// Same attributes as the step's users.
		users, ok := p[customer.MetricFunnelUsers+strings.TrimPrefix(k, customer.MetricFunnelImpairedStepUsers)]
		if !ok || v > users {
			t.Errorf("%s = %v, users %v (reported %v)", k, v, users, ok)
		}
	}
}

// TestRevenueAtRisk: lost users times the ARPPU of the activity's current
// period, per currency with paying users.
func TestRevenueAtRisk(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0) // a Monday: the current ISO week starts at t0's day
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now)}
	a := mustActivity(t, opts...)
	f := closingFunnel(t, "signup", []string{"form", "done"}, append(opts, customer.WithRevenueFrom(a))...)
	bg := context.Background()
	var none time.Time
	// The current week: USD 10.00 + 30.00 by two payers, 5.00 more by the
	// first; EUR 5.00 by one payer. JPY is only refunded: no payer.
	a.Purchase(bg, "p1", none, "USD", 1000)
	a.Purchase(bg, "p2", none, "USD", 3000)
	a.Purchase(bg, "p1", none, "USD", 500)
	a.Purchase(bg, "p3", none, "EUR", 500)
	a.Refund(bg, "p3", none, "JPY", 100)
	// The week before does not count.
	a.PurchaseAt(bg, t0.AddDate(0, 0, -7), "p4", none, "USD", 100000)
	arppuUSD := (10.00 + 30.00 + 5.00) / 2
	arppuEUR := 5.00 / 1

	// 10 attempts; 4 impaired at the first step, none of them converts;
	// 3 of the 6 clean ones convert.
	for i := range 10 {
		if i < 4 {
			failing("500", func(ctx context.Context) { f.Step(ctx, uid(i), "form") })
			continue
		}
		f.Step(bg, uid(i), "form")
		if i < 7 {
			f.Step(bg, uid(i), "done")
		}
	}
	lost := 4 * (3.0/6.0 - 0.0/4.0)
	p := h.points(t)
	want := map[string]float64{
		customer.MetricRevenueAtRisk + "{currency=EUR,funnel=signup}": lost * arppuEUR,
		customer.MetricRevenueAtRisk + "{currency=USD,funnel=signup}": lost * arppuUSD,
	}
	if diff := cmp.Diff(want, only(p, customer.MetricRevenueAtRisk+"{")); diff != "" {
		t.Errorf("at risk (-want +got):\n%s", diff)
	}
	// The activity's own ARPPU agrees.
	for cur, v := range map[string]float64{"USD": arppuUSD, "EUR": arppuEUR} {
		k := customer.MetricRevenueARPPU + "{activity=app,currency=" + cur + ",period=2026-W10}"
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if got := p[customer.MetricFunnelLostUsers+"{funnel=signup}"]; got != lost {
		t.Errorf("lost users %v, want %v", got, lost)
	}
	// A new week has no payer yet: the price of a lost conversion stays
	// the newest week's that has some, instead of falling to nothing.
	clock.Set(t0.AddDate(0, 0, 7))
	if diff := cmp.Diff(want, only(h.points(t), customer.MetricRevenueAtRisk+"{")); diff != "" {
		t.Errorf("at risk in a week without payers yet (-want +got):\n%s", diff)
	}
	a.Purchase(bg, "p5", none, "USD", 700)
	want[customer.MetricRevenueAtRisk+"{currency=USD,funnel=signup}"] = lost * 7.00
	if diff := cmp.Diff(want, only(h.points(t), customer.MetricRevenueAtRisk+"{")); diff != "" {
		t.Errorf("at risk once the new week has a payer (-want +got):\n%s", diff)
	}
}

// TestRevenueAtRiskNoLoss: without a lost user the revenue at risk is 0,
// for the currencies with paying users.
func TestRevenueAtRiskNoLoss(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now)}
	a := mustActivity(t, opts...)
	f := closingFunnel(t, "signup", []string{"form", "done"}, append(opts, customer.WithRevenueFrom(a))...)
	bg := context.Background()
	a.Purchase(bg, "p1", time.Time{}, "USD", 1000)
	request(false, "", func(ctx context.Context) { f.Step(ctx, "u", "form") })
	want := map[string]float64{customer.MetricRevenueAtRisk + "{currency=USD,funnel=signup}": 0}
	if diff := cmp.Diff(want, only(h.points(t), customer.MetricRevenueAtRisk+"{")); diff != "" {
		t.Errorf("at risk (-want +got):\n%s", diff)
	}
}

// TestImpairedErrorTypeLimit: past MaxErrorTypes error types, and for an
// invalid one, error.type folds into _OTHER and the fold is counted.
func TestImpairedErrorTypeLimit(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f := closingFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	types := make([]string, 0, customer.MaxErrorTypes+5)
	for i := range customer.MaxErrorTypes + 2 {
		types = append(types, "e"+strconv.Itoa(i))
	}
	types = append(types, "\xff", strings.Repeat("x", customer.MaxErrorTypeLen+1), "", customer.OtherValue)
	for i, et := range types {
		failing(et, func(ctx context.Context) { f.Step(ctx, uid(i), "a") })
	}
	p := h.points(t)
	want := map[string]float64{}
	for i := range customer.MaxErrorTypes {
		want[impairedKey("f", "a", 1, "e"+strconv.Itoa(i))] = 1
	}
	want[impairedKey("f", "a", 1, customer.OtherValue)] = 2 + 3 + 1
	if diff := cmp.Diff(want, only(p, customer.MetricFunnelImpairedUsers+"{")); diff != "" {
		t.Errorf("impaired users (-want +got):\n%s", diff)
	}
	drops := map[string]float64{
		"kpikit.dropped{kpikit.component=customer.funnel,reason=error_type_limit}":   2,
		"kpikit.dropped{kpikit.component=customer.funnel,reason=invalid_error_type}": 3,
	}
	if diff := cmp.Diff(drops, nonzeroDrops(p)); diff != "" {
		t.Errorf("drops (-want +got):\n%s", diff)
	}
}

// TestLinkLimit: a request keeps outcome.MaxLinks links; a funnel step
// linked past them is counted as dropped with reason link_limit.
func TestLinkLimit(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	steps := make([]string, outcome.MaxLinks+1)
	for i := range steps {
		steps[i] = "s" + strconv.Itoa(i)
	}
	f := closingFunnel(t, "f", steps, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	failing("500", func(ctx context.Context) {
		for _, s := range steps {
			f.Step(ctx, "u", s)
		}
	})
	p := h.points(t)
	if diff := cmp.Diff(map[string]float64{"kpikit.dropped{kpikit.component=customer.funnel,reason=link_limit}": 1}, nonzeroDrops(p)); diff != "" {
		t.Errorf("drops (-want +got):\n%s", diff)
	}
	got := only(p, customer.MetricFunnelImpairedUsers+"{")
	if len(got) != outcome.MaxLinks {
		t.Errorf("%d impaired steps, want %d: %v", len(got), outcome.MaxLinks, got)
	}
	if _, ok := got[impairedKey("f", steps[outcome.MaxLinks], outcome.MaxLinks+1, "500")]; ok {
		t.Errorf("the step past the link limit is impaired")
	}
	for k, v := range only(p, customer.MetricFunnelImpairedStepUsers+"{") {
		if v != 1 {
			t.Errorf("%s = %v, want 1", k, v)
		}
	}
}

// TestLinkGoalActivity: goals and activities link their users to the
// request, and a failure impairs nothing there; their link_limit counts.
func TestLinkGoalActivity(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now)}
	g := closingGoal(t, "g", opts...)
	a := mustActivity(t, opts...)
	var c outcome.Context
	c.Set(context.Background())
	g.Expose(&c, "e")
	g.Convert(&c, "e")      // the same link again: kept once
	g.Convert(&c, "nobody") // accepted, not counted: linked
	g.Expose(&c, "")        // dropped: not linked
	a.Active(&c, "act", time.Time{})
	a.Purchase(&c, "buy", time.Time{}, "USD", 100)
	a.Purchase(&c, "neg", time.Time{}, "USD", -1) // dropped
	a.Refund(&c, "ref", time.Time{}, "USD", 100)
	a.Active(&c, "x1", time.Time{})
	a.Active(&c, "x2", time.Time{})
	a.Active(&c, "x3", time.Time{})
	a.Active(&c, "over", time.Time{}) // the ninth link
	var users []string
	c.Outcome.Finish(true, "500", outcome.UsersFunc(func(u string) { users = append(users, u) }))
	if diff := cmp.Diff([]string{"e", "nobody", "act", "buy", "ref", "x1", "x2", "x3"}, users); diff != "" {
		t.Errorf("linked users (-want +got):\n%s", diff)
	}
	p := h.points(t)
	if d := nonzeroDrops(p)["kpikit.dropped{kpikit.component=customer.activity,reason=link_limit}"]; d != 1 {
		t.Errorf("activity link_limit %v, want 1", d)
	}
	if got := failurePoints(p); len(got) != 0 {
		t.Errorf("goal and activity report failures: %v", got)
	}
}

// TestImpairedNotLinked: a recorder never used under a request outcome
// reports none of the figures of failures, nor their dropped reasons.
func TestImpairedNotLinked(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now)}
	a := mustActivity(t, opts...)
	f := closingFunnel(t, "f", []string{"a", "b"}, append(opts, customer.WithRevenueFrom(a))...)
	a.Purchase(context.Background(), "p", time.Time{}, "USD", 100)
	f.Step(context.Background(), "u", "a")
	p := h.points(t)
	if got := failurePoints(p); len(got) != 0 {
		t.Errorf("failure points %v, want none", got)
	}
	for k := range only(p, selfobs.MetricName) {
		for _, r := range []string{"link_limit", "error_type_limit", "invalid_error_type"} {
			if strings.Contains(k, "reason="+r+"}") {
				t.Errorf("reported %s", k)
			}
		}
	}
}

// TestImpairedLaterSteps: an impaired attempt counts in
// impaired_step_users at every step it reaches afterwards; a new attempt
// after the window starts clean.
func TestImpairedLaterSteps(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f := closingFunnel(t, "f", []string{"a", "b", "c"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now),
		customer.WithWindow(time.Hour))
	bg := context.Background()
	failing("500", func(ctx context.Context) { f.Step(ctx, "u", "a") })
	f.Step(bg, "u", "b")
	f.Step(bg, "u", "c")
	clock.Set(t0.Add(2 * time.Hour))
	f.Step(bg, "u", "a") // a new attempt
	f.Step(bg, "u", "b")
	p := failurePoints(h.points(t))
	want := map[string]float64{
		impairedKey("f", "a", 1, "500"):                              1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1): 1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2): 1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "c", 3): 1,
		// clean 0/1, impaired 1/1: clamped
		customer.MetricFunnelLostUsers + "{funnel=f}": 0,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A failure of the new attempt impairs it, not the old one.
	failing("500", func(ctx context.Context) { f.Step(ctx, "u", "b") })
	p = failurePoints(h.points(t))
	if got := p[stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1)]; got != 2 {
		t.Errorf("impaired at a: %v, want 2", got)
	}
	if got := p[impairedKey("f", "b", 2, "500")]; got != 1 {
		t.Errorf("impaired users at b: %v, want 1", got)
	}
}

// TestImpairedSnapshot: the impaired attempts and counts survive a
// restart, and a restored impaired attempt is not impaired twice.
func TestImpairedSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.snap")
	clock := newClock(t0)
	steps := []string{"a", "b", "c"}
	bg := context.Background()
	start := func(h *harness) *customer.Funnel {
		return mustFunnel(t, "f", steps, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now),
			customer.WithSnapshot(path, 0), customer.WithSegments("plan"))
	}
	h1 := newHarness(t)
	f1 := start(h1)
	for i := range 4 {
		f1.Step(bg, uid(i), "a", "pro")
	}
	failing("500", func(ctx context.Context) { f1.Step(ctx, uid(0), "b") })
	failing("\xff", func(ctx context.Context) { f1.Step(ctx, uid(1), "a") })
	f1.Step(bg, uid(2), "b")
	before := failurePoints(h1.points(t))
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t)
	f2 := start(h2)
	defer f2.Close()
	if diff := cmp.Diff(before, failurePoints(h2.points(t))); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	failing("503", func(ctx context.Context) { f2.Step(ctx, uid(0), "b") }) // impaired at b already
	f2.Step(bg, uid(0), "c")                                                // reached after the failure
	p := failurePoints(h2.points(t))
	const pro = "plan=pro"
	want := map[string]float64{
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1, pro): 2,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2, pro): 1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "c", 3, pro): 1,
		impairedKey("f", "b", 2, "500", pro):                              1,
		impairedKey("f", "a", 1, customer.OtherValue, pro):                1,
		// clean 0/2, impaired 1/2: negative, clamped at 0
		pt(customer.MetricFunnelLostUsers, "funnel=f", pro): 0,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("after the restart (-want +got):\n%s", diff)
	}
}

// TestImpairedSnapshotWithout: a snapshot without the failures section,
// as a funnel never used under a request writes it (and every release
// before the section), loads, and the restored attempts can be impaired.
func TestImpairedSnapshotWithout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.snap")
	clock := newClock(t0)
	start := func(h *harness) *customer.Funnel {
		return mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now),
			customer.WithSnapshot(path, 0))
	}
	f1 := start(newHarness(t))
	f1.Step(context.Background(), "u", "a")
	f1.Step(context.Background(), "v", "a")
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	f2 := start(h)
	defer f2.Close()
	if p := h.points(t); len(failurePoints(p)) != 0 || p[stepKey(customer.MetricFunnelUsers, "f", "a", 1)] != 2 {
		t.Fatalf("restored %v", p)
	}
	failing("500", func(ctx context.Context) { f2.Step(ctx, "u", "b") })
	want := map[string]float64{
		impairedKey("f", "b", 2, "500"):                              1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1): 1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2): 1,
		pt(customer.MetricFunnelLostUsers, "funnel=f"):               0, // clean 0/1, impaired 1/1
	}
	if diff := cmp.Diff(want, failurePoints(h.points(t))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestImpairedRedis: a funnel in a Redis state links its users, and a
// failure impairs the attempt the state holds; WithRevenueFrom applies.
func TestImpairedRedis(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t)
	a := mustActivity(t)
	redis := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithState(redisState(t, srv.Addr(), redisstate.WithKeyPrefix("test:impaired:"))),
		customer.WithRevenueFrom(a)}
	f := closingFunnel(t, "f", []string{"a", "b"}, redis...)
	var c outcome.Context
	c.Set(context.Background())
	f.Step(&c, "u", "a")
	var users []string
	c.Outcome.Finish(true, "500", outcome.UsersFunc(func(u string) { users = append(users, u) }))
	if diff := cmp.Diff([]string{"u"}, users); diff != "" {
		t.Errorf("linked (-want +got):\n%s", diff)
	}
	if err := f.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		impairedKey("f", "a", 1, "500"):                              1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "a", 1): 1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "f", "b", 2): 0,
		// No lost_users: no clean attempt to compare with.
	}
	if diff := cmp.Diff(want, failurePoints(h.points(t))); diff != "" {
		t.Errorf("failure points (-want +got):\n%s", diff)
	}
}

// TestRevenueAtRiskRedisActivity: with the activity in Redis, the ARPPU
// is the one the activity's latest collection read.
func TestRevenueAtRiskRedisActivity(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t)
	clock := newClock(t0)
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now)}
	a := mustActivity(t, append(opts, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:atrisk:")))...)
	f := closingFunnel(t, "f", []string{"a", "b"}, append(opts, customer.WithRevenueFrom(a))...)
	bg := context.Background()
	a.Purchase(bg, "p1", t0, "USD", 1000)
	a.Purchase(bg, "p2", t0, "USD", 2000)
	if err := a.Flush(bg); err != nil {
		t.Fatal(err)
	}
	// Two attempts, one impaired at the first step that does not convert:
	// 1 × (1/1 − 0/1) lost.
	failing("500", func(ctx context.Context) { f.Step(ctx, "u", "a") })
	f.Step(bg, "v", "a")
	f.Step(bg, "v", "b")
	h.points(t) // the activity reads Redis
	want := map[string]float64{pt(customer.MetricRevenueAtRisk, "currency=USD", "funnel=f"): 1 * 15.00}
	if diff := cmp.Diff(want, only(h.points(t), customer.MetricRevenueAtRisk+"{")); diff != "" {
		t.Errorf("at risk (-want +got):\n%s", diff)
	}
}

func TestWithRevenueFromErrors(t *testing.T) {
	a := mustActivity(t)
	tests := []struct {
		name string
		new  func() error
	}{
		{"nil activity", func() error {
			_, err := customer.NewFunnel("f", []string{"a", "b"}, customer.WithRevenueFrom(nil))
			return err
		}},
		{"goal", func() error {
			_, err := customer.NewGoal("g", customer.WithRevenueFrom(a))
			return err
		}},
		{"activity", func() error {
			_, err := customer.NewActivity("x", customer.WithRevenueFrom(a))
			return err
		}},
		{"error.type segment", func() error {
			_, err := customer.NewFunnel("f", []string{"a", "b"}, customer.WithSegments("error.type"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.new(); !errors.Is(err, customer.ErrInvalidConfig) {
				t.Errorf("error %v, want one wrapping ErrInvalidConfig", err)
			}
		})
	}
}

// TestLinkAllocs: recording for a tracked user under a request outcome
// does not allocate.
func TestLinkAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	h := newHarness(t)
	at := t0.Add(time.Minute)
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return at })}
	f := mustFunnel(t, "f", []string{"a", "b"}, opts...)
	g := mustGoal(t, "g", opts...)
	a := mustActivity(t, opts...)
	bg := context.Background()
	f.Step(bg, "user-1", "a")
	g.Expose(bg, "user-1")
	a.Active(bg, "user-1", t0)
	const runs = 200
	ctxs := make([]outcome.Context, runs+1)
	for i := range ctxs {
		ctxs[i].Set(bg)
	}
	var full outcome.Context
	full.Set(bg)
	for range outcome.MaxLinks {
		f.Step(&full, "user-1", "a")
	}
	next := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"Funnel.Step linked", func() { f.Step(&ctxs[next], "user-1", "a"); next++ }},
		{"Funnel.Step link_limit", func() { f.Step(&full, "user-1", "a") }},
		{"Goal.Expose linked", func() { g.Expose(&ctxs[next], "user-1"); next++ }},
		{"Activity.Active linked", func() { a.Active(&ctxs[next], "user-1", t0); next++ }},
	}
	for _, tt := range tests {
		for i := range ctxs {
			ctxs[i] = outcome.Context{}
			ctxs[i].Set(bg)
		}
		next = 0
		if got := testing.AllocsPerRun(runs, tt.fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
		}
	}
}

// BenchmarkFunnelStepLinked compares Step for a tracked user without and
// with a request outcome in the context. Each iteration makes a fresh
// outcome, as a request does, in both variants, so that the difference is
// the link alone: a request linking one user, the common case.
func BenchmarkFunnelStepLinked(b *testing.B) {
	const nUsers = 1 << 14
	ids := userIDs(nUsers)
	bg := context.Background()
	f, _, at := benchFunnel(b, true)
	for _, id := range ids {
		f.StepAt(bg, at, id, "s1", "ios", "pro")
		f.StepAt(bg, at, id, "s2", "ios", "pro")
	}
	ctxs := make([]outcome.Context, 1024)
	for _, linked := range []bool{false, true} {
		name := map[bool]string{false: "background", true: "outcome"}[linked]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c := &ctxs[i%len(ctxs)]
				*c = outcome.Context{}
				c.Set(bg)
				var ctx context.Context = bg
				if linked {
					ctx = c
				}
				f.Step(ctx, ids[i%nUsers], "s2", "ios", "pro")
			}
		})
	}
}

// TestFunnelLink: a request that records no step but links the user
// impairs the attempt at the furthest step it reached.
func TestFunnelLink(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f := closingFunnel(t, "checkout", []string{"visit", "cart", "pay"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	bg := context.Background()
	f.Step(bg, "ann", "visit")
	f.Step(bg, "ann", "cart")
	f.Step(bg, "bob", "visit")
	failing("503", func(ctx context.Context) { f.Link(ctx, "ann") }) // the payment failed: at cart
	failing("503", func(ctx context.Context) { f.Link(ctx, "bob") }) // at visit
	failing("503", func(ctx context.Context) { f.Link(ctx, "cid") }) // no attempt: nothing
	request(false, "", func(ctx context.Context) { f.Link(ctx, "bob") })
	f.Link(bg, "ann")                                             // no request: nothing
	failing("503", func(ctx context.Context) { f.Link(ctx, "") }) // dropped as Step would
	want := map[string]float64{
		impairedKey("checkout", "cart", 2, "503"):                               1,
		impairedKey("checkout", "visit", 1, "503"):                              1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "checkout", "visit", 1): 2,
		stepKey(customer.MetricFunnelImpairedStepUsers, "checkout", "cart", 2):  1,
		stepKey(customer.MetricFunnelImpairedStepUsers, "checkout", "pay", 3):   0,
		// No lost_users: both attempts are impaired, no clean one to
		// compare with.
	}
	p := h.points(t)
	if diff := cmp.Diff(want, failurePoints(p)); diff != "" {
		t.Errorf("failure points (-want +got):\n%s", diff)
	}
	if d := nonzeroDrops(p); len(d) != 1 {
		t.Errorf("drops %v, want the empty user id only", d)
	}
}
