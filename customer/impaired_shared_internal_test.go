//go:build !race

package customer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer/redisstate"
	reqoutcome "github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestImpairedRedisAllocs: with a funnel kept in Redis, a step linked to
// a request that then fails, and a link of a failing request, do not
// allocate: the failure only buffers. The flusher is held in a round
// trip first, as in TestFunnelRedisAllocs.
func TestImpairedRedisAllocs(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer func() { _ = client.Close() }()
	hold := &holdHook{held: make(chan struct{}, 1), release: make(chan struct{})}
	client.AddHook(hold)
	st, err := redisstate.New(client, redisstate.WithBufferSize(256), redisstate.WithKeyPrefix("allocs:impaired:"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f, err := NewFunnel("f", []string{"a", "b"}, WithClock(func() time.Time { return at }), WithSegments("device"), WithState(st))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ctx := context.Background()
	users := make([]string, 512)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
		f.StepAt(ctx, at, users[i], "a", "ios")
	}
	var warm reqoutcome.Context // takes the error type into the table
	warm.Set(ctx)
	f.Step(&warm, users[0], "b")
	warm.Outcome.Finish(true, "500", nil)
	if err := f.Flush(ctx); err != nil { // loads the script
		t.Fatal(err)
	}
	hold.on.Store(true)
	defer close(hold.release)
	f.Step(ctx, users[0], "b")
	select {
	case <-hold.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the flusher did not start its round trip")
	}
	const runs = 1000
	ctxs := make([]reqoutcome.Context, runs+1)
	next := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"Step linked, failed", func() {
			c := &ctxs[next]
			f.Step(c, users[next&511], "b")
			c.Outcome.Finish(true, "500", nil)
			next++
		}},
		{"Link, failed", func() {
			c := &ctxs[next]
			f.Link(c, users[next&511])
			c.Outcome.Finish(true, "500", nil)
			next++
		}},
	}
	for _, tt := range tests {
		for i := range ctxs {
			ctxs[i] = reqoutcome.Context{}
			ctxs[i].Set(ctx)
		}
		next = 0
		if got := testing.AllocsPerRun(runs, tt.fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
		}
	}
}
