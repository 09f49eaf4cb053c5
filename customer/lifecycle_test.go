package customer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kpikit/kpikit/customer"
)

// lifeEvent is one recording call of the lifecycle tests.
type lifeEvent struct {
	at     time.Time
	user   string
	signup time.Time // zero: first-seen cohort
	kind   int       // 0 active, 1 purchase, 2 refund
}

func (e lifeEvent) apply(ctx context.Context, a *customer.Activity) {
	switch e.kind {
	case 0:
		a.ActiveAt(ctx, e.at, e.user, e.signup)
	case 1:
		a.PurchaseAt(ctx, e.at, e.user, e.signup, "USD", 250)
	default:
		a.RefundAt(ctx, e.at, e.user, e.signup, "USD", 100)
	}
}

// lifeSpec is the calendar of a lifecycle test: periods numbered from 0,
// the period that starts at start, in UTC.
type lifeSpec struct {
	name    string
	period  customer.Period
	horizon int
	start   time.Time
}

// periodStart returns the start of period q.
func (s lifeSpec) periodStart(q int) time.Time {
	switch s.period {
	case customer.Day:
		return s.start.AddDate(0, 0, q)
	case customer.Week:
		return s.start.AddDate(0, 0, 7*q)
	}
	return s.start.AddDate(0, q, 0)
}

// periodOf returns the period of t.
func (s lifeSpec) periodOf(t time.Time) int {
	q := 0
	for ; !t.Before(s.periodStart(q + 1)); q++ {
	}
	for ; t.Before(s.periodStart(q)); q-- {
	}
	return q
}

// label returns the period attribute of period q.
func (s lifeSpec) label(q int) string {
	t := s.periodStart(q)
	switch s.period {
	case customer.Day:
		return t.Format("2006-01-02")
	case customer.Week:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	}
	return t.Format("2006-01")
}

// now is the clock of the test: an hour before the end of the last period
// of the horizon.
func (s lifeSpec) now() time.Time { return s.periodStart(s.horizon).Add(-time.Hour) }

func (s lifeSpec) options(h *harness, extra ...customer.Option) []customer.Option {
	now := s.now()
	return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithLifecycle(),
		customer.WithPeriod(s.period), customer.WithHorizon(s.horizon), customer.WithCurrencies("USD"),
		customer.WithClock(func() time.Time { return now })}, extra...)
}

func dayOf(t time.Time) int { return int(t.Unix() / 86400) }

var lifeSpecs = []lifeSpec{
	{"weekly", customer.Week, 12, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
	{"daily", customer.Day, 100, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	{"monthly", customer.Month, 8, time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)},
}

// lifeEvents returns the events of n users over the horizon of s, in an
// order shuffled by seed: half the users give a signup time (in a period
// up to 3 before the horizon and not after their first event), half have
// a first-seen cohort. Each user is active in runs of periods with gaps,
// once to three times per period on random days; one event in ten is a
// purchase, one in twenty a refund. The last period of the horizon has an
// event.
func lifeEvents(s lifeSpec, seed uint64, n int) []lifeEvent {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []lifeEvent
	at := func(q int) time.Time {
		from, to := s.periodStart(q), s.periodStart(q+1)
		return from.Add(time.Duration(r.Int64N(int64(to.Sub(from)))))
	}
	for u := range n {
		user := fmt.Sprint("user-", u)
		var periods []int
		active := r.IntN(2) == 0
		stay := 0.5 + r.Float64()/2 // chance to stay in the same state
		for q := range s.horizon {
			if active {
				periods = append(periods, q)
			}
			if r.Float64() > stay {
				active = !active
			}
		}
		if len(periods) == 0 {
			periods = append(periods, r.IntN(s.horizon))
		}
		var signup time.Time
		if u%2 == 0 {
			signup = at(periods[0] - r.IntN(4))
		}
		for _, q := range periods {
			for range 1 + r.IntN(3) {
				e := lifeEvent{at: at(q), user: user, signup: signup}
				switch x := r.IntN(20); {
				case x < 2:
					e.kind = 1
				case x < 3:
					e.kind = 2
				}
				out = append(out, e)
			}
		}
	}
	out = append(out, lifeEvent{at: s.periodStart(s.horizon - 1), user: "last", signup: s.periodStart(s.horizon - 1)})
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// lifeRef is what the reference computes: the lifecycle and stickiness
// points, and the drops user_cap and lifecycle_late.
type lifeRef struct {
	points           map[string]float64
	userCap, late    int
	tracked, dropped int
}

// lifeReference computes with plain maps what an activity with
// WithLifecycle and WithMaxUsers(maxUsers) reports after events, in their
// order: per user its cohort (the period of its signup time, or that of
// its first event), its active periods and its active days, under the
// definitions of PostHog's lifecycle (new: active in the cohort's period;
// returning: active in the period and the one before; resurrecting:
// active in the period and not the one before, cohort earlier; dormant:
// active in the period before and not in the period, negative) and of the
// stickiness distribution (users by days active in the last 7 and 30
// days).
//
// Arrival order matters only where the activity's own rules say so: the
// first-seen cohort is the period of a user's first event to arrive (an
// event before it is dropped), the cap takes the first users to arrive,
// and an activity 63 periods or more before the latest one of its user
// is not classified (lifecycle_late).
func lifeReference(s lifeSpec, events []lifeEvent, maxUsers int) lifeRef {
	type user struct {
		cohort  int
		latest  int // latest classified period; -1 << 30 before any
		periods map[int]bool
		days    map[int]bool
	}
	users := map[string]*user{}
	ref := lifeRef{points: map[string]float64{}}
	top, dayTop := -1<<30, -1<<30
	for _, e := range events {
		q, d := s.periodOf(e.at), dayOf(e.at)
		u := users[e.user]
		c := q
		if !e.signup.IsZero() {
			c = s.periodOf(e.signup)
		} else if u != nil {
			c = u.cohort
		}
		if c > q {
			ref.dropped++ // before_cohort
			continue
		}
		if u == nil && e.kind != 2 {
			if len(users) < maxUsers {
				u = &user{cohort: c, latest: -1 << 30, periods: map[int]bool{}, days: map[int]bool{}}
				users[e.user] = u
			} else {
				ref.userCap++
			}
		}
		top = max(top, q)
		if e.kind == 2 || u == nil {
			continue
		}
		dayTop = max(dayTop, d)
		if u.latest-q >= 63 {
			ref.late++
			continue
		}
		u.latest = max(u.latest, q)
		u.periods[q] = true
		u.days[d] = true
	}
	ref.tracked = len(users)
	lo := top - s.horizon + 1
	for q := lo; q <= top; q++ {
		var n [4]int // new, returning, resurrecting, dormant
		for _, u := range users {
			switch {
			case u.periods[q] && u.cohort == q:
				n[0]++
			case u.periods[q] && u.periods[q-1]:
				n[1]++
			case u.periods[q]:
				n[2]++
			case u.periods[q-1]:
				n[3]--
			}
		}
		if q == lo {
			n[3] = 0
		}
		if n == [4]int{} {
			continue
		}
		for i, status := range []string{"new", "returning", "resurrecting", "dormant"} {
			if i < 3 || q > lo {
				ref.points[lifecycleKey(s.label(q), status)] = float64(n[i])
			}
		}
	}
	if dayTop > -1<<30 {
		end := max(dayOf(s.now()), dayTop)
		for _, w := range []int{7, 30} {
			counts := make([]int, w+1)
			for _, u := range users {
				k := 0
				for d := range u.days {
					if d > end-w && d <= end {
						k++
					}
				}
				counts[k]++
			}
			for k := 1; k <= w; k++ {
				ref.points[activeDaysKey(w, k)] = float64(counts[k])
			}
		}
	}
	return ref
}

func lifecycleKey(label, status string) string {
	return customer.MetricActiveLifecycle + "{activity=app,lifecycle.status=" + status + ",period=" + label + "}"
}

func activeDaysKey(window, days int) string {
	return fmt.Sprintf("%s{active.days=%d,active.window=%dd,activity=app}", customer.MetricActiveDays, days, window)
}

// lifePoints keeps the lifecycle and stickiness points of p.
func lifePoints(p map[string]float64) map[string]float64 {
	out := only(p, customer.MetricActiveLifecycle+"{")
	for k, v := range only(p, customer.MetricActiveDays+"{") {
		out[k] = v
	}
	return out
}

// lifeMetrics keeps the lifecycle and stickiness metrics of rm.
func lifeMetrics(rm metricdata.ResourceMetrics) []metricdata.Metrics {
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == customer.MetricActiveLifecycle || m.Name == customer.MetricActiveDays {
				out = append(out, m)
			}
		}
	}
	return out
}

func newLifeActivity(t testing.TB, s lifeSpec, h *harness, extra ...customer.Option) *customer.Activity {
	t.Helper()
	a, err := customer.NewActivity("app", s.options(h, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// TestLifecycleReference compares the lifecycle and stickiness an
// activity reports with the reference computation, for weekly, daily and
// monthly periods and several seeds, the events of each user arriving out
// of order. The daily horizon of 100 days lets events arrive more than 63
// periods behind their user's latest one (lifecycle_late).
func TestLifecycleReference(t *testing.T) {
	ctx := context.Background()
	for _, s := range lifeSpecs {
		for seed := range uint64(4) {
			t.Run(fmt.Sprint(s.name, "/seed=", seed), func(t *testing.T) {
				events := lifeEvents(s, seed, 300)
				want := lifeReference(s, events, customer.DefaultMaxUsers)
				h := newHarness(t)
				a := newLifeActivity(t, s, h)
				for _, e := range events {
					e.apply(ctx, a)
				}
				p := h.points(t)
				if diff := cmp.Diff(want.points, lifePoints(p)); diff != "" {
					t.Errorf("lifecycle and stickiness (-reference +activity):\n%s", diff)
				}
				late := p[droppedKey("customer.activity", "lifecycle_late")]
				if late != float64(want.late) {
					t.Errorf("lifecycle_late = %v, want %d", late, want.late)
				}
				if s.horizon > 63 && want.late == 0 {
					t.Error("no event was lifecycle_late: the test does not reach the bitmap's end")
				}
				if got := p[droppedKey("customer.activity", "before_cohort")]; got != float64(want.dropped) {
					t.Errorf("before_cohort = %v, want %d", got, want.dropped)
				}
				if got := p[customer.MetricActivityTrackedUsers+"{activity=app}"]; got != float64(want.tracked) {
					t.Errorf("tracked users = %v, want %d", got, want.tracked)
				}
			})
		}
	}
}

// withSignup keeps the events of users recorded with a signup time.
func withSignup(events []lifeEvent) []lifeEvent {
	var out []lifeEvent
	for _, e := range events {
		if !e.signup.IsZero() {
			out = append(out, e)
		}
	}
	return out
}

// TestLifecycleOrder feeds the same events in time order and shuffled:
// the figures are the same, as long as no event is beyond the bitmap and
// the first-seen cohorts do not change (every user has a signup time).
func TestLifecycleOrder(t *testing.T) {
	ctx := context.Background()
	s := lifeSpecs[0]
	events := withSignup(lifeEvents(s, 11, 200))
	ordered := slices.Clone(events)
	slices.SortStableFunc(ordered, func(a, b lifeEvent) int { return a.at.Compare(b.at) })
	var got [2]map[string]float64
	for i, evs := range [][]lifeEvent{ordered, events} {
		h := newHarness(t)
		a := newLifeActivity(t, s, h)
		for _, e := range evs {
			e.apply(ctx, a)
		}
		got[i] = lifePoints(h.points(t))
	}
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Errorf("time order vs shuffled (-ordered +shuffled):\n%s", diff)
	}
	if want := lifeReference(s, ordered, customer.DefaultMaxUsers); !cmp.Equal(want.points, got[0]) {
		t.Errorf("time order differs from the reference:\n%s", cmp.Diff(want.points, got[0]))
	}
}

// TestLifecycleConcurrent records the events of users with signup times
// from four goroutines at once, each user's events spread over them: the
// counters are the reference's, whatever the interleaving (run it with
// -race).
func TestLifecycleConcurrent(t *testing.T) {
	ctx := context.Background()
	s := lifeSpecs[0]
	events := withSignup(lifeEvents(s, 13, 400))
	want := lifeReference(s, events, customer.DefaultMaxUsers)
	h := newHarness(t)
	a := newLifeActivity(t, s, h)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(events); i += 4 {
				events[i].apply(ctx, a)
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(want.points, lifePoints(h.points(t))); diff != "" {
		t.Errorf("lifecycle and stickiness (-reference +activity):\n%s", diff)
	}
}

// TestLifecyclePostHog plays the examples of PostHog's lifecycle
// definitions on weekly periods: a user active in weeks 1, 2 and 4 is new
// in week 1 (its first week), returning in week 2 (active in the week
// before), dormant in week 3 (active in the week before, not in this one;
// a negative count) and resurrecting in week 4 (inactive in the week
// before, active at some earlier point). Events arrive in each order.
func TestLifecyclePostHog(t *testing.T) {
	ctx := context.Background()
	s := lifeSpec{"weekly", customer.Week, 6, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	at := func(w int) time.Time { return s.periodStart(w).Add(36 * time.Hour) }
	tests := []struct {
		name   string
		events []lifeEvent
		want   map[int][4]float64 // week: new, returning, resurrecting, dormant
	}{
		{"weeks 1 2 4 in order", []lifeEvent{{at: at(1), user: "ann"}, {at: at(2), user: "ann"}, {at: at(4), user: "ann"}},
			map[int][4]float64{1: {1, 0, 0, 0}, 2: {0, 1, 0, 0}, 3: {0, 0, 0, -1}, 4: {0, 0, 1, 0}}},
		{"weeks 1 2 4, week 2 last", []lifeEvent{{at: at(1), user: "ann"}, {at: at(4), user: "ann"}, {at: at(2), user: "ann"}},
			map[int][4]float64{1: {1, 0, 0, 0}, 2: {0, 1, 0, 0}, 3: {0, 0, 0, -1}, 4: {0, 0, 1, 0}}},
		{"signed up in week 0, active in weeks 3 then 2", []lifeEvent{
			{at: at(3), user: "bob", signup: at(0)}, {at: at(2), user: "bob", signup: at(0)}},
			// week 2: resurrecting (cohort earlier, not active in week 1);
			// week 3: first resurrecting, then returning once week 2 arrives.
			map[int][4]float64{2: {0, 0, 1, 0}, 3: {0, 1, 0, 0}}},
		{"two users, a refund is not activity", []lifeEvent{
			{at: at(1), user: "ann"}, {at: at(2), user: "cat", signup: at(1)}, {at: at(2), user: "ann", kind: 2},
			{at: at(3), user: "ann", kind: 1}, {at: at(3), user: "cat"}},
			map[int][4]float64{1: {1, 0, 0, 0}, 2: {0, 0, 1, -1}, 3: {0, 1, 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			a := newLifeActivity(t, s, h)
			for _, e := range tt.events {
				e.apply(ctx, a)
			}
			want := map[string]float64{}
			for w, n := range tt.want {
				for i, status := range []string{"new", "returning", "resurrecting", "dormant"} {
					want[lifecycleKey(s.label(w), status)] = n[i]
				}
			}
			got := only(h.points(t), customer.MetricActiveLifecycle+"{")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events %+v: lifecycle (-want +got):\n%s", tt.events, diff)
			}
		})
	}
}

// TestLifecycleStickiness: users by the number of days they were active
// in the rolling windows of 7 and 30 days that end today, repeats on one
// day counted once, days outside the window not at all.
func TestLifecycleStickiness(t *testing.T) {
	ctx := context.Background()
	s := lifeSpec{"daily", customer.Day, 60, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	today := s.periodStart(59).Add(10 * time.Hour)
	day := func(n int) time.Time { return today.AddDate(0, 0, -n) }
	h := newHarness(t)
	a := newLifeActivity(t, s, h)
	var none time.Time
	for _, n := range []int{0, 0, 1, 6, 7, 29, 40} { // ann: 3 days of 7, 5 of 30
		a.ActiveAt(ctx, day(n), "ann", day(50))
	}
	a.ActiveAt(ctx, day(3), "bob", day(50)) // 1 of 7, 1 of 30
	a.ActiveAt(ctx, day(12), "cat", none)   // 0 of 7, 1 of 30
	a.ActiveAt(ctx, day(45), "dan", none)   // none
	a.RefundAt(ctx, day(1), "dan", none, "USD", 5)
	want := map[string]float64{}
	for k := 1; k <= 7; k++ {
		want[activeDaysKey(7, k)] = 0
	}
	for k := 1; k <= 30; k++ {
		want[activeDaysKey(30, k)] = 0
	}
	want[activeDaysKey(7, 3)], want[activeDaysKey(7, 1)] = 1, 1
	want[activeDaysKey(30, 5)], want[activeDaysKey(30, 1)] = 1, 2
	if diff := cmp.Diff(want, only(h.points(t), customer.MetricActiveDays+"{")); diff != "" {
		t.Errorf("stickiness (-want +got):\n%s", diff)
	}
}

// TestLifecycleUserCap: with WithMaxUsers(10) and 20 users, the events of
// the 10 users that arrived last are counted as user_cap, once each,
// whatever their kind and whether they give a signup time, and the
// figures are the reference's over the 10 tracked users.
func TestLifecycleUserCap(t *testing.T) {
	ctx := context.Background()
	s := lifeSpecs[0]
	events := lifeEvents(s, 3, 20)
	events = slices.DeleteFunc(events, func(e lifeEvent) bool { return e.user == "last" })
	want := lifeReference(s, events, 10)
	if want.tracked != 10 || want.userCap == 0 {
		t.Fatalf("reference: %d tracked, %d user_cap; want 10 and some", want.tracked, want.userCap)
	}
	h := newHarness(t)
	a := newLifeActivity(t, s, h, customer.WithMaxUsers(10))
	for _, e := range events {
		e.apply(ctx, a)
	}
	p := h.points(t)
	if got := p[droppedKey("customer.activity", "user_cap")]; got != float64(want.userCap) {
		t.Errorf("user_cap = %v, want %d", got, want.userCap)
	}
	if diff := cmp.Diff(want.points, lifePoints(p)); diff != "" {
		t.Errorf("lifecycle and stickiness (-reference over 10 users +activity):\n%s", diff)
	}
	if got := p[customer.MetricActivityTrackedUsers+"{activity=app}"]; got != 10 {
		t.Errorf("tracked users = %v, want 10", got)
	}
}

// TestLifecycleSnapshot restarts an activity from its snapshot: every
// figure comes back, and the events that follow give what an activity
// that never restarted gives, late events included.
func TestLifecycleSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, s := range lifeSpecs[:2] {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "activity.snap")
			events := lifeEvents(s, 5, 300)
			half := len(events) / 2
			hs := newHarness(t)
			straight := newLifeActivity(t, s, hs)
			h1 := newHarness(t)
			a1 := newLifeActivity(t, s, h1, customer.WithSnapshot(path, time.Hour))
			for _, e := range events[:half] {
				e.apply(ctx, a1)
				e.apply(ctx, straight)
			}
			want := h1.collect(t)
			if err := a1.Close(); err != nil {
				t.Fatal(err)
			}
			h2 := newHarness(t)
			a2 := newLifeActivity(t, s, h2, customer.WithSnapshot(path, time.Hour))
			got := h2.collect(t)
			// The lifecycle metrics whole, then every point of every
			// customer metric (thousands of retention points: compared as
			// a map).
			wm, gm := lifeMetrics(want), lifeMetrics(got)
			if len(wm) != 2 || len(gm) != 2 {
				t.Fatalf("lifecycle metrics: %d before, %d after loading; want 2", len(wm), len(gm))
			}
			for i := range wm {
				metricdatatest.AssertEqual(t, wm[i], gm[i], metricdatatest.IgnoreTimestamp())
			}
			if diff := cmp.Diff(only(flatten(want), "customer."), only(flatten(got), "customer.")); diff != "" {
				t.Errorf("after loading (-written +loaded):\n%s", diff)
			}
			if n := len(lifePoints(flatten(got))); n < 20 {
				t.Errorf("only %d lifecycle points after loading", n)
			}
			for _, e := range events[half:] {
				e.apply(ctx, a2)
				e.apply(ctx, straight)
			}
			if diff := cmp.Diff(only(hs.points(t), "customer."), only(h2.points(t), "customer.")); diff != "" {
				t.Errorf("after the second half (-never restarted +restarted):\n%s", diff)
			}
			if diff := cmp.Diff(lifeReference(s, events, customer.DefaultMaxUsers).points, lifePoints(h2.points(t))); diff != "" {
				t.Errorf("after restart (-reference +activity):\n%s", diff)
			}
		})
	}
}

// TestLifecycleSnapshotCompat: a snapshot written without WithLifecycle
// loads into an activity with it (no lifecycle state: the first-seen
// cohorts only), and one written with it loads into an activity without
// it (the lifecycle section is skipped); every other figure is the same
// (but the tracked users: without WithLifecycle, only those without a
// signup time are held).
func TestLifecycleSnapshotCompat(t *testing.T) {
	ctx := context.Background()
	s := lifeSpecs[0]
	events := lifeEvents(s, 9, 200)
	for _, tt := range []struct {
		name        string
		write, read bool // WithLifecycle
	}{
		{"without, then with", false, true},
		{"with, then without", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "activity.snap")
			opts := func(h *harness, life bool) []customer.Option {
				o := s.options(h, customer.WithSnapshot(path, time.Hour))
				if !life {
					o = slices.Delete(o, 1, 2) // WithLifecycle
				}
				return o
			}
			h1 := newHarness(t)
			a1, err := customer.NewActivity("app", opts(h1, tt.write)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				e.apply(ctx, a1)
			}
			want := withoutLife(h1.points(t))
			before := droppedKey("customer.activity", "before_cohort")
			if want[before] == 0 {
				t.Fatal("no event before its first-seen cohort")
			}
			if err := a1.Close(); err != nil {
				t.Fatal(err)
			}
			errs := captureErrors(t)
			h2 := newHarness(t)
			a2, err := customer.NewActivity("app", opts(h2, tt.read)...)
			if err != nil {
				t.Fatal(err)
			}
			defer a2.Close()
			if e := errs(); len(e) != 0 {
				t.Fatalf("loading reported %v", e)
			}
			p := h2.points(t)
			for k, v := range lifePoints(p) {
				if v != 0 || !tt.read || !strings.HasPrefix(k, customer.MetricActiveDays) {
					t.Errorf("after loading %s = %v, want no lifecycle and users by active days at 0", k, v)
				}
			}
			delete(want, before) // counted by the process, not kept
			if diff := cmp.Diff(want, withoutLife(p)); diff != "" {
				t.Errorf("after loading (-written +loaded):\n%s", diff)
			}
			// The first-seen cohorts came back: the same events again drop
			// what they drop in an activity that was not restarted.
			hs := newHarness(t)
			straight := newLifeActivity(t, s, hs)
			for _, e := range events {
				e.apply(ctx, straight)
			}
			first := hs.points(t)[before]
			for _, e := range events {
				e.apply(ctx, a2)
				e.apply(ctx, straight)
			}
			if got, want := h2.points(t)[before], hs.points(t)[before]-first; got != want {
				t.Errorf("%s = %v after the events again, want %v", before, got, want)
			}
		})
	}
}

// withoutLife is p without the lifecycle and stickiness points and
// without the drop reasons at 0 (lifecycle_late exists only with
// WithLifecycle).
func withoutLife(p map[string]float64) map[string]float64 {
	out := withoutZeroDrops(p)
	for k := range lifePoints(p) {
		delete(out, k)
	}
	// With WithLifecycle every user is held, without it only those
	// without a signup time.
	delete(out, customer.MetricActivityTrackedUsers+"{activity=app}")
	return out
}

// TestLifecycleClose: after Close the activity reports its last lifecycle
// and stickiness figures.
func TestLifecycleClose(t *testing.T) {
	ctx := context.Background()
	s := lifeSpecs[0]
	h := newHarness(t)
	a := newLifeActivity(t, s, h)
	for _, e := range lifeEvents(s, 2, 50) {
		e.apply(ctx, a)
	}
	want := h.points(t)
	if len(lifePoints(want)) < 20 {
		t.Fatalf("only %d lifecycle points", len(lifePoints(want)))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.ActiveAt(ctx, s.now(), "late", time.Time{})
	got := h.points(t)
	if diff := cmp.Diff(lifePoints(want), lifePoints(got)); diff != "" {
		t.Errorf("after Close (-before +after):\n%s", diff)
	}
}

// TestLifecycleOff: without WithLifecycle no lifecycle metric and no
// lifecycle_late reason is reported.
func TestLifecycleOff(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return week(2) }))
	a.ActiveAt(ctx, week(1), "u", time.Time{})
	for k := range h.points(t) {
		if strings.Contains(k, "lifecycle") || strings.HasPrefix(k, customer.MetricActiveDays) {
			t.Errorf("reported %s without WithLifecycle", k)
		}
	}
}

// TestLifecycleConfig: WithLifecycle is an error with WithState, where the
// lifecycle is not kept, and for funnels and goals.
func TestLifecycleConfig(t *testing.T) {
	tests := []struct {
		name string
		new  func() error
		want []string
	}{
		{"activity with WithState", func() error {
			_, err := customer.NewActivity("x", customer.WithLifecycle(), redisOpt(t, "localhost:1"))
			return err
		}, []string{"WithLifecycle", "WithState", "shared state"}},
		{"funnel", func() error {
			_, err := customer.NewFunnel("f", []string{"a", "b"}, customer.WithLifecycle())
			return err
		}, []string{"WithLifecycle does not apply to funnels and goals"}},
		{"goal", func() error {
			_, err := customer.NewGoal("g", customer.WithLifecycle())
			return err
		}, []string{"WithLifecycle does not apply to funnels and goals"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.new()
			if err == nil || !errors.Is(err, customer.ErrInvalidConfig) {
				t.Fatalf("%s: error %v, want one wrapping ErrInvalidConfig", tt.name, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not say %q", tt.name, err, w)
				}
			}
		})
	}
}

// TestLifecycleDroppedReasons: with WithLifecycle an activity reports
// lifecycle_late at 0 from its construction, besides its other reasons.
func TestLifecycleDroppedReasons(t *testing.T) {
	h := newHarness(t)
	newLifeActivity(t, lifeSpecs[0], h)
	p := h.points(t)
	key := droppedKey("customer.activity", "lifecycle_late")
	if v, ok := p[key]; !ok || v != 0 {
		t.Errorf("%s = %v (reported %v), want 0", key, v, ok)
	}
}

// TestLifecycleAllocs: recording for a user already tracked allocates
// nothing with WithLifecycle, in a new period of the user and on a new
// day too.
func TestLifecycleAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ctx := context.Background()
	s := lifeSpecs[1]
	h := newHarness(t)
	a := newLifeActivity(t, s, h)
	var none time.Time
	signup := s.periodStart(0)
	users, signed := userIDs(1000), make([]string, 1000)
	for i := range signed {
		signed[i] = "signup-" + users[i]
		for q := s.horizon - 10; q < s.horizon; q++ {
			a.ActiveAt(ctx, s.periodStart(q), users[i], none)
			a.ActiveAt(ctx, s.periodStart(q), signed[i], signup)
		}
	}
	last := s.periodStart(s.horizon - 1)
	i := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"ActiveAt first-seen", func() { a.ActiveAt(ctx, last, users[1], none) }},
		{"ActiveAt signup", func() { a.ActiveAt(ctx, last, signed[1], signup) }},
		{"PurchaseAt first-seen", func() { a.PurchaseAt(ctx, last, users[2], none, "USD", 100) }},
		{"PurchaseAt signup", func() { a.PurchaseAt(ctx, last, signed[2], signup, "USD", 100) }},
		{"ActiveAt late, reclassifying", func() { // each call a user's new period, before its others
			a.ActiveAt(ctx, s.periodStart(s.horizon-12), signed[i], signup)
			i++
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got > 0 {
				t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
			}
		})
	}
}
