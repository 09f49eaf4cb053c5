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

// roundEvent is one recording call of the first-seen tests, in round
// (week) r on replica rep.
type roundEvent struct {
	r, rep int
	user   string
	signup time.Time
	kind   int // 0 active, 1 purchase, 2 refund
	amount int64
}

// firstSeenRounds is a fixed set of events whose users are first seen by
// different replicas in different weeks.
func firstSeenRounds() []roundEvent {
	var none time.Time
	return []roundEvent{
		{r: 1, rep: 0, user: "u0"},
		{r: 1, rep: 1, user: "u1"},
		{r: 1, rep: 2, user: "s0", signup: week(0)},
		{r: 2, rep: 0, user: "u1", kind: 1, amount: 500},
		{r: 2, rep: 2, user: "u1"},
		{r: 2, rep: 2, user: "u2"},
		{r: 2, rep: 1, user: "u4", kind: 2, amount: 50}, // refund before any activity: no cohort
		{r: 2, rep: 1, user: "s0", signup: week(0), kind: 1, amount: 70},
		{r: 3, rep: 1, user: "u0"}, // first seen by replica 1 in week 3, cohort week 1
		{r: 3, rep: 1, user: "u0", kind: 1, amount: 1200},
		{r: 3, rep: 1, user: "u0", kind: 2, amount: 200},
		{r: 3, rep: 2, user: "u2"},
		{r: 3, rep: 0, user: "u3"},
		{r: 3, rep: 0, user: "u4"},
		{r: 3, rep: 2, user: "u4", kind: 1, amount: 10},
		{r: 4, rep: 2, user: "u0", kind: 2, amount: 100},
		{r: 4, rep: 0, user: "u2", kind: 1, amount: 300},
		{r: 4, rep: 1, user: "u3", signup: none},
		{r: 4, rep: 2, user: "u1"},
		{r: 5, rep: 0, user: "u0"},
		{r: 5, rep: 2, user: "u3", kind: 1, amount: 40},
		{r: 5, rep: 1, user: "u5"},
	}
}

// randomRounds returns events of users, mostly without signup times,
// spread over weeks 1 to 6 at random. Within a round all the events of a
// user go to one replica, chosen at random per user and round: events of
// one user on several replicas between two flushes have no order.
func randomRounds(n, users int) []roundEvent {
	rnd := rand.New(rand.NewPCG(3, 4))
	var reps [7][]int
	for r := range reps {
		for range users {
			reps[r] = append(reps[r], rnd.IntN(3))
		}
	}
	out := make([]roundEvent, n)
	for i := range out {
		u, r := rnd.IntN(users), 1+rnd.IntN(6)
		e := roundEvent{r: r, rep: reps[r][u], user: fmt.Sprint("r", u)}
		switch x := rnd.IntN(10); {
		case x < 3:
			e.kind, e.amount = 1, 1+rnd.Int64N(1000)
		case x < 4:
			e.kind, e.amount = 2, 1+rnd.Int64N(100)
		}
		if rnd.IntN(8) == 0 {
			e.signup = week(rnd.IntN(e.r + 1))
		}
		out[i] = e
	}
	return out
}

// TestActivityRedisFirstSeenReplicas feeds events round by round (one
// week each, Flush between rounds) into three replicas over one Redis and
// into one memory recorder in the same order: users first seen by one
// replica and later by another keep their global first-seen cohort, so
// that every replica reports the memory recorder's values.
func TestActivityRedisFirstSeenReplicas(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name   string
		events []roundEvent
	}{
		{"fixed", firstSeenRounds()},
		{"random", randomRounds(400, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFirstSeenReplicas(t, srv, tc.name, tc.events)
		})
	}
}

func checkFirstSeenReplicas(t *testing.T, srv *redistest.Server, name string, events []roundEvent) {
	ctx := context.Background()
	clock := newClock(week(1))
	opts := func(h *harness, extra ...customer.Option) []customer.Option {
		return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithPeriod(customer.Week),
			customer.WithHorizon(8), customer.WithCurrencies("USD"), customer.WithClock(clock.Now)}, extra...)
	}
	mem := newHarness(t)
	want := mustActivity(t, opts(mem)...)
	var replicas [3]*customer.Activity
	var harnesses [3]*harness
	for i := range replicas {
		harnesses[i] = newHarness(t)
		replicas[i] = mustActivity(t, opts(harnesses[i],
			redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:firstseen:"+name+":")))...)
	}
	last := 0
	for _, e := range events {
		last = max(last, e.r)
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for r := 1; r <= last; r++ {
		at := week(r).Add(24 * time.Hour)
		clock.Set(at)
		for _, e := range events {
			if e.r != r {
				continue
			}
			for _, a := range []*customer.Activity{want, replicas[e.rep]} {
				switch e.kind {
				case 0:
					a.ActiveAt(ctx, at, e.user, e.signup)
				case 1:
					a.PurchaseAt(ctx, at, e.user, e.signup, "USD", e.amount)
				default:
					a.RefundAt(ctx, at, e.user, e.signup, "USD", e.amount)
				}
			}
		}
		for _, a := range replicas {
			if err := a.Flush(fctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	wantPoints := customerPoints(mem.collect(t))
	cohortPoints := 0
	for k := range wantPoints {
		if strings.HasPrefix(k, customer.MetricRetentionCohortSize) {
			cohortPoints++
		}
	}
	if cohortPoints < 3 {
		t.Fatalf("only %d cohorts in memory: %v", cohortPoints, wantPoints)
	}
	for i, h := range harnesses {
		rm := h.collect(t)
		if d := flatten(rm)[`kpikit.dropped{kpikit.component=customer.activity,reason=store_unavailable}`]; d != 0 {
			t.Errorf("replica %d dropped %v writes", i, d)
		}
		got := customerPoints(rm)
		for k, w := range wantPoints {
			g, ok := got[k]
			switch {
			case !ok:
				t.Errorf("replica %d: %s missing, want %v", i, k, w)
			case g != w:
				t.Errorf("replica %d: %s = %v, want %v", i, k, g, w)
			}
		}
		for k, g := range got {
			if _, ok := wantPoints[k]; !ok {
				t.Errorf("replica %d: unexpected %s = %v", i, k, g)
			}
		}
	}
}

// TestActivityRedisAllocs enforces that recording with Redis allocates
// nothing for a user whose first-seen cohort is resolved, and for a user
// with a signup time.
func TestActivityRedisAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	srv := redistest.Start(t)
	ctx := context.Background()
	at := week(1)
	h := newHarness(t)
	a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithCurrencies("USD"),
		customer.WithClock(func() time.Time { return at }),
		redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:allocs:")))
	var none time.Time
	a.PurchaseAt(ctx, at, "user-1", none, "USD", 1)
	a.PurchaseAt(ctx, at, "user-2", week(0), "USD", 1)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func()
	}{
		{"ActiveAt first-seen", func() { a.ActiveAt(ctx, at, "user-1", none) }},
		{"PurchaseAt first-seen", func() { a.PurchaseAt(ctx, at, "user-1", none, "USD", 1999) }},
		{"RefundAt first-seen", func() { a.RefundAt(ctx, at, "user-1", none, "USD", 1) }},
		{"ActiveAt signup", func() { a.ActiveAt(ctx, at, "user-2", week(0)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, tt.fn); got > 0 {
				t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
			}
		})
	}
}
