package customer_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/faultnet"
)

// TestActivityRedisDeadlines runs an activity against a server that
// refuses connections and one that accepts them and never answers, with
// signup times and with first-seen cohorts (whose events wait for Redis
// to resolve them): the outage reaches the OTel error handler within 2 s,
// Flush and Shutdown return by their deadlines (500 ms, 1 s) and Close by CloseTimeout (plus
// 300 ms each), the events not written are counted, and no goroutine is
// left once the round trip in flight at the deadline has ended.
func TestActivityRedisDeadlines(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for deadlines")
	}
	const margin = 300 * time.Millisecond
	for _, srv := range []struct {
		name string
		addr func(testing.TB) string
	}{{"refused", faultnet.Refused}, {"silent", faultnet.Silent}} {
		for _, firstSeen := range []bool{false, true} {
			for _, closeCall := range []bool{false, true} {
				name := srv.name + "/signup"
				if firstSeen {
					name = srv.name + "/first-seen"
				}
				if closeCall {
					name += "/Close"
				} else {
					name += "/Shutdown"
				}
				t.Run(name, func(t *testing.T) {
					addr := srv.addr(t) // its accept loop ends with the test
					verifyNoLeak(t)
					reported := captureErrors(t)
					h := newHarness(t)
					client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
					t.Cleanup(func() { _ = client.Close() }) // before verifyNoLeak looks
					st, err := redisstate.New(client)
					if err != nil {
						t.Fatal(err)
					}
					a, err := customer.NewActivity("deadline", stateOptions(h, customer.WithState(st))...)
					if err != nil {
						t.Fatal(err)
					}
					signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
					if firstSeen {
						signup = time.Time{}
					}
					start := time.Now()
					for i := range 50 {
						a.PurchaseAt(context.Background(), stateNow, "user-"+itoa(i), signup, "USD", 100)
						a.ActiveAt(context.Background(), stateNow, "user-"+itoa(i), signup)
					}
					for len(reported()) == 0 && time.Since(start) < 3*time.Second {
						time.Sleep(20 * time.Millisecond)
					}
					if took := time.Since(start); len(reported()) == 0 || took > 2*time.Second {
						t.Errorf("first error reported after %v (%d errors), want within 2s", took, len(reported()))
					}
					start = time.Now()
					fctx, fcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
					err = a.Flush(fctx)
					fcancel()
					if took := time.Since(start); took > 500*time.Millisecond+margin || err == nil {
						t.Errorf("Flush with a 500ms deadline returned %v after %v, want an error by %v", err, took, 500*time.Millisecond+margin)
					}
					start = time.Now()
					limit := time.Second
					if closeCall {
						limit = customer.CloseTimeout
						err = a.Close()
					} else {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						err = a.Shutdown(ctx)
						cancel()
					}
					took := time.Since(start)
					t.Logf("returned after %v: %v", took, err)
					if took > limit+margin {
						t.Errorf("returned after %v, want by %v", took, limit+margin)
					}
					if err == nil {
						t.Error("returned nil with Redis unreachable")
					}
					// With signup times: 50 purchases not written and 50
					// per-user events buffered (the activity after each
					// purchase needs no new write). First-seen: the 100
					// events wait for their cohort, none reached the money.
					const want = 100.0
					if got := h.points(t)[keyUnavailable]; got != want {
						t.Errorf("%s = %v, want %v", keyUnavailable, got, want)
					}
				})
			}
		}
	}
}
