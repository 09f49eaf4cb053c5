package customer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// progressEvent is one funnel or goal event of a generated stream.
type progressEvent struct {
	user, step, segment string
	at                  time.Time
	replica             int
}

var redisSteps = []string{"view", "cart", "pay", "done"}

// progressRounds generates users' events in rounds: round r holds at most
// one event per user, at t0 + r*36min + up to 30min, so that a user's
// consecutive events are 6 to 66 minutes apart (some past a one-hour
// window) and no event is late against the watermark.
func progressRounds(seed uint64, users int, steps []string) [][]progressEvent {
	rng := rand.New(rand.NewPCG(seed, 1))
	const rounds = 8
	out := make([][]progressEvent, rounds)
	countries := []string{"de", "fr", "us"}
	for u := range users {
		n := 2 + rng.IntN(rounds-1)
		next := 0
		for r := range n {
			k := next
			if rng.IntN(4) == 0 {
				k = rng.IntN(len(steps))
			}
			next = min(k+1, len(steps)-1)
			if rng.IntN(6) == 0 {
				next = 0
			}
			out[r] = append(out[r], progressEvent{
				user:    fmt.Sprint("user-", u),
				step:    steps[k],
				segment: countries[rng.IntN(len(countries))],
				at:      t0.Add(time.Duration(r)*36*time.Minute + time.Duration(rng.IntN(30*60))*time.Second),
				replica: rng.IntN(3),
			})
		}
	}
	return out
}

// progressPoints are the points of the metrics that Redis makes global.
func progressPoints(p map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range p {
		for _, m := range []string{customer.MetricFunnelUsers, customer.MetricFunnelConversion,
			customer.MetricGoalExposedUsers, customer.MetricGoalConvertedUsers, customer.MetricGoalExposures,
			customer.MetricGoalConversions, customer.MetricGoalConversion} {
			if strings.HasPrefix(k, m+"{") {
				out[k] = v
			}
		}
	}
	return out
}

func comparePoints(t *testing.T, who string, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: %s = %v (present %v), want %v", who, k, g, ok, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s = %v", who, k, g)
		}
	}
}

func flushAll(t *testing.T, fs ...interface{ Flush(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, f := range fs {
		if err := f.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

const storeUnavailable = `kpikit.dropped{kpikit.component=customer.funnel,reason=store_unavailable}`

// TestFunnelRedisReplicas feeds disjoint shares of many users' events to
// three funnels over one Redis, each user's events possibly on several
// replicas and reaching Redis in time order, and all events to one
// in-memory funnel: every replica, and one that recorded nothing, reports
// exactly the in-memory users per step and conversions.
func TestFunnelRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	end := t0.Add(9 * time.Hour)
	clock := func() time.Time { return end }
	for _, order := range []customer.Order{customer.Sequential, customer.Any, customer.Strict} {
		t.Run(order.String(), func(t *testing.T) {
			opts := func(h *harness, extra ...customer.Option) []customer.Option {
				return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock),
					customer.WithWindow(time.Hour), customer.WithOrder(order), customer.WithSegments("country")}, extra...)
			}
			redisOpts := []customer.Option{customer.WithState(redisState(t, srv.Addr(), redisstate.WithKeyPrefix("test:"+order.String()+":")))}
			mem := newHarness(t)
			want := closingFunnel(t, "checkout", redisSteps, opts(mem)...)
			var replicas [3]*customer.Funnel
			var hs [4]*harness
			for i := range replicas {
				hs[i] = newHarness(t)
				replicas[i] = closingFunnel(t, "checkout", redisSteps, opts(hs[i], redisOpts...)...)
			}
			for _, round := range progressRounds(uint64(order)+7, 1500, redisSteps) {
				for _, e := range round {
					replicas[e.replica].StepAt(ctx, e.at, e.user, e.step, e.segment)
					want.StepAt(ctx, e.at, e.user, e.step, e.segment)
				}
				flushAll(t, replicas[0], replicas[1], replicas[2])
			}
			hs[3] = newHarness(t)
			closingFunnel(t, "checkout", redisSteps, opts(hs[3], redisOpts...)...)

			wantPoints := progressPoints(mem.points(t))
			if len(wantPoints) < 3*(4+6) {
				t.Fatalf("only %d points in memory: %v", len(wantPoints), wantPoints)
			}
			for i, h := range hs {
				p := h.points(t)
				comparePoints(t, fmt.Sprint("replica ", i), progressPoints(p), wantPoints)
				if d := p[storeUnavailable]; d != 0 {
					t.Errorf("replica %d dropped %v events", i, d)
				}
			}
		})
	}
}

// TestGoalRedisReplicas is TestFunnelRedisReplicas for goals: users and
// events are global.
func TestGoalRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	end := t0.Add(9 * time.Hour)
	opts := func(h *harness, extra ...customer.Option) []customer.Option {
		return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return end }),
			customer.WithWindow(time.Hour), customer.WithSegments("country")}, extra...)
	}
	mem := newHarness(t)
	want := closingGoal(t, "trial", opts(mem)...)
	var replicas [3]*customer.Goal
	var hs [3]*harness
	for i := range replicas {
		hs[i] = newHarness(t)
		replicas[i] = closingGoal(t, "trial", opts(hs[i], customer.WithState(redisState(t, srv.Addr())))...)
	}
	record := func(g *customer.Goal, e progressEvent) {
		if e.step == "expose" {
			g.ExposeAt(ctx, e.at, e.user, e.segment)
		} else {
			g.ConvertAt(ctx, e.at, e.user)
		}
	}
	for _, round := range progressRounds(3, 1500, []string{"expose", "convert"}) {
		for _, e := range round {
			record(replicas[e.replica], e)
			record(want, e)
		}
		flushAll(t, replicas[0], replicas[1], replicas[2])
	}
	wantPoints := progressPoints(mem.points(t))
	if len(wantPoints) < 3*5 {
		t.Fatalf("only %d points in memory: %v", len(wantPoints), wantPoints)
	}
	for i, h := range hs {
		comparePoints(t, fmt.Sprint("replica ", i), progressPoints(h.points(t)), wantPoints)
	}
}

// TestFunnelRedisOutage kills Redis in the middle of recording and
// restarts it: the buffer holds the events meanwhile and the counts are
// exact afterwards; with a buffer too small, the drops are counted exactly.
func TestFunnelRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.WithDurable())
	ctx := context.Background()
	end := t0.Add(9 * time.Hour)
	opts := func(h *harness, extra ...customer.Option) []customer.Option {
		return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return end }),
			customer.WithWindow(time.Hour), customer.WithSegments("country")}, extra...)
	}
	t.Run("buffer suffices", func(t *testing.T) {
		reported := captureErrors(t)
		mem, h := newHarness(t), newHarness(t)
		want := closingFunnel(t, "outage", redisSteps, opts(mem)...)
		f := closingFunnel(t, "outage", redisSteps, opts(h, customer.WithState(redisState(t, srv.Addr(), redisstate.WithKeyPrefix("test:outage:"))))...)
		for r, round := range progressRounds(11, 1000, redisSteps) {
			switch r {
			case 2:
				srv.Kill()
			case 5:
				waitFor(t, "a write error to be reported", func() bool { return len(reported()) > 0 })
				srv.Restart()
			}
			for _, e := range round {
				f.StepAt(ctx, e.at, e.user, e.step, e.segment)
				want.StepAt(ctx, e.at, e.user, e.step, e.segment)
			}
			if r < 2 || r >= 5 {
				flushAll(t, f)
			}
		}
		p := h.points(t)
		comparePoints(t, "after the outage", progressPoints(p), progressPoints(mem.points(t)))
		if d := p[storeUnavailable]; d != 0 {
			t.Errorf("dropped %v events, want 0", d)
		}
	})
	for _, buffer := range []int{16, 64} {
		t.Run(fmt.Sprint("buffer of ", buffer, " overflows"), func(t *testing.T) {
			captureErrors(t)
			h := newHarness(t)
			const n = 1000
			name := fmt.Sprint("overflow", buffer)
			f := closingFunnel(t, name, redisSteps, opts(h, customer.WithState(redisState(t, srv.Addr(),
				redisstate.WithKeyPrefix("test:overflow:"), redisstate.WithBufferSize(buffer))))...)
			srv.Kill()
			for i := range n {
				f.StepAt(ctx, t0, fmt.Sprint("user-", i), "view", "de")
			}
			srv.Restart()
			flushAll(t, f)
			p := h.points(t)
			dropped := p[storeUnavailable]
			reached := p[customer.MetricFunnelUsers+"{country=de,funnel.step.index=1,funnel.step=view,funnel="+name+"}"]
			if dropped < float64(n-2*buffer) || dropped > float64(n-buffer) || dropped+reached != n {
				t.Errorf("dropped %v and reached %v of %d events with a buffer of %d", dropped, reached, n, buffer)
			}
		})
	}
}

// TestFunnelRedisOptions: a Redis state applies to funnels and goals and
// excludes WithSnapshot.
func TestFunnelRedisOptions(t *testing.T) {
	st := redisState(t, "localhost:1", redisstate.WithKeyPrefix("x:"))
	if _, err := customer.NewFunnel("f", redisSteps, customer.WithState(st), customer.WithSnapshot("x", 0)); err == nil {
		t.Error("WithState and WithSnapshot accepted together")
	}
	g, err := customer.NewGoal("g", customer.WithState(st))
	defer func() { _ = g.Close() }()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Logf("shutdown with nothing buffered: %v", err)
	}
	if err := g.Flush(context.Background()); err == nil {
		t.Error("Flush after Shutdown succeeded")
	}
}

// BenchmarkFunnelStepRedis compares the hot path of a funnel kept in
// memory and in Redis, in one run.
func BenchmarkFunnelStepRedis(b *testing.B) {
	srv := redistest.Start(b)
	at := t0.Add(time.Minute)
	users := make([]string, 4096)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
	}
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			opts := []customer.Option{customer.WithClock(func() time.Time { return at }), customer.WithSegments("country")}
			if store == "redis" {
				opts = append(opts, customer.WithState(redisState(b, srv.Addr(), redisstate.WithKeyPrefix("bench:"))))
			}
			f := closingFunnel(b, "bench", redisSteps, opts...)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.StepAt(ctx, at, users[i&4095], redisSteps[(i>>12)&3], "de")
				i++
			}
		})
	}
}

// redisState is a state in the Redis server at addr, through a client
// that honours context deadlines and is closed when the test ends, after
// the recorders made since.
func redisState(t testing.TB, addr string, opts ...redisstate.Option) *redisstate.Store {
	t.Helper()
	return newState(t, redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true}), opts...)
}

// stateOpts keeps a recorder of kind in the Redis server at addr, with
// key prefix prefix and buffer size buffer when not empty or 0.
func stateOpts(t testing.TB, kind, addr, prefix string, buffer int) []customer.Option {
	t.Helper()
	var ro []redisstate.Option
	if prefix != "" {
		ro = append(ro, redisstate.WithKeyPrefix(prefix))
	}
	if buffer != 0 {
		ro = append(ro, redisstate.WithBufferSize(buffer))
	}
	return []customer.Option{customer.WithState(redisState(t, addr, ro...))}
}

// unusedState is a state whose client never connects: for configurations
// that are rejected.
func unusedState(t testing.TB) *redisstate.Store {
	t.Helper()
	return redisState(t, "localhost:1")
}

// clusterState is redisState for the Redis Cluster that has nodes at
// addrs.
func clusterState(t testing.TB, addrs []string, opts ...redisstate.Option) *redisstate.Store {
	t.Helper()
	return newState(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true}), opts...)
}

func newState(t testing.TB, client redis.UniversalClient, opts ...redisstate.Option) *redisstate.Store {
	t.Helper()
	t.Cleanup(func() { _ = client.Close() })
	st, err := redisstate.New(client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// closingFunnel is mustFunnel, closed when the test ends.
func closingFunnel(t testing.TB, name string, steps []string, opts ...customer.Option) *customer.Funnel {
	t.Helper()
	f := mustFunnel(t, name, steps, opts...)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// closingGoal is mustGoal, closed when the test ends.
func closingGoal(t testing.TB, name string, opts ...customer.Option) *customer.Goal {
	t.Helper()
	g := mustGoal(t, name, opts...)
	t.Cleanup(func() { _ = g.Close() })
	return g
}
