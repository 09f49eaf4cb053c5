//go:build !race

package customer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestFunnelRedisAllocs: recording into a funnel or goal kept in Redis
// does not allocate. The flushers are held in a round trip by a client
// hook first, so that their allocations do not count; the hot path only
// buffers (and drops the oldest once full).
func TestFunnelRedisAllocs(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer func() { _ = client.Close() }()
	hold := &holdHook{held: make(chan struct{}, 2), release: make(chan struct{})}
	client.AddHook(hold)
	st, err := redisstate.New(client, redisstate.WithBufferSize(256))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	opts := []Option{WithClock(func() time.Time { return at }), WithSegments("device", "plan"), WithState(st)}
	f, err := NewFunnel("f", []string{"a", "b"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	g, err := NewGoal("g", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Close() }()
	ctx := context.Background()
	users := make([]string, 512)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
		f.StepAt(ctx, at, users[i], "a", "ios", "pro") // resolves the row
		g.ExposeAt(ctx, at, users[i], "ios", "pro")
	}
	for _, r := range []interface{ Flush(context.Context) error }{f, g} {
		if err := r.Flush(ctx); err != nil { // loads the script
			t.Fatal(err)
		}
	}
	hold.on.Store(true)
	defer close(hold.release)
	f.Step(ctx, users[0], "b")
	g.Convert(ctx, users[0])
	for range 2 {
		select {
		case <-hold.held:
		case <-time.After(5 * time.Second):
			t.Fatal("a flusher did not start its round trip")
		}
	}
	next := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"Step start", func() { f.Step(ctx, users[next&511], "a", "ios", "pro"); next++ }},
		{"StepAt advance", func() { f.StepAt(ctx, at, users[next&511], "b"); next++ }},
		{"Goal Expose", func() { g.Expose(ctx, users[next&511], "ios", "pro"); next++ }},
		{"Goal Convert", func() { g.Convert(ctx, users[next&511]); next++ }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(1000, tt.fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
		}
	}
}

// holdHook holds every pipeline, while on, until release is closed, and
// says so on held.
type holdHook struct {
	on      atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (h *holdHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *holdHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *holdHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.on.Load() {
			select {
			case h.held <- struct{}{}:
			default:
			}
			<-h.release
		}
		return next(ctx, cmds)
	}
}
