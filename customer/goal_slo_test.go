package customer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/slo"
)

// approx compares the floating-point figures of the SLO metrics, which
// divide by a budget such as 0.2 that float64 does not hold exactly.
var approx = cmpopts.EquateApprox(0, 1e-9)

// sloKey is the flattened key of an SLO metric point: the SLO's name and
// the extra attributes, such as "slo.window=5m".
func sloKey(metric, name string, extra ...string) string {
	kv := append([]string{slo.KeyName + "=" + name}, extra...)
	return metric + attrsOf(kv...)
}

// attrsOf formats "k=v" pairs as attrs does, sorted.
func attrsOf(kv ...string) string {
	kv = slices.Sorted(slices.Values(kv))
	return "{" + strings.Join(kv, ",") + "}"
}

// sloWindows are the windows an SLO of window w reports.
func sloWindows(w time.Duration) []time.Duration {
	return append(append([]time.Duration(nil), slo.Windows...), w)
}

// wantSLOPoints are the slo.* points of SLO s whose every window saw
// total events, good of them good, with the given alerts.
func wantSLOPoints(s slo.SLO, good, total int64, page, ticket bool) map[string]float64 {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	ratio := float64(total-good) / float64(total)
	burn := ratio / (1 - s.Objective)
	p := map[string]float64{
		sloKey(slo.MetricObjective, s.Name):                                     s.Objective,
		sloKey(slo.MetricEvents, s.Name):                                        float64(total),
		sloKey(slo.MetricGoodEvents, s.Name):                                    float64(good),
		sloKey(slo.MetricBudgetRemaining, s.Name):                               1 - burn,
		sloKey(slo.MetricAlert, s.Name, slo.KeySeverity+"="+string(slo.Page)):   b2f(page),
		sloKey(slo.MetricAlert, s.Name, slo.KeySeverity+"="+string(slo.Ticket)): b2f(ticket),
	}
	for _, w := range sloWindows(s.WindowOrDefault()) {
		win := slo.KeyWindow + "=" + slo.WindowName(w)
		p[sloKey(slo.MetricErrorRatio, s.Name, win)] = ratio
		p[sloKey(slo.MetricBurnRate, s.Name, win)] = burn
	}
	return p
}

// sum adds the points of one metric over every attribute set.
func sum(points map[string]float64, metric string) float64 {
	var n float64
	for _, v := range only(points, metric+"{") {
		n += v
	}
	return n
}

// TestGoalSLO: 10 users exposed over two segments, 7 converted, against an
// objective of 0.8: 10 events, 7 good, an error ratio of 0.3 over every
// window, a burn rate of 1.5 and -0.5 of the budget left; the 3d/6h
// ticket (burn rate 1) fires, no page does. SLOStatus says the same.
func TestGoalSLO(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0)
	s := slo.SLO{Name: "checkout-paid", Objective: 0.8, SLI: slo.GoalConversion{Goal: "checkout"}}
	g := closingGoal(t, "checkout", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithSegments("variant"), customer.WithSLOs(s))
	ctx := context.Background()
	for i := range 10 {
		u := fmt.Sprint("u", i)
		g.Expose(ctx, u, []string{"A", "B"}[i%2])
		if i < 7 {
			g.Convert(ctx, u)
		}
	}

	p := h.points(t)
	if diff := cmp.Diff(wantSLOPoints(s, 7, 10, false, true), only(p, "slo."), approx); diff != "" {
		t.Errorf("slo points (-want +got):\n%s", diff)
	}
	// Spelled out, the figures the task is about.
	for k, want := range map[string]float64{
		sloKey(slo.MetricEvents, s.Name):                                     10,
		sloKey(slo.MetricGoodEvents, s.Name):                                 7,
		sloKey(slo.MetricErrorRatio, s.Name, slo.KeyWindow+"=5m"):            0.3,
		sloKey(slo.MetricBurnRate, s.Name, slo.KeyWindow+"=5m"):              1.5,
		sloKey(slo.MetricBudgetRemaining, s.Name):                            -0.5,
		sloKey(slo.MetricObjective, s.Name):                                  0.8,
		sloKey(slo.MetricErrorRatio, s.Name, slo.KeyWindow+"=30d"):           0.3,
		sloKey(slo.MetricAlert, s.Name, slo.KeySeverity+"="+"page"):          0,
		sloKey(slo.MetricAlert, s.Name, slo.KeySeverity+"="+"ticket"):        1,
		customer.MetricGoalExposedUsers + goalKeyOf("checkout", "variant=A"): 5,
	} {
		if got, ok := p[k]; !ok || !cmp.Equal(got, want, approx) {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	// The same figures as the goal's counters, summed over the segments.
	if ev, ex := p[sloKey(slo.MetricEvents, s.Name)], sum(p, customer.MetricGoalExposedUsers); ev != ex {
		t.Errorf("slo.events %v, exposed users summed %v", ev, ex)
	}
	if good, conv := p[sloKey(slo.MetricGoodEvents, s.Name)], sum(p, customer.MetricGoalConvertedUsers); good != conv {
		t.Errorf("slo.good_events %v, converted users summed %v", good, conv)
	}

	want := slo.Status{SLO: s, Good: 7, Total: 10, BudgetRemaining: -0.5, Ticket: true}
	for _, w := range sloWindows(s.WindowOrDefault()) {
		want.Windows = append(want.Windows, slo.WindowStatus{Window: w, Events: 10, Bad: 3, ErrorRatio: 0.3, BurnRate: 1.5})
	}
	if diff := cmp.Diff([]slo.Status{want}, g.SLOStatus(), approx); diff != "" {
		t.Errorf("SLOStatus (-want +got):\n%s", diff)
	}
}

// TestGoalSLOsAccumulate: WithSLOs given twice adds up, in order; a goal
// without SLOs, and a nil goal, have no status and no slo.* metrics.
func TestGoalSLOsAccumulate(t *testing.T) {
	h := newHarness(t)
	a := slo.SLO{Name: "a", Objective: 0.9, SLI: slo.GoalConversion{Goal: "trial"}}
	b := slo.SLO{Name: "b", Objective: 0.5, Window: 7 * slo.Day, SLI: slo.GoalConversion{Goal: "trial"}}
	g := closingGoal(t, "trial", customer.WithMeterProvider(h.mp), customer.WithClock(newClock(t0).Now),
		customer.WithSLOs(a), customer.WithSLOs(b))
	var names []string
	for _, st := range g.SLOStatus() {
		names = append(names, st.SLO.Name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
		t.Errorf("SLOStatus names (-want +got):\n%s", diff)
	}
	p := h.points(t)
	for _, s := range []slo.SLO{a, b} {
		if got := p[sloKey(slo.MetricObjective, s.Name)]; got != s.Objective {
			t.Errorf("objective of %s = %v, want %v", s.Name, got, s.Objective)
		}
		// No events: no window figures, the whole budget, no alert.
		if got, ok := p[sloKey(slo.MetricErrorRatio, s.Name, slo.KeyWindow+"=5m")]; ok {
			t.Errorf("error ratio of %s without events = %v, want none", s.Name, got)
		}
		if got := p[sloKey(slo.MetricBudgetRemaining, s.Name)]; got != 1 {
			t.Errorf("budget remaining of %s without events = %v, want 1", s.Name, got)
		}
	}

	h2 := newHarness(t)
	plain := closingGoal(t, "plain", customer.WithMeterProvider(h2.mp))
	if st := plain.SLOStatus(); st != nil {
		t.Errorf("SLOStatus without SLOs = %v, want nil", st)
	}
	if got := only(h2.points(t), "slo."); len(got) != 0 {
		t.Errorf("slo points without SLOs: %v", got)
	}
	var nilGoal *customer.Goal
	if st := nilGoal.SLOStatus(); st != nil {
		t.Errorf("nil goal SLOStatus = %v, want nil", st)
	}
}

// TestGoalSLOCountsAttempts: the SLO counts attempts, not events: a user
// exposed twice within the goal's window, and converting twice, is one
// event and one good event; an exposure after the window is a new attempt.
func TestGoalSLOCountsAttempts(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0)
	s := slo.SLO{Name: "trial-paid", Objective: 0.5, SLI: slo.GoalConversion{Goal: "trial"}}
	g := closingGoal(t, "trial", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithWindow(24*time.Hour), customer.WithSLOs(s))
	ctx := context.Background()
	g.ExposeAt(ctx, t0, "u")
	g.ExposeAt(ctx, t0.Add(30*time.Minute), "u")
	g.ConvertAt(ctx, t0.Add(40*time.Minute), "u")
	g.ConvertAt(ctx, t0.Add(50*time.Minute), "u")
	check := func(events, good, exposures float64) {
		t.Helper()
		p := h.points(t)
		k := goalKeyOf("trial")
		got := [3]float64{p[sloKey(slo.MetricEvents, s.Name)], p[sloKey(slo.MetricGoodEvents, s.Name)], p[customer.MetricGoalExposures+k]}
		if want := [3]float64{events, good, exposures}; got != want {
			t.Errorf("slo.events, slo.good_events, exposures = %v, want %v", got, want)
		}
	}
	check(1, 1, 2)

	clk.Set(t0.Add(2 * 24 * time.Hour)) // the attempt expired
	g.Expose(ctx, "u")
	check(2, 1, 3)
	if st := g.SLOStatus(); len(st) != 1 || st[0].Good != 1 || st[0].Total != 2 {
		t.Errorf("SLOStatus = %+v, want 1 good of 2", st)
	}
}

// TestNewGoalSLOErrors: an SLO that cannot work, or that a goal cannot
// count, is an error at construction naming the SLO and the value, and
// no recorder; so is WithSLOs given to a funnel or an activity.
func TestNewGoalSLOErrors(t *testing.T) {
	conv := func(name string, objective float64) slo.SLO {
		return slo.SLO{Name: name, Objective: objective, SLI: slo.GoalConversion{Goal: "checkout"}}
	}
	halfDay := conv("half-day", 0.9)
	halfDay.Window = 12 * time.Hour
	tests := []struct {
		name string
		kind string // "goal", "funnel" or "activity"
		opts []customer.Option
		want []string
	}{
		{"objective 0", "goal", []customer.Option{customer.WithSLOs(conv("zero", 0))},
			[]string{`"zero"`, "objective 0 is not in (0, 1)"}},
		{"objective 1", "goal", []customer.Option{customer.WithSLOs(conv("one", 1))},
			[]string{`"one"`, "objective 1 is not in (0, 1)"}},
		{"window 12h", "goal", []customer.Option{customer.WithSLOs(halfDay)},
			[]string{`"half-day"`, "window 12h0m0s"}},
		{"SLI of another kind", "goal", []customer.Option{customer.WithSLOs(slo.SLO{Name: "http", Objective: 0.99, SLI: slo.HTTPAvailability{}})},
			[]string{`goal "checkout": SLO "http" has SLI slo.HTTPAvailability, want slo.GoalConversion{Goal: "checkout"}`}},
		{"another goal", "goal", []customer.Option{customer.WithSLOs(slo.SLO{Name: "cart", Objective: 0.9, SLI: slo.GoalConversion{Goal: "cart"}})},
			[]string{`goal "checkout": SLO "cart" has SLI slo.GoalConversion{Goal: "cart"}, want slo.GoalConversion{Goal: "checkout"}`}},
		{"two SLOs with one name", "goal", []customer.Option{customer.WithSLOs(conv("twice", 0.9), conv("twice", 0.8))},
			[]string{`"twice": two SLOs have this name`}},
		{"one name in two calls", "goal", []customer.Option{customer.WithSLOs(conv("twice", 0.9)), customer.WithSLOs(conv("twice", 0.8))},
			[]string{`"twice": two SLOs have this name`}},
		{"funnel", "funnel", []customer.Option{customer.WithSLOs(conv("f", 0.9))},
			[]string{"WithSLOs does not apply to NewFunnel"}},
		{"activity", "activity", []customer.Option{customer.WithSLOs(conv("a", 0.9))},
			[]string{"WithSLOs does not apply to NewActivity"}},
		{"activity, no SLO", "activity", []customer.Option{customer.WithSLOs()},
			[]string{"WithSLOs does not apply to NewActivity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeak(t)
			var r interface{ Close() error }
			var err error
			switch tt.kind {
			case "goal":
				var g *customer.Goal
				g, err = customer.NewGoal("checkout", tt.opts...)
				if g != nil {
					r = g
				}
			case "funnel":
				var f *customer.Funnel
				f, err = customer.NewFunnel("checkout", []string{"cart", "pay"}, tt.opts...)
				if f != nil {
					r = f
				}
			case "activity":
				var a *customer.Activity
				a, err = customer.NewActivity("checkout", tt.opts...)
				if a != nil {
					r = a
				}
			}
			if r != nil {
				_ = r.Close()
				t.Fatalf("%s accepted %s", tt.kind, tt.name)
			}
			if !errors.Is(err, customer.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not name %q", err, w)
				}
			}
		})
	}
}

// TestGoalSLOInvalidWrapsSLOError: an SLO that fails slo.Validate keeps
// slo.ErrInvalid in the chain.
func TestGoalSLOInvalidWrapsSLOError(t *testing.T) {
	_, err := customer.NewGoal("g", customer.WithSLOs(slo.SLO{Name: "BAD", Objective: 0.9, SLI: slo.GoalConversion{Goal: "g"}}))
	if !errors.Is(err, slo.ErrInvalid) || !errors.Is(err, customer.ErrInvalidConfig) {
		t.Errorf("error %v: want slo.ErrInvalid and ErrInvalidConfig", err)
	}
}

// TestGoalSLOAlert: attempts that all fail page once both windows of the
// 1h/5m condition saw MinEvents of them; two hours later, attempts that
// all convert fill those windows, and the page stops while the longer
// windows still hold the failures.
func TestGoalSLOAlert(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0)
	s := slo.SLO{Name: "signup", Objective: 0.99, SLI: slo.GoalConversion{Goal: "signup"}}
	g := closingGoal(t, "signup", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now), customer.WithSLOs(s))
	ctx := context.Background()
	page := sloKey(slo.MetricAlert, s.Name, slo.KeySeverity+"=page")
	ratio5m := sloKey(slo.MetricErrorRatio, s.Name, slo.KeyWindow+"=5m")

	n := s.MinEventsOrDefault()
	for i := range n - 1 {
		g.Expose(ctx, fmt.Sprint("fail", i))
	}
	if p := h.points(t); p[page] != 0 || p[ratio5m] != 1 {
		t.Errorf("%d failing attempts, under MinEvents: page %v, 5m error ratio %v; want 0 and 1", n-1, p[page], p[ratio5m])
	}
	g.Expose(ctx, fmt.Sprint("fail", n-1))
	if p := h.points(t); p[page] != 1 {
		t.Errorf("%d failing attempts: page %v, want 1", n, p[page])
	}
	if st := g.SLOStatus(); !st[0].Page {
		t.Errorf("SLOStatus: Page false after %d failing attempts", n)
	}

	clk.Set(t0.Add(2 * time.Hour))
	h.points(t) // a collection: the counts so far are before the windows of 1h and 5m
	for i := range n {
		u := fmt.Sprint("ok", i)
		g.Expose(ctx, u)
		g.Convert(ctx, u)
	}
	p := h.points(t)
	if p[page] != 0 || p[ratio5m] != 0 {
		t.Errorf("%d converting attempts: page %v, 5m error ratio %v; want 0 and 0", n, p[page], p[ratio5m])
	}
	if got := p[sloKey(slo.MetricErrorRatio, s.Name, slo.KeyWindow+"=6h")]; got != 0.5 {
		t.Errorf("6h error ratio %v, want 0.5", got)
	}
	st := g.SLOStatus()[0]
	if w, _ := st.Window(5 * time.Minute); st.Page || w.Events != int64(n) || w.Bad != 0 {
		t.Errorf("SLOStatus: Page %v, 5m window %+v; want no page, %d events, none bad", st.Page, w, n)
	}
}

// TestGoalSLOAfterClose: a closed goal keeps reporting its SLO metrics at
// their last values, as its other metrics, and SLOStatus still answers.
func TestGoalSLOAfterClose(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0)
	s := slo.SLO{Name: "checkout-paid", Objective: 0.8, SLI: slo.GoalConversion{Goal: "checkout"}}
	g := mustGoal(t, "checkout", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now), customer.WithSLOs(s))
	ctx := context.Background()
	for i := range 10 {
		u := fmt.Sprint("u", i)
		g.Expose(ctx, u)
		if i < 7 {
			g.Convert(ctx, u)
		}
	}
	before := h.points(t)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g.Expose(ctx, "late") // dropped: closed
	clk.Set(t0.Add(time.Minute))
	after := h.points(t)
	if diff := cmp.Diff(wantSLOPoints(s, 7, 10, false, true), only(after, "slo."), approx); diff != "" {
		t.Errorf("slo points after Close (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(only(before, "slo."), only(after, "slo.")); diff != "" {
		t.Errorf("slo points changed by Close (-before +after):\n%s", diff)
	}
	if st := g.SLOStatus(); len(st) != 1 || st[0].Good != 7 || st[0].Total != 10 {
		t.Errorf("SLOStatus after Close = %+v, want 7 good of 10", st)
	}
}

// TestGoalSLORedis: two replicas of a goal in Redis count the global
// attempts. The first reading seeds the windows: it happens before the
// events here, so that they are in every window.
func TestGoalSLORedis(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock(t0)
	s := slo.SLO{Name: "checkout-paid", Objective: 0.8, SLI: slo.GoalConversion{Goal: "checkout"}}
	var hs [2]*harness
	var gs [2]*customer.Goal
	for i := range gs {
		hs[i] = newHarness(t)
		gs[i] = closingGoal(t, "checkout", customer.WithMeterProvider(hs[i].mp), customer.WithClock(clk.Now),
			customer.WithState(redisState(t, srv.Addr())), customer.WithSegments("variant"), customer.WithSLOs(s))
		if st := gs[i].SLOStatus(); len(st) != 1 || st[0].Total != 0 {
			t.Fatalf("replica %d: SLOStatus before any event = %+v", i, st)
		}
	}
	ctx := context.Background()
	for i := range 10 {
		u := fmt.Sprint("u", i)
		gs[i%2].Expose(ctx, u, []string{"A", "B"}[i%2])
	}
	flushAll(t, gs[0], gs[1])
	for i := range 7 {
		gs[(i+1)%2].Convert(ctx, fmt.Sprint("u", i)) // on the other replica
	}
	flushAll(t, gs[0], gs[1])
	for i, h := range hs {
		p := h.points(t)
		if diff := cmp.Diff(wantSLOPoints(s, 7, 10, false, true), only(p, "slo."), approx); diff != "" {
			t.Errorf("replica %d: slo points (-want +got):\n%s", i, diff)
		}
		if st := gs[i].SLOStatus(); len(st) != 1 || st[0].Good != 7 || st[0].Total != 10 {
			t.Errorf("replica %d: SLOStatus = %+v, want 7 good of 10", i, st)
		}
	}
	if err := gs[0].Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantSLOPoints(s, 7, 10, false, true), only(hs[0].points(t), "slo."), approx); diff != "" {
		t.Errorf("closed replica: slo points (-want +got):\n%s", diff)
	}
	if st := gs[0].SLOStatus(); len(st) != 1 || st[0].Good != 7 || st[0].Total != 10 {
		t.Errorf("closed replica: SLOStatus = %+v, want the last counts, 7 good of 10", st)
	}
}

// TestGoalSLOSnapshotSeeds: the counts a goal restores from its snapshot
// are in slo.events and slo.good_events but in no window: they are not
// events of this process's windows.
func TestGoalSLOSnapshotSeeds(t *testing.T) {
	path := t.TempDir() + "/goal.state"
	clk := newClock(t0)
	s := slo.SLO{Name: "checkout-paid", Objective: 0.8, SLI: slo.GoalConversion{Goal: "checkout"}}
	ctx := context.Background()
	first := mustGoal(t, "checkout", customer.WithMeterProvider(newHarness(t).mp), customer.WithClock(clk.Now),
		customer.WithSnapshot(path, 0), customer.WithSLOs(s))
	for i := range 10 {
		u := fmt.Sprint("u", i)
		first.Expose(ctx, u)
		if i < 7 {
			first.Convert(ctx, u)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t)
	g := closingGoal(t, "checkout", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithSnapshot(path, 0), customer.WithSLOs(s))
	p := h.points(t)
	if ev, good := p[sloKey(slo.MetricEvents, s.Name)], p[sloKey(slo.MetricGoodEvents, s.Name)]; ev != 10 || good != 7 {
		t.Errorf("restored: slo.events %v, slo.good_events %v; want 10 and 7", ev, good)
	}
	if got := only(p, slo.MetricErrorRatio); len(got) != 0 {
		t.Errorf("restored counts in the windows: %v", got)
	}
	if got := p[sloKey(slo.MetricBudgetRemaining, s.Name)]; got != 1 {
		t.Errorf("restored: budget remaining %v, want 1", got)
	}
	g.Expose(ctx, "new")
	st := g.SLOStatus()[0]
	if w, _ := st.Window(5 * time.Minute); st.Total != 11 || w.Events != 1 || w.Bad != 1 {
		t.Errorf("SLOStatus: total %d, 5m window %+v; want 11, and 1 event, bad", st.Total, w)
	}
}

// TestGoalSLOConcurrent: SLOStatus and collections run while users are
// exposed and convert; the final counts are exact (and the race detector
// sees no race).
func TestGoalSLOConcurrent(t *testing.T) {
	h := newHarness(t)
	s := slo.SLO{Name: "c", Objective: 0.5, SLI: slo.GoalConversion{Goal: "c"}}
	g := closingGoal(t, "c", customer.WithMeterProvider(h.mp), customer.WithClock(newClock(t0).Now), customer.WithSLOs(s))
	ctx := context.Background()
	const workers, users = 4, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range users {
				u := fmt.Sprint(w, "-", i)
				g.Expose(ctx, u)
				if i%2 == 0 {
					g.Convert(ctx, u)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			for _, st := range g.SLOStatus() {
				if st.Good > st.Total {
					t.Errorf("SLOStatus: %d good of %d", st.Good, st.Total)
				}
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			var rm metricdata.ResourceMetrics
			if err := h.reader.Collect(ctx, &rm); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	st := g.SLOStatus()
	if st[0].Good != workers*users/2 || st[0].Total != workers*users {
		t.Errorf("SLOStatus: %d good of %d, want %d of %d", st[0].Good, st[0].Total, workers*users/2, workers*users)
	}
	if p := h.points(t); p[sloKey(slo.MetricEvents, s.Name)] != workers*users {
		t.Errorf("slo.events %v, want %d", p[sloKey(slo.MetricEvents, s.Name)], workers*users)
	}
}
