package customer_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/internal/outcome"
)

// TestLinkSameUserAgain: a request that links the same user at the same
// step nine times holds one link: no link_limit, and room for others.
func TestLinkSameUserAgain(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f := closingFunnel(t, "f", []string{"visit", "cart"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	f.Step(context.Background(), "u", "visit")
	var users []string
	var c outcome.Context
	c.Set(context.Background())
	for range outcome.MaxLinks + 1 {
		f.Link(&c, "u")
		f.Step(&c, "u", "cart")
	}
	f.Step(&c, "v", "visit")
	c.Outcome.Finish(true, "500", outcome.UsersFunc(func(u string) { users = append(users, u) }))
	if len(users) != 3 {
		t.Errorf("linked %v, want u (link), u (cart), v", users)
	}
	if d := nonzeroDrops(h.points(t)); len(d) != 0 {
		t.Errorf("drops %v", d)
	}
}

// TestImpairedAfterClose: a failure told after Close counts nothing and
// does not panic.
func TestImpairedAfterClose(t *testing.T) {
	h := newHarness(t)
	clock := newClock(t0)
	f, err := customer.NewFunnel("f", []string{"visit", "cart"}, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	var c outcome.Context
	c.Set(context.Background())
	f.Step(&c, "u", "visit")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.Outcome.Finish(true, "500", nil)
	if got := only(h.points(t), customer.MetricFunnelImpairedUsers+"{"); len(got) != 0 {
		t.Errorf("impaired after Close: %v", got)
	}
}

// TestLostUsersProperty compares the failure figures with a plain
// computation over random streams of steps and failing requests.
func TestLostUsersProperty(t *testing.T) {
	steps := []string{"a", "b", "c", "d"}
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 7))
		h := newHarness(t)
		clock := newClock(t0)
		f := closingFunnel(t, "f", steps, customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now))
		n := 1 + rng.IntN(40)
		reached := make([]int, n)   // steps reached (sequential)
		impaired := make([]bool, n) // attempt impaired
		impairedAt := map[int]map[int]bool{}
		for range 200 {
			u := rng.IntN(n)
			k := reached[u]
			if k == len(steps) {
				continue
			}
			if rng.IntN(4) == 0 {
				// A failing request that records the step.
				failing("500", func(ctx context.Context) { f.Step(ctx, uid(u), steps[k]) })
				impaired[u] = true
				if impairedAt[k] == nil {
					impairedAt[k] = map[int]bool{}
				}
				impairedAt[k][u] = true
			} else {
				f.Step(context.Background(), uid(u), steps[k])
			}
			reached[u]++
		}
		var U, I [4]int
		for u := range n {
			for k := range reached[u] {
				U[k]++
				if impaired[u] {
					I[k]++
				}
			}
		}
		p := h.points(t)
		for k, s := range steps {
			if got := p[stepKey(customer.MetricFunnelImpairedStepUsers, "f", s, k+1)]; got != float64(I[k]) {
				t.Fatalf("seed %d: impaired_step_users{%s} = %v, want %d", seed, s, got, I[k])
			}
			if got := p[impairedKey("f", s, k+1, "500")]; got != float64(len(impairedAt[k])) {
				t.Fatalf("seed %d: impaired_users{%s} = %v, want %d", seed, s, got, len(impairedAt[k]))
			}
		}
		got, ok := p[pt(customer.MetricFunnelLostUsers, "funnel=f")]
		switch {
		case I[0] == 0:
			if ok && got != 0 {
				t.Fatalf("seed %d: lost %v without an impaired attempt", seed, got)
			}
		case U[0]-I[0] == 0:
			if ok {
				t.Fatalf("seed %d: lost %v reported with no clean attempt", seed, got)
			}
		default:
			clean := float64(U[3]-I[3]) / float64(U[0]-I[0])
			imp := float64(I[3]) / float64(I[0])
			want := max(float64(I[0])*(clean-imp), 0)
			if !ok || got != want {
				t.Fatalf("seed %d: lost %v (reported %v), want %v (U %v, I %v)", seed, got, ok, want, U, I)
			}
		}
	}
}
