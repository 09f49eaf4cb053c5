package customer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/customer"
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
		name := ""
		if e.step >= 0 {
			name = s.steps[e.step]
		} else {
			name = fmt.Sprintf("exclusion%d", e.excl)
		}
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
func (s *periodStream) play(t *testing.T) (map[string]float64, map[string]float64) {
	h := newHarness(t)
	last := s.events[len(s.events)-1].at
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithOrder(s.order),
		customer.WithWindow(s.window), customer.WithSegments("plan"),
		customer.WithPeriod(customer.Day), customer.WithHorizon(40),
		customer.WithClock(func() time.Time { return last })}
	for i, x := range s.excl {
		opts = append(opts, customer.WithExclusion(fmt.Sprintf("exclusion%d", i), s.steps[x[0]], s.steps[x[1]]))
	}
	f := mustFunnel(t, "f", s.steps, opts...)
	defer f.Close()
	ctx := context.Background()
	for _, e := range s.events {
		name := ""
		if e.step >= 0 {
			name = s.steps[e.step]
		} else {
			name = fmt.Sprintf("exclusion%d", e.excl)
		}
		f.StepAt(ctx, e.at, e.user, name, e.plan)
	}
	p := h.points(t)
	return only(p, "customer.funnel.period.users"), nonzeroDrops(p)
}

// TestFunnelPeriodReference compares the figures by entry day with the
// reference on random streams, in every order, with and without
// exclusions; windows from 90 minutes to 3 days make entries span days
// and the recorder's old entries get pruned as the stream moves on.
func TestFunnelPeriodReference(t *testing.T) {
	for _, tc := range []struct {
		order customer.Order
		excl  bool
	}{{customer.Sequential, false}, {customer.Sequential, true}, {customer.Strict, false}, {customer.Strict, true}, {customer.Any, false}} {
		t.Run(fmt.Sprintf("%v/exclusions=%v", tc.order, tc.excl), func(t *testing.T) {
			failed := 0
			for seed := uint64(1); seed <= 60 && failed < 2; seed++ {
				s := newPeriodStream(seed, tc.order, tc.excl)
				want := s.reference()
				got, drops := s.play(t)
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
