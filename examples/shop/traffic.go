package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// simClock is the shop's simulated time: it starts at a real instant and
// runs day times faster than the wall clock, so that a run of minutes
// covers days of new and returning users.
type simClock struct {
	start time.Time // real start
	epoch time.Time // simulated time at start
	speed float64
}

func newSimClock(epoch time.Time, day time.Duration) *simClock {
	return &simClock{start: time.Now(), epoch: epoch, speed: float64(24*time.Hour) / float64(day)}
}

// Now returns the simulated time.
func (c *simClock) Now() time.Time {
	return c.epoch.Add(time.Duration(float64(time.Since(c.start)) * c.speed))
}

// Day returns the number of simulated days since the start.
func (c *simClock) Day() int { return int(c.Now().Sub(c.epoch) / (24 * time.Hour)) }

// traffic drives sessions against the shop: new and returning users walk
// the funnel with drop-off at every step. Run owns its goroutines and
// returns when they have all ended.
type traffic struct {
	base    string
	client  *http.Client
	rate    float64 // sessions per second
	maxBusy int

	requests atomic.Int64 // requests whose response (of any status) arrived
	failures atomic.Int64 // requests that got no response

	mu    sync.Mutex
	users []visitorID // returning-user pool
	next  int
}

type visitorID struct{ id, device, channel string }

var (
	devices  = []string{"desktop", "desktop", "mobile", "mobile", "mobile", "tablet"}
	channels = []string{"organic", "ads", "email", "social"}
)

// Run starts sessions at the configured rate until ctx is done, then waits
// for the sessions in flight. A session takes no further step once ctx is
// done, but a request already sent runs to its response, so that every
// request the generator counts is one the server saw to its end.
func (t *traffic) Run(ctx context.Context) {
	var wg sync.WaitGroup
	busy := make(chan struct{}, t.maxBusy)
	tick := time.NewTicker(time.Duration(float64(time.Second) / t.rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		select {
		case busy <- struct{}{}:
		default:
			continue // saturated: skip this arrival rather than queue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-busy }()
			t.session(ctx, t.pick())
		}()
	}
}

// pick returns a returning user (a third of the sessions, once there are
// some) or a new one.
func (t *traffic) pick() visitorID {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.users) > 0 && rand.IntN(3) == 0 {
		return t.users[rand.IntN(len(t.users))]
	}
	t.next++
	v := visitorID{fmt.Sprintf("u%07d", t.next), devices[rand.IntN(len(devices))], channels[rand.IntN(len(channels))]}
	if len(t.users) < 100_000 {
		t.users = append(t.users, v)
	}
	return v
}

// session walks one visit; mobile users convert better at the end, as in
// the published funnel data.
func (t *traffic) session(ctx context.Context, v visitorID) {
	p := catalog[rand.IntN(len(catalog))]
	payRate := 0.55
	if v.device == "mobile" {
		payRate = 0.75
	}
	walk := []struct {
		method, path string
		next         float64 // chance to go on after this request
	}{
		{"GET", "/", 0.8},
		{"GET", "/search?q=" + strings.Fields(p.Name)[0], 0.7},
		{"GET", "/product/" + p.ID, 0.4},
		{"POST", "/cart/" + p.ID, 0.6},
		{"POST", "/checkout", payRate},
		{"POST", "/pay?product=" + p.ID, 0},
	}
	if rand.IntN(20) == 0 {
		t.do(ctx, v, "GET", "/product/nope") // a 404 now and then
	}
	for _, s := range walk {
		if ctx.Err() != nil || !t.do(ctx, v, s.method, s.path) || rand.Float64() >= s.next {
			return
		}
	}
}

// do sends one request and reports whether it succeeded (2xx).
func (t *traffic) do(ctx context.Context, v visitorID, method, path string) bool {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, t.base+path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("X-User-ID", v.id)
	req.Header.Set("X-Device", v.device)
	req.Header.Set("X-Channel", v.channel)
	resp, err := t.client.Do(req)
	if err != nil {
		t.failures.Add(1)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.requests.Add(1)
	return resp.StatusCode < 300
}
