package customer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// periodEvent is one event of a stream for the figures by entry period:
// a step (step >= 0) or an exclusion (excl >= 0).
type periodEvent struct {
	user       string
	at         time.Time
	step, excl int
	plan       string
}

// periodStream is a random stream for a funnel with figures by entry day.
type periodStream struct {
	seed   uint64
	order  customer.Order
	window time.Duration
	steps  []string
	excl   [][2]int // from, to
	events []periodEvent
	// flush, with a shared state, writes the buffered events each time
	// the stream enters a new hour, so that a user's entries are written
	// and read back between their events, not only within one batch.
	flush bool
}

var periodStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func newPeriodStream(seed uint64, order customer.Order, withExcl bool) *periodStream {
	r := rand.New(rand.NewPCG(seed, 15))
	s := &periodStream{seed: seed, order: order, steps: []string{"visit", "search", "cart", "pay"}}
	s.window = []time.Duration{90 * time.Minute, 6 * time.Hour, 26 * time.Hour, 3 * 24 * time.Hour}[r.IntN(4)]
	if withExcl {
		s.excl = [][2]int{{0, 2}, {2, 3}}
	}
	users := 5 + r.IntN(40)
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		seen := map[int64]bool{}
		at := periodStart.Add(time.Duration(r.IntN(6*24*60)) * time.Minute)
		for range 1 + r.IntN(30) {
			// Mostly short gaps, sometimes exactly a window (the edge is
			// inclusive), sometimes days.
			switch r.IntN(10) {
			case 0:
				at = at.Add(s.window)
			case 1:
				at = at.Add(time.Duration(r.IntN(3*24*60)) * time.Minute)
			default:
				at = at.Add(time.Duration(1+r.IntN(120)) * time.Minute)
			}
			if seen[at.UnixNano()] {
				continue
			}
			seen[at.UnixNano()] = true
			e := periodEvent{user: user, at: at, step: r.IntN(len(s.steps)), excl: -1, plan: []string{"free", "pro"}[r.IntN(2)]}
			if len(s.excl) > 0 && r.IntN(8) == 0 {
				e.step, e.excl = -1, r.IntN(len(s.excl))
			}
			s.events = append(s.events, e)
		}
	}
	slices.SortStableFunc(s.events, func(a, b periodEvent) int { return a.at.Compare(b.at) })
	return s
}

func (s *periodStream) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, order %v, window %v, exclusions %v\n", s.seed, s.order, s.window, s.excl)
	for _, e := range s.events {
		name := s.name(e)
		fmt.Fprintf(&b, "  %s %s %s %s\n", e.at.Format(time.DateTime), e.user, name, e.plan)
	}
	return b.String()
}

func periodKeyOf(steps []string, label, plan string, k int) string {
	kv := []string{"funnel=f", "funnel.step=" + steps[k], fmt.Sprintf("funnel.step.index=%d", k+1), "period=" + label, "plan=" + plan}
	slices.Sort(kv)
	return "customer.funnel.period.users{" + strings.Join(kv, ",") + "}"
}

// reference computes the users per step of every entry day with plain
// maps over each user's events, none of the package's code: for each user
// and each day with an entry, the events of the user in time order run
// through PostHog's funnel rules (its funnel UDF: the latest start per
// step, exclusion marks, strict clearing) with the day's first-step
// events as the only entries; in any order, the most distinct steps among
// the events within the window of one of the day's events.
func (s *periodStream) reference() map[string]float64 {
	byUser := map[string][]periodEvent{}
	for _, e := range s.events {
		byUser[e.user] = append(byUser[e.user], e)
	}
	out := map[string]float64{}
	w := s.window
	for _, evs := range byUser {
		days := map[string]string{} // entry day -> plan of its first entry
		for _, e := range evs {
			if e.step == 0 || (s.order == customer.Any && e.step >= 0) {
				if _, ok := days[e.at.Format(time.DateOnly)]; !ok {
					days[e.at.Format(time.DateOnly)] = e.plan
				}
			}
		}
		for day, plan := range days {
			var level int
			if s.order == customer.Any {
				level = anyLevel(evs, day, w, len(s.steps))
			} else {
				level = s.orderedLevel(evs, day)
			}
			for k := range s.steps {
				key := periodKeyOf(s.steps, day, plan, k)
				if k < level {
					out[key]++
				} else {
					out[key] += 0
				}
			}
		}
	}
	return out
}

// orderedLevel is the level of the user with events evs on entry day, by
// PostHog's rules, or 0 when its furthest chain is excluded.
func (s *periodStream) orderedLevel(evs []periodEvent, day string) int {
	n := len(s.steps)
	w := s.window
	entered := make([]time.Time, n)
	has := make([]bool, n)
	ex := make([]bool, n)
	maxL, maxEx := 0, false
	var maxT time.Time
	within := func(prev, t time.Time) bool { return !t.Before(prev) && t.Sub(prev) <= w }
	for _, e := range evs {
		if maxL == n && !maxEx {
			break
		}
		switch {
		case e.excl >= 0:
			r := s.excl[e.excl]
			for k := r[1]; k > r[0]; k-- {
				if has[k-1] && within(entered[k-1], e.at) && !(has[k] && entered[k].Equal(entered[k-1])) && !ex[k-1] {
					ex[k-1] = true
					if maxL == k && within(maxT, e.at) {
						maxEx = true
					}
				}
			}
		case e.step == 0:
			if e.at.Format(time.DateOnly) == day {
				entered[0], has[0], ex[0] = e.at, true, false
				if maxL < 1 || (maxL == 1 && maxEx) {
					maxL, maxT, maxEx = 1, e.at, false
				}
			}
		default:
			k := e.step
			if has[k-1] && within(entered[k-1], e.at) && !(has[k] && entered[k].Equal(entered[k-1])) {
				pe := ex[k-1]
				if !pe {
					entered[k], has[k], ex[k] = entered[k-1], true, false
				}
				if k+1 > maxL || (k+1 == maxL && maxEx) {
					maxL, maxT, maxEx = k+1, entered[k-1], pe
				}
			}
		}
		if s.order == customer.Strict {
			for j := range n {
				if j != e.step {
					has[j], ex[j] = false, false
				}
			}
		}
	}
	if maxEx {
		return 0
	}
	return maxL
}

// anyLevel is the most distinct steps among the events within the window
// [t, t+w] of one of the events on day.
func anyLevel(evs []periodEvent, day string, w time.Duration, n int) int {
	best := 0
	for _, s := range evs {
		if s.step < 0 || s.at.Format(time.DateOnly) != day {
			continue
		}
		steps := map[int]bool{}
		for _, e := range evs {
			if e.step >= 0 && !e.at.Before(s.at) && e.at.Sub(s.at) <= w {
				steps[e.step] = true
			}
		}
		best = max(best, len(steps))
	}
	return min(best, n)
}

// bruteLevel is the windowFunnel level of a sequential funnel without
// exclusions by its definition: the furthest step that one walk through
// the events reaches, over every start on day.
func bruteLevel(evs []periodEvent, day string, w time.Duration, n int) int {
	best := 0
	for i, s := range evs {
		if s.step != 0 || s.at.Format(time.DateOnly) != day {
			continue
		}
		next := 1
		for _, e := range evs[i+1:] {
			if e.at.Sub(s.at) > w {
				break
			}
			if e.step == next && next < n {
				next++
			}
		}
		best = max(best, next)
	}
	return best
}

// play feeds the stream into a funnel with figures by day and returns
// its users per step and entry day.
// name is the name an event is recorded with: its step's, or its
// exclusion's.
func (s *periodStream) name(e periodEvent) string {
	if e.step >= 0 {
		return s.steps[e.step]
	}
	return fmt.Sprintf("exclusion%d", e.excl)
}

// options are the options of a funnel with figures by day for the
// stream, reporting to h, clocked at its last event, with extra.
func (s *periodStream) options(h *harness, extra ...customer.Option) []customer.Option {
	last := s.events[len(s.events)-1].at
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithOrder(s.order),
		customer.WithWindow(s.window), customer.WithSegments("plan"),
		customer.WithPeriod(customer.Day), customer.WithHorizon(40),
		customer.WithClock(func() time.Time { return last })}
	for i, x := range s.excl {
		opts = append(opts, customer.WithExclusion(fmt.Sprintf("exclusion%d", i), s.steps[x[0]], s.steps[x[1]]))
	}
	return append(opts, extra...)
}

// playWith plays the stream into a funnel with the extra options, closes
// it, and returns what it reported last.
func (s *periodStream) playWith(t *testing.T, extra ...customer.Option) (map[string]float64, map[string]float64) {
	h := newHarness(t)
	f := mustFunnel(t, "f", s.steps, s.options(h, extra...)...)
	ctx := context.Background()
	for i, e := range s.events {
		if s.flush && i > 0 && !e.at.Truncate(time.Hour).Equal(s.events[i-1].at.Truncate(time.Hour)) {
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		f.StepAt(ctx, e.at, e.user, s.name(e), e.plan)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := h.points(t)
	return only(p, "customer.funnel.period.users"), nonzeroDrops(p)
}

// TestFunnelPeriodReference compares the figures by entry day with the
// reference on random streams, in every order, with and without
// exclusions; windows from 90 minutes to 3 days make entries span days
// and the recorder's old entries get pruned as the stream moves on.
func TestFunnelPeriodReference(t *testing.T) {
	checkPeriodReference(t, 60, nil)
}

// TestFunnelPeriodReferenceRedis is TestFunnelPeriodReference with the
// entries kept in Redis (WithState): its script applies the same rules.
func TestFunnelPeriodReferenceRedis(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	checkPeriodReference(t, 25, func(t *testing.T, seed uint64) []customer.Option {
		st, err := redisstate.New(client, redisstate.WithKeyPrefix(fmt.Sprintf("periods:%s:%d:", t.Name(), seed)))
		if err != nil {
			t.Fatal(err)
		}
		return []customer.Option{customer.WithState(st)}
	})
}

// checkPeriodReference plays seeds streams of every order, with and
// without exclusions, into funnels with the options of state (nil: in
// memory), and compares their figures with the reference.
func checkPeriodReference(t *testing.T, seeds uint64, state func(t *testing.T, seed uint64) []customer.Option) {
	for _, tc := range []struct {
		order customer.Order
		excl  bool
	}{{customer.Sequential, false}, {customer.Sequential, true}, {customer.Strict, false}, {customer.Strict, true}, {customer.Any, false}} {
		t.Run(fmt.Sprintf("%v/exclusions=%v", tc.order, tc.excl), func(t *testing.T) {
			failed := 0
			for seed := uint64(1); seed <= seeds && failed < 2; seed++ {
				s := newPeriodStream(seed, tc.order, tc.excl)
				want := s.reference()
				var opts []customer.Option
				if state != nil {
					opts = state(t, seed)
					s.flush = true
				}
				got, drops := s.playWith(t, opts...)
				if len(drops) != 0 {
					t.Errorf("seed %d: dropped %v", seed, drops)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					failed++
					t.Errorf("%v(-reference +recorder):\n%s", s, diff)
				}
			}
		})
	}
}

// TestFunnelPeriodReferenceBrute checks the reference itself: without
// exclusions, PostHog's rules give, for a sequential funnel, the furthest
// step of the best single walk from any entry, as ClickHouse's
// windowFunnel defines it.
func TestFunnelPeriodReferenceBrute(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		s := newPeriodStream(seed, customer.Sequential, false)
		byUser := map[string][]periodEvent{}
		for _, e := range s.events {
			byUser[e.user] = append(byUser[e.user], e)
		}
		for u, evs := range byUser {
			for _, e := range evs {
				day := e.at.Format(time.DateOnly)
				if got, want := s.orderedLevel(evs, day), bruteLevel(evs, day, s.window, len(s.steps)); e.step == 0 && got != want {
					t.Fatalf("seed %d user %s day %s: reference level %d, walk %d\n%v", seed, u, day, got, want, s)
				}
			}
		}
	}
}

// TestFunnelPeriodExamples plays the cases where counting users once per
// entry period differs from counting attempts.
func TestFunnelPeriodExamples(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	min := func(m int) time.Time { return day.Add(time.Duration(m) * time.Minute) }
	steps := []string{"visit", "search", "pay"}
	tests := []struct {
		name  string
		opts  []customer.Option
		play  [][2]string // minute, step
		users []float64   // by entry day, per step
		tries []float64   // attempts per step (customer.funnel.users)
	}{
		{
			// A repeated first step moves the window: PostHog and
			// windowFunnel count the conversion, attempts do not.
			name:  "sliding window",
			play:  [][2]string{{"0", "visit"}, {"9", "visit"}, {"12", "search"}},
			users: []float64{1, 1, 0},
			tries: []float64{1, 0, 0},
		},
		{
			// Two attempts in one day: two attempts, one user.
			name:  "user once",
			play:  [][2]string{{"0", "visit"}, {"5", "search"}, {"30", "visit"}, {"31", "search"}, {"32", "pay"}},
			users: []float64{1, 1, 1},
			tries: []float64{2, 2, 1},
		},
		{
			// The window is inclusive, as windowFunnel's and PostHog's.
			name:  "window edge",
			play:  [][2]string{{"0", "visit"}, {"10", "search"}},
			users: []float64{1, 1, 0},
			tries: []float64{1, 0, 0},
		},
		{
			// An exclusion between visit and pay takes the user out.
			name:  "exclusion",
			opts:  []customer.Option{customer.WithExclusion("coupon", "visit", "pay")},
			play:  [][2]string{{"0", "visit"}, {"1", "search"}, {"2", "coupon"}, {"3", "pay"}},
			users: []float64{0, 0, 0},
			tries: []float64{1, 1, 1},
		},
		{
			// A later clean window brings the user back at its level.
			name:  "exclusion then clean window",
			opts:  []customer.Option{customer.WithExclusion("coupon", "visit", "pay")},
			play:  [][2]string{{"0", "visit"}, {"1", "coupon"}, {"30", "visit"}, {"31", "search"}},
			users: []float64{1, 1, 0},
			tries: []float64{2, 1, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			opts := append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithWindow(10 * time.Minute),
				customer.WithPeriod(customer.Day), customer.WithClock(func() time.Time { return min(60) })}, tc.opts...)
			f := mustFunnel(t, "f", steps, opts...)
			defer f.Close()
			for _, e := range tc.play {
				m, _ := strconv.Atoi(e[0])
				f.StepAt(ctx, min(m), "u", e[1])
			}
			p := h.points(t)
			var users, tries []float64
			for k, s := range steps {
				users = append(users, p[fmt.Sprintf("customer.funnel.period.users{funnel.step.index=%d,funnel.step=%s,funnel=f,period=2026-03-02}", k+1, s)])
				tries = append(tries, p[fmt.Sprintf("customer.funnel.users{funnel.step.index=%d,funnel.step=%s,funnel=f}", k+1, s)])
			}
			if diff := cmp.Diff(tc.users, users); diff != "" {
				t.Errorf("users by entry day (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.tries, tries); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFunnelPeriodOptions checks the errors of the options of the
// figures by entry period.
func TestFunnelPeriodOptions(t *testing.T) {
	steps := []string{"visit", "search", "pay"}
	for _, tc := range []struct {
		opts []customer.Option
		want string
	}{
		{[]customer.Option{customer.WithHorizon(3)}, "WithHorizon applies to the figures by entry period: give WithPeriod too"},
		{[]customer.Option{customer.WithExclusion("coupon", "visit", "pay")}, "WithExclusion applies to the figures by entry period"},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithHorizon(0)}, "horizon 0 must be between 1 and 366"},
		{[]customer.Option{customer.WithPeriod(customer.Period(9))}, "unknown period"},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithOrder(customer.Any), customer.WithExclusion("x", "visit", "pay")}, "WithExclusion needs an ordered funnel"},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("search", "visit", "pay")}, `exclusion event "search" is a step`},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("x", "pay", "visit")}, `from step "pay" must come before to step "visit"`},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("x", "visit", "nope")}, `to step "nope" is not a step`},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("x", "visit", "pay"), customer.WithExclusion("x", "visit", "search")}, `exclusion event "x" given twice`},
		{[]customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("", "visit", "pay")}, `exclusion event "" is not valid`},
	} {
		_, err := customer.NewFunnel("f", steps, tc.opts...)
		if err == nil || !errors.Is(err, customer.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one wrapping ErrInvalidConfig that says %q", err, tc.want)
		}
	}
	if _, err := customer.NewGoal("g", customer.WithPeriod(customer.Day)); err == nil || !strings.Contains(err.Error(), "WithPeriod does not apply to NewGoal") {
		t.Errorf("goal with WithPeriod: %v", err)
	}
}

// TestFunnelPeriodSnapshot restarts a funnel from its snapshot in the
// middle of a stream: the figures by entry period, and the entries that
// the rest of the stream still changes, carry over exactly.
func TestFunnelPeriodSnapshot(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		for _, order := range []customer.Order{customer.Sequential, customer.Strict, customer.Any} {
			s := newPeriodStream(seed, order, order != customer.Any)
			want := s.reference()
			path := filepath.Join(t.TempDir(), "f.snap")
			half := len(s.events) / 2
			first := &periodStream{seed: s.seed, order: s.order, window: s.window, steps: s.steps, excl: s.excl, events: s.events[:half]}
			rest := &periodStream{seed: s.seed, order: s.order, window: s.window, steps: s.steps, excl: s.excl, events: s.events[half:]}
			if half == 0 {
				continue
			}
			first.playWith(t, customer.WithSnapshot(path, time.Hour))
			got, drops := rest.playWith(t, customer.WithSnapshot(path, time.Hour))
			if len(drops) != 0 {
				t.Errorf("seed %d: dropped %v", seed, drops)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%v(-reference +restarted recorder):\n%s", s, diff)
			}
		}
	}
}

// TestFunnelPeriodHorizon checks that entries older than the horizon are
// counted as beyond_horizon, and that a late event of a user already
// counted in its entry day does not count the user again.
func TestFunnelPeriodHorizon(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	day := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f := mustFunnel(t, "f", []string{"visit", "pay"}, customer.WithMeterProvider(h.mp), customer.WithWindow(72*time.Hour),
		customer.WithPeriod(customer.Day), customer.WithHorizon(2), customer.WithClock(func() time.Time { return day }))
	defer f.Close()
	f.StepAt(ctx, day, "a", "visit")
	f.StepAt(ctx, day.Add(-2*time.Hour), "b", "visit")  // same day, earlier: in order enough
	f.StepAt(ctx, day.Add(-48*time.Hour), "c", "visit") // two days before: beyond a horizon of 2
	f.StepAt(ctx, day.Add(-3*time.Hour), "a", "visit")  // late, same day: a counts once
	f.StepAt(ctx, day.Add(-24*time.Hour), "d", "visit") // the day before: kept
	f.StepAt(ctx, day.Add(time.Minute), "d", "pay")     // converts d in its entry day
	p := h.points(t)
	got := map[string]float64{}
	for k, v := range only(p, customer.MetricFunnelPeriodUsers) {
		got[strings.TrimPrefix(k, customer.MetricFunnelPeriodUsers)] = v
	}
	want := map[string]float64{
		"{funnel.step.index=1,funnel.step=visit,funnel=f,period=2026-03-09}": 1,
		"{funnel.step.index=2,funnel.step=pay,funnel=f,period=2026-03-09}":   1,
		"{funnel.step.index=1,funnel.step=visit,funnel=f,period=2026-03-10}": 2,
		"{funnel.step.index=2,funnel.step=pay,funnel=f,period=2026-03-10}":   0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users by entry day (-want +got):\n%s", diff)
	}
	if d := nonzeroDrops(p); d[`kpikit.dropped{kpikit.component=customer.funnel,reason=beyond_horizon}`] != 1 || len(d) != 1 {
		t.Errorf("dropped %v, want one beyond_horizon", d)
	}
}

// TestFunnelPeriodAllocs enforces the allocation budget of Step with
// figures by entry period: none for a user already tracked.
func TestFunnelPeriodAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ctx := context.Background()
	at := t0.Add(time.Minute)
	f := mustFunnel(t, "f", []string{"a", "b", "c"}, customer.WithMeterProvider(newHarness(t).mp),
		customer.WithClock(func() time.Time { return at }), customer.WithSegments("plan"),
		customer.WithPeriod(customer.Day), customer.WithExclusion("x", "a", "c"))
	defer f.Close()
	const runs = 200
	users := make([]string, runs+1)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
		f.StepAt(ctx, t0, users[i], "a", "pro")
	}
	next := 0
	for name, fn := range map[string]func(){
		"repeat":    func() { f.StepAt(ctx, at, "user-1", "a", "pro") },
		"advance":   func() { f.StepAt(ctx, at, users[next], "b"); next++ },
		"exclusion": func() { f.StepAt(ctx, at, users[next], "x"); next++ },
	} {
		next = 0
		if got := testing.AllocsPerRun(runs, fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", name, got)
		}
	}
}

// TestFunnelPeriodConcurrent records a stream from four goroutines, each
// owning a quarter of the users and keeping their events in time order,
// an hour of event time at a time, while collections and snapshots run:
// the figures equal the reference (and -race checks the entries' locks).
func TestFunnelPeriodConcurrent(t *testing.T) {
	for _, order := range []customer.Order{customer.Sequential, customer.Strict, customer.Any} {
		s := newPeriodStream(7, order, order != customer.Any)
		s.window = 26 * time.Hour
		want := s.reference()
		h := newHarness(t)
		f := mustFunnel(t, "f", s.steps, s.options(h, customer.WithSnapshot(filepath.Join(t.TempDir(), "f.snap"), time.Millisecond))...)
		const workers = 4
		ctx := context.Background()
		done := make(chan struct{})
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			for {
				select {
				case <-done:
					return
				default:
					h.collect(t)
				}
			}
		}()
		for i := 0; i < len(s.events); {
			hour := s.events[i].at.Truncate(time.Hour)
			j := i
			for j < len(s.events) && s.events[j].at.Truncate(time.Hour).Equal(hour) {
				j++
			}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for _, e := range s.events[i:j] {
						if int(e.user[1]-'0')%workers != w {
							continue
						}
						f.StepAt(ctx, e.at, e.user, s.name(e), e.plan)
					}
				})
			}
			wg.Wait()
			i = j
		}
		close(done)
		<-collected
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		p := h.points(t)
		if d := nonzeroDrops(p); len(d) != 0 {
			t.Errorf("%v: dropped %v", order, d)
		}
		if diff := cmp.Diff(want, only(p, "customer.funnel.period.users")); diff != "" {
			t.Errorf("%v: (-reference +recorder):\n%s", order, diff)
		}
	}
}

// TestFunnelPeriodSnapshotCorrupt loads every truncation of a snapshot
// with entries by period, and copies with a byte changed throughout:
// nothing panics, a file that does not decode is moved aside, and a funnel
// whose figures by period differ (another period, or none) refuses or
// skips them as the documentation says.
func TestFunnelPeriodSnapshotCorrupt(t *testing.T) {
	s := newPeriodStream(3, customer.Sequential, true)
	dir := t.TempDir()
	path := filepath.Join(dir, "f.snap")
	s.playWith(t, customer.WithSnapshot(path, time.Hour))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	load := func(data []byte, opts ...customer.Option) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "f.snap")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f := mustFunnel(t, "f", s.steps, append([]customer.Option{customer.WithMeterProvider(newHarness(t).mp),
			customer.WithSegments("plan"), customer.WithWindow(s.window), customer.WithSnapshot(p, time.Hour),
			customer.WithExclusion("exclusion0", "visit", "cart"), customer.WithExclusion("exclusion1", "cart", "pay")}, opts...)...)
		f.StepAt(context.Background(), periodStart.Add(9*24*time.Hour), "u1", "visit")
		_ = f.Close()
	}
	day := customer.WithPeriod(customer.Day)
	for n := 0; n < len(good); n += max(1, len(good)/200) {
		load(good[:n], day, customer.WithHorizon(40))
	}
	for i := 0; i < len(good); i += max(1, len(good)/300) {
		bad := slices.Clone(good)
		bad[i] ^= 0x5a
		load(bad, day, customer.WithHorizon(40))
	}
	// The same file with figures by week: refused, moved aside.
	p := filepath.Join(t.TempDir(), "f.snap")
	if err := os.WriteFile(p, good, 0o600); err != nil {
		t.Fatal(err)
	}
	f := mustFunnel(t, "f", s.steps, customer.WithMeterProvider(newHarness(t).mp), customer.WithSegments("plan"),
		customer.WithWindow(s.window), customer.WithSnapshot(p, time.Hour), customer.WithPeriod(customer.Week),
		customer.WithExclusion("exclusion0", "visit", "cart"), customer.WithExclusion("exclusion1", "cart", "pay"))
	_ = f.Close()
	if aside, _ := filepath.Glob(p + ".incompatible-*"); len(aside) != 1 {
		t.Errorf("a snapshot by day loaded by weeks: %d files moved aside, want 1", len(aside))
	}
	// Without WithPeriod the attempts load and the entries are skipped.
	p2 := filepath.Join(t.TempDir(), "f.snap")
	if err := os.WriteFile(p2, good, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	g := mustFunnel(t, "f", s.steps, customer.WithMeterProvider(h.mp), customer.WithSegments("plan"),
		customer.WithWindow(s.window), customer.WithSnapshot(p2, time.Hour))
	_ = g.Close()
	if aside, _ := filepath.Glob(p2 + ".incompatible-*"); len(aside) != 0 {
		t.Errorf("a snapshot with entries loaded without WithPeriod was moved aside")
	}
	if got := only(h.points(t), customer.MetricFunnelUsers); len(got) == 0 {
		t.Error("a snapshot with entries loaded without WithPeriod lost its attempts")
	}
}

// TestFunnelPeriodRedisReplicas plays streams into three replicas sharing
// one Redis server, and one Redis Cluster of three masters, each user's
// events going through one replica in time order (as a load balancer
// routing by user does): every replica reports the reference's figures.
func TestFunnelPeriodRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3)
	for _, backend := range []struct {
		name  string
		state func(prefix string) *redisstate.Store
	}{
		{"server", func(prefix string) *redisstate.Store {
			return redisState(t, srv.Addr(), redisstate.WithKeyPrefix(prefix))
		}},
		{"cluster", func(prefix string) *redisstate.Store {
			return clusterState(t, cluster.Addrs(), redisstate.WithKeyPrefix(prefix))
		}},
	} {
		for _, order := range []customer.Order{customer.Sequential, customer.Strict, customer.Any} {
			t.Run(backend.name+"/"+order.String(), func(t *testing.T) {
				s := newPeriodStream(11, order, order != customer.Any)
				want := s.reference()
				prefix := "replicas:" + t.Name() + ":"
				const replicas = 3
				hs := make([]*harness, replicas)
				fs := make([]*customer.Funnel, replicas)
				for i := range fs {
					hs[i] = newHarness(t)
					fs[i] = mustFunnel(t, "f", s.steps, s.options(hs[i], customer.WithState(backend.state(prefix)))...)
				}
				ctx := context.Background()
				for _, e := range s.events {
					u, _ := strconv.Atoi(e.user[1:])
					fs[u%replicas].StepAt(ctx, e.at, e.user, s.name(e), e.plan)
				}
				for _, f := range fs {
					if err := f.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
				for i, h := range hs {
					p := h.points(t)
					if d := nonzeroDrops(p); len(d) != 0 {
						t.Errorf("replica %d dropped %v", i, d)
					}
					if diff := cmp.Diff(want, only(p, "customer.funnel.period.users")); diff != "" {
						t.Errorf("replica %d (-reference +replica):\n%s", i, diff)
					}
				}
				for _, f := range fs {
					if err := f.Close(); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}
