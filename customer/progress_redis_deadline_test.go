package customer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/faultnet"
)

const funnelClosed = `kpikit.dropped{kpikit.component=customer.funnel,reason=closed}`

// TestFunnelRedisDeadlines: against a server that refuses connections
// and one that accepts them and never answers, a funnel in Redis reports
// the failure within a few flush intervals, Flush, Shutdown and Close
// return by their deadline, no goroutine is left, and every event is
// counted: the events recorded before closing as store_unavailable, those
// after as closed.
func TestFunnelRedisDeadlines(t *testing.T) {
	const recorded, after = 100, 5
	servers := []struct {
		name string
		addr func(*testing.T) string
	}{
		{"refused", func(t *testing.T) string { return faultnet.Refused(t) }},
		{"silent", func(t *testing.T) string { return faultnet.Silent(t) }},
	}
	closes := []struct {
		name     string
		deadline time.Duration
		close    func(*customer.Funnel) error
	}{
		{"Shutdown", 300 * time.Millisecond, func(f *customer.Funnel) error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			return f.Shutdown(ctx)
		}},
		{"Close", customer.CloseTimeout, (*customer.Funnel).Close},
	}
	for _, srv := range servers {
		for _, cl := range closes {
			for _, byPeriod := range []bool{false, true} {
				name := srv.name + "/" + cl.name
				var extra []customer.Option
				if byPeriod {
					// Entries by period and an exclusion event: the same
					// accounting.
					name += "/by_period"
					extra = []customer.Option{customer.WithPeriod(customer.Day), customer.WithExclusion("coupon", redisSteps[0], redisSteps[1])}
				}
				t.Run(name, func(t *testing.T) {
					before := goleak.IgnoreCurrent()
					t.Cleanup(func() { noLeak(t, before) }) // after the servers' cleanup
					reported := captureErrors(t)
					h := newHarness(t)
					at := t0.Add(time.Minute)
					st := redisState(t, srv.addr(t), redisstate.WithBufferSize(16))
					f := mustFunnel(t, "deadline", redisSteps, append([]customer.Option{customer.WithMeterProvider(h.mp),
						customer.WithClock(func() time.Time { return at }), customer.WithState(st)}, extra...)...)
					ctx := context.Background()
					start := time.Now()
					for i := range recorded {
						step := "view"
						if byPeriod && i%4 == 3 {
							step = "coupon"
						}
						f.StepAt(ctx, at, fmt.Sprint("user-", i), step)
					}
					waitFor(t, "the failure to be reported", func() bool { return len(reported()) > 0 })
					if d := time.Since(start); d > time.Second {
						t.Errorf("first failure reported after %v, want within 1s", d)
					}

					fctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
					begin := time.Now()
					err := f.Flush(fctx)
					cancel()
					if d := time.Since(begin); err == nil || d > 200*time.Millisecond+slack {
						t.Errorf("Flush returned %v after %v, want an error within 200ms", err, d)
					}

					begin = time.Now()
					_ = cl.close(f)
					d := time.Since(begin)
					t.Logf("%s against a %s server returned after %v", cl.name, srv.name, d)
					if d > cl.deadline+slack {
						t.Errorf("%s returned after %v, deadline %v", cl.name, d, cl.deadline)
					}
					for i := range after {
						f.StepAt(ctx, at, fmt.Sprint("late-", i), "view")
					}
					p := h.points(t)
					if got := p[storeUnavailable]; got != recorded {
						t.Errorf("store_unavailable = %v, want %d", got, recorded)
					}
					if got := p[funnelClosed]; got != after {
						t.Errorf("closed = %v, want %d", got, after)
					}
				})
			}
		}
	}
}

// noLeak fails t when a goroutine started since before is still running
// 3 s later: the client's dial prober sleeps 1 s between probes before it
// sees the client closed.
func noLeak(t *testing.T, before goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for goleak.Find(before) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	goleak.VerifyNone(t, before)
}

// slack is the time a call may take past its deadline on a loaded machine.
const slack = 250 * time.Millisecond
