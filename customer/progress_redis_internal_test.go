//go:build !race

package customer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kpikit/kpikit/internal/redistest"
)

// TestFunnelRedisAllocs: recording into a funnel kept in Redis does not
// allocate. The flusher is stopped first, so that its allocations do not
// count; the hot path only buffers (and drops the oldest once full).
func TestFunnelRedisAllocs(t *testing.T) {
	srv := redistest.Start(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	opts := []Option{WithClock(func() time.Time { return at }), WithSegments("device", "plan"),
		WithRedis(srv.Addr()), WithRedisBufferSize(256)}
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
	}
	for _, r := range []*remoteProgress{f.store.remote, g.store.remote} {
		r.stopFlusher(ctx)
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
