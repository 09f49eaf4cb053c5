package customer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// diffEvent is one event of a differential stream.
type diffEvent struct {
	user, segment string
	k             int
	at            time.Time
}

// diffStream is a random stream of n events of users over steps steps:
// time moves forward by 0 to 40 s per event, and each event is up to half
// a window earlier than that (out of order, never late), in whole seconds.
func diffStream(seed uint64, n, users, steps int, window time.Duration) []diffEvent {
	rng := rand.New(rand.NewPCG(seed, 99))
	countries := []string{"de", "fr", "us"}
	next := make([]int, users)
	out := make([]diffEvent, n)
	cursor := t0
	for i := range out {
		cursor = cursor.Add(time.Duration(rng.IntN(41)) * time.Second)
		u := rng.IntN(users)
		k := next[u]
		if rng.IntN(3) == 0 {
			k = rng.IntN(steps)
		}
		next[u] = (k + 1) % steps
		back := time.Duration(rng.Int64N(int64(window/2/time.Second))) * time.Second
		out[i] = diffEvent{user: fmt.Sprint("u", u), segment: countries[rng.IntN(3)], k: k, at: cursor.Add(-back)}
	}
	return out
}

// TestProgressRedisDifferential feeds the same random streams (several
// seeds and windows, every order) to a funnel in memory and a funnel in a
// real Redis, and a goal in each: they report the same users per step,
// conversions, goal exposures and conversions, and the same count and sum
// of times to convert.
func TestProgressRedisDifferential(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	steps := []string{"a", "b", "c", "d", "e"}
	for _, window := range []time.Duration{10 * time.Minute, 2 * time.Hour} {
		for _, order := range []customer.Order{customer.Sequential, customer.Strict, customer.Any} {
			for seed := range uint64(3) {
				name := fmt.Sprintf("%v/%v/seed%d", window, order, seed)
				t.Run(name, func(t *testing.T) {
					events := diffStream(seed, 4000, 150, len(steps), window)
					end := events[len(events)-1].at.Add(time.Hour)
					opts := func(h *harness, extra ...customer.Option) []customer.Option {
						return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(func() time.Time { return end }),
							customer.WithWindow(window), customer.WithSegments("country")}, extra...)
					}
					redisOpts := []customer.Option{customer.WithState(redisState(t, srv.Addr(), redisstate.WithKeyPrefix("diff:"+name+":")))}
					mem, red := newHarness(t), newHarness(t)
					fm := closingFunnel(t, "diff", steps, opts(mem, customer.WithOrder(order))...)
					fr := closingFunnel(t, "diff", steps, opts(red, append(redisOpts, customer.WithOrder(order))...)...)
					gm := closingGoal(t, "diff", opts(mem)...)
					gr := closingGoal(t, "diff", opts(red, redisOpts...)...)
					for i, e := range events {
						fm.StepAt(ctx, e.at, e.user, steps[e.k], e.segment)
						fr.StepAt(ctx, e.at, e.user, steps[e.k], e.segment)
						if e.k%2 == 0 {
							gm.ExposeAt(ctx, e.at, e.user, e.segment)
							gr.ExposeAt(ctx, e.at, e.user, e.segment)
						} else {
							gm.ConvertAt(ctx, e.at, e.user)
							gr.ConvertAt(ctx, e.at, e.user)
						}
						if i%1000 == 999 {
							flushAll(t, fr, gr)
						}
					}
					flushAll(t, fr, gr)
					want, got := diffPoints(mem.points(t)), diffPoints(red.points(t))
					if len(want) < 20 {
						t.Fatalf("only %d points in memory: %v", len(want), want)
					}
					comparePoints(t, "redis", got, want)
				})
			}
		}
	}
}

// diffPoints are the points Redis makes global and the time-to-convert
// histograms.
func diffPoints(p map[string]float64) map[string]float64 {
	out := progressPoints(p)
	for k, v := range p {
		if strings.HasPrefix(k, customer.MetricFunnelTimeToConvert+"{") {
			out[k] = v
		}
	}
	return out
}
