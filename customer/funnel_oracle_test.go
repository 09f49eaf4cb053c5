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
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestFunnelOracle plays random event streams into funnels (every order)
// and goals, in memory and in Redis, and compares what they report through
// the SDK with a reference computed from the rules of the package
// documentation ("Definitions") with plain maps and slices, none of the
// package's code. The streams mix in-order, late, very late, ahead-of-the-
// clock and future events, and events a window (give or take a minute)
// before or after another event of the same user, so that the edges of the
// window and of the watermark come up often. Seeds are fixed: a failure
// names the seed and prints the stream.
func TestFunnelOracle(t *testing.T) {
	t.Run("memory", func(t *testing.T) { checkOracle(t, 500, nil) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = client.Close() })
		checkOracle(t, 500, func(seed uint64) []customer.Option {
			st, err := redisstate.New(client, redisstate.WithKeyPrefix(fmt.Sprintf("oracle:%d:", seed)))
			if err != nil {
				t.Fatal(err)
			}
			return []customer.Option{customer.WithState(st)}
		})
	})
}

// checkOracle plays seeds streams into recorders in memory, or in the
// state of backend (given the stream's seed) when not nil.
func checkOracle(t *testing.T, seeds int, backend func(seed uint64) []customer.Option) {
	seen := map[string]int{}
	var failed []string
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		s := oracleStreamOf(seed)
		want := s.reference(seen)
		got := s.play(t, backend)
		if diff := cmp.Diff(want, got); diff != "" {
			failed = append(failed, fmt.Sprintf("%v(-reference +recorder):\n%s", s, diff))
		}
	}
	for _, f := range failed[:min(3, len(failed))] {
		t.Error(f)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d streams disagree with the reference", len(failed), seeds)
	}
	for _, sit := range oracleSituations {
		if seen[sit] == 0 {
			t.Errorf("no stream had %s", sit)
		}
	}
	t.Logf("%d streams; events by situation: %v", seeds, seen)
}

// oracleEvent is one recording call: the clock's reading, the event time
// (both after t0, on a one-minute grid), the user, the step's index and
// the segment value.
type oracleEvent struct {
	now, at time.Duration
	user    string
	step    int
	segment string
}

// oracleStream is a generated stream and the recorder it is played into:
// a funnel "f" or a goal "g" with one segment dimension, "country".
type oracleStream struct {
	seed   uint64
	goal   bool           // step 0 is an exposure, step 1 a conversion
	order  customer.Order // funnels only
	window time.Duration
	steps  []string
	events []oracleEvent
}

// oracleStreamOf generates the stream of seed. Times are whole minutes, so
// that the watermark, which moves in steps of at most a second, is the
// latest accepted time exactly (TestFunnelTimeBoundaries covers its lag).
func oracleStreamOf(seed uint64) oracleStream {
	rng := rand.New(rand.NewPCG(seed, 0x6f7261636c65))
	const m = time.Minute
	s := oracleStream{seed: seed}
	s.window = []time.Duration{5 * m, 15 * m, time.Hour, 3 * time.Hour}[rng.IntN(4)]
	if rng.IntN(4) == 0 {
		s.goal, s.steps = true, []string{"expose", "convert"}
	} else {
		s.order = []customer.Order{customer.Sequential, customer.Any, customer.Strict}[rng.IntN(3)]
		s.steps = []string{"a", "b", "c", "d"}[:2+rng.IntN(3)]
	}
	w, ft := int(s.window/m), int(customer.FutureTolerance/m)
	minutes := func(n int) time.Duration { return time.Duration(n) * m }
	users := 1 + rng.IntN(4)
	var now time.Duration
	for i := range 1 + rng.IntN(40) {
		if rng.IntN(8) == 0 {
			now += minutes(w/2 + rng.IntN(2*w))
		} else {
			now += minutes(rng.IntN(4))
		}
		e := oracleEvent{now: now, user: fmt.Sprint("u", rng.IntN(users)),
			step: rng.IntN(len(s.steps)+1) % len(s.steps), segment: []string{"de", "fr", ""}[rng.IntN(3)]}
		switch r := rng.IntN(20); {
		case r < 7: // within a window behind the clock
			e.at = now - minutes(rng.IntN(w+1))
		case r < 9: // ahead of the clock, up to the tolerance
			e.at = now + minutes(rng.IntN(ft+1))
		case r < 10: // beyond the tolerance
			e.at = now + minutes(ft+1+rng.IntN(ft))
		case r < 12: // more than a window behind the clock
			e.at = now - minutes(w+1+rng.IntN(2*w))
		case i == 0:
			e.at = now
		default: // a window before or after, or at, an earlier event, ± a minute
			var mine []time.Duration
			for _, p := range s.events {
				if p.user == e.user {
					mine = append(mine, p.at)
				}
			}
			p := s.events[rng.IntN(i)].at
			if len(mine) > 0 && rng.IntN(4) != 0 {
				p = mine[rng.IntN(len(mine))]
			}
			e.at = p + minutes([]int{-w - 1, -w, -w + 1, -1, 0, 1, w - 1, w, w + 1}[rng.IntN(9)])
		}
		s.events = append(s.events, e)
	}
	return s
}

func (s oracleStream) String() string {
	var b strings.Builder
	kind := "funnel, order " + s.order.String()
	if s.goal {
		kind = "goal"
	}
	fmt.Fprintf(&b, "seed %d: %s, steps %q, window %v, future tolerance %v, times after %v:\n",
		s.seed, kind, s.steps, s.window, customer.FutureTolerance, t0.Format(time.RFC3339))
	for i, e := range s.events {
		fmt.Fprintf(&b, "  %2d  clock %-9v at %-9v %s %-7s %q\n", i, e.now, e.at, e.user, s.steps[e.step], e.segment)
	}
	return b.String()
}

// Situations the streams must exercise, tallied by the reference.
const (
	sitFuture      = "a future event"
	sitLate        = "a late event"
	sitAhead       = "an accepted event ahead of the clock"
	sitBefore      = "an event before its attempt's start"
	sitWindowEarly = "an event a window or more before its attempt's start"
	sitEdge        = "an event exactly a window after its attempt's start"
	sitRestart     = "an attempt replacing an expired one"
	sitIgnored     = "an event with no attempt to join"
	sitComplete    = "a completed attempt"
)

var oracleSituations = []string{sitFuture, sitLate, sitAhead, sitBefore, sitWindowEarly, sitEdge, sitRestart, sitIgnored, sitComplete}

// reference computes the points the recorder of s must report, keyed as
// flatten keys them (tracked users and zero dropped counts aside), from
// the documented rules:
//   - an event more than FutureTolerance ahead of the clock is dropped as
//     future_event; one more than a window behind the watermark (the
//     latest time, capped at the clock of its call, of the events not
//     dropped so far) as late_event;
//   - a user has one attempt at a time, and events apply in the order they
//     arrive; an event earlier than the attempt's start counts as at the
//     start; at that time it joins the attempt when less than a window
//     after the start; otherwise the first step (in any order, any step)
//     starts a new attempt, with the event's segment value, and other
//     steps are ignored;
//   - an attempt reaches steps by its order (below); it counts once per
//     step reached, in the row of its segment value; completing it records
//     the time from its start to the event that completed it; a goal also
//     counts every event of the attempt.
func (s oracleStream) reference(seen map[string]int) map[string]float64 {
	type attempt struct {
		start   time.Duration
		segment string
		steps   []int
		times   []time.Duration // when each step counts: the event's time, or the start
	}
	var accepted []oracleEvent
	future, late := 0, 0
	var wm time.Duration // the watermark, once an event was accepted
	for _, e := range s.events {
		switch {
		case e.at > e.now+customer.FutureTolerance:
			future++
			seen[sitFuture]++
		case len(accepted) > 0 && e.at < wm-s.window:
			late++
			seen[sitLate]++
		default:
			if len(accepted) == 0 || min(e.at, e.now) > wm {
				wm = min(e.at, e.now)
			}
			if e.at > e.now {
				seen[sitAhead]++
			}
			accepted = append(accepted, e)
		}
	}

	attempts := map[string][]*attempt{} // per user, the latest last
	for _, e := range accepted {
		list := attempts[e.user]
		if len(list) > 0 {
			cur := list[len(list)-1]
			at := e.at
			if at < cur.start {
				seen[sitBefore]++
				if at <= cur.start-s.window {
					seen[sitWindowEarly]++
				}
				at = cur.start
			}
			if at < cur.start+s.window {
				cur.steps = append(cur.steps, e.step)
				cur.times = append(cur.times, at)
				continue
			}
			if at == cur.start+s.window {
				seen[sitEdge]++
			}
		}
		if e.step != 0 && s.order != customer.Any {
			seen[sitIgnored]++
			continue
		}
		if len(list) > 0 {
			seen[sitRestart]++
		}
		attempts[e.user] = append(list, &attempt{start: e.at, segment: e.segment, steps: []int{e.step}, times: []time.Duration{e.at}})
	}

	type row struct {
		users, events []int // per step: attempts that reached it, events
		ttc           []time.Duration
	}
	rows := map[string]*row{}
	for _, list := range attempts {
		for _, a := range list {
			seg := a.segment
			if seg == "" {
				seg = customer.UnknownValue
			}
			r := rows[seg]
			if r == nil {
				r = &row{users: make([]int, len(s.steps)), events: make([]int, len(s.steps))}
				rows[seg] = r
			}
			reached, done := s.reached(a.steps)
			for k, ok := range reached {
				if ok {
					r.users[k]++
				}
			}
			for _, k := range a.steps {
				r.events[k]++
			}
			if done >= 0 {
				r.ttc = append(r.ttc, a.times[done]-a.start)
				seen[sitComplete]++
			}
		}
	}

	out := map[string]float64{}
	for seg, r := range rows {
		country := "country=" + seg
		var ttc string
		if s.goal {
			g := goalKeyOf("g", country)
			out[customer.MetricGoalExposedUsers+g] = float64(r.users[0])
			out[customer.MetricGoalConvertedUsers+g] = float64(r.users[1])
			out[customer.MetricGoalExposures+g] = float64(r.events[0])
			out[customer.MetricGoalConversions+g] = float64(r.events[1])
			if r.users[0] > 0 {
				out[customer.MetricGoalConversion+g] = float64(r.users[1]) / float64(r.users[0])
			}
			ttc = customer.MetricGoalTimeToConvert + g
		} else {
			for k, step := range s.steps {
				out[usersKey("f", step, k+1, country)] = float64(r.users[k])
				if k == 0 {
					continue
				}
				if r.users[k-1] > 0 {
					out[convKey("f", step, k+1, "previous", country)] = float64(r.users[k]) / float64(r.users[k-1])
				}
				if r.users[0] > 0 {
					out[convKey("f", step, k+1, "first", country)] = float64(r.users[k]) / float64(r.users[0])
				}
			}
			ttc = customer.MetricFunnelTimeToConvert + key("f", "", 0, "", country)
		}
		if len(r.ttc) > 0 {
			sum := 0.0
			for _, d := range r.ttc {
				sum += d.Seconds()
			}
			out[ttc+".count"] = float64(len(r.ttc))
			out[ttc+".sum"] = sum
		}
	}
	component := "customer.funnel"
	if s.goal {
		component = "customer.goal"
	}
	if future > 0 {
		out[droppedKey(component, "future_event")] = float64(future)
	}
	if late > 0 {
		out[droppedKey(component, "late_event")] = float64(late)
	}
	return out
}

// reached returns which steps an attempt reached, given the steps of its
// events in the order applied, and the index of the event with which the
// last missing step was reached (-1 if some step never was):
//   - any: every step that occurs;
//   - sequential: step k once steps 0 to k-1 were reached before it, other
//     steps in between not mattering;
//   - strict: like sequential, but an event that is neither the next step
//     nor a repeat of the last one reached ends the attempt: nothing after
//     it counts.
func (s oracleStream) reached(steps []int) (reached []bool, done int) {
	reached = make([]bool, len(s.steps))
	all := func() bool { return !slices.Contains(reached, false) }
	next := 0 // sequential and strict: steps 0 to next-1 are reached
	for i, k := range steps {
		switch {
		case s.order == customer.Any:
			reached[k] = true
		case k == next:
			reached[k] = true
			next++
		case s.order == customer.Strict && k != next-1:
			return reached, -1
		}
		if all() {
			return reached, i
		}
	}
	return reached, -1
}

// play records the stream into a new recorder with the backend's options
// and returns what it reports, tracked users and zero dropped counts aside.
func (s oracleStream) play(t *testing.T, backend func(seed uint64) []customer.Option) map[string]float64 {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	clk := newClock(t0)
	opts := []customer.Option{customer.WithMeterProvider(mp), customer.WithClock(clk.Now),
		customer.WithWindow(s.window), customer.WithSegments("country")}
	if backend != nil {
		opts = append(opts, backend(s.seed)...)
	}
	ctx := context.Background()
	var record func(e oracleEvent)
	var flusher interface {
		Flush(context.Context) error
		Close() error
	}
	if s.goal {
		g, err := customer.NewGoal("g", opts...)
		if err != nil {
			t.Fatal(err)
		}
		flusher = g
		record = func(e oracleEvent) {
			if e.step == 0 {
				g.ExposeAt(ctx, t0.Add(e.at), e.user, e.segment)
			} else {
				g.ConvertAt(ctx, t0.Add(e.at), e.user)
			}
		}
	} else {
		f, err := customer.NewFunnel("f", s.steps, append(opts, customer.WithOrder(s.order))...)
		if err != nil {
			t.Fatal(err)
		}
		flusher = f
		record = func(e oracleEvent) { f.StepAt(ctx, t0.Add(e.at), e.user, s.steps[e.step], e.segment) }
	}
	defer func() { _ = flusher.Close() }()
	for _, e := range s.events {
		clk.Set(t0.Add(e.now))
		record(e)
	}
	flushCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := flusher.Flush(flushCtx); err != nil {
		t.Fatalf("seed %d: %v", s.seed, err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := flatten(rm)
	for k, v := range got {
		if strings.HasPrefix(k, customer.MetricFunnelTrackedUsers+"{") || strings.HasPrefix(k, customer.MetricGoalTrackedUsers+"{") ||
			strings.HasPrefix(k, "kpikit.dropped{") && v == 0 {
			delete(got, k)
		}
	}
	return got
}
