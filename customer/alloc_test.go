package customer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
)

// TestAllocs enforces the allocation budget of the recording calls.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	h := newHarness(t)
	ctx := context.Background()
	at := t0.Add(time.Minute)
	clock := func() time.Time { return at }
	opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock), customer.WithSegments("device", "plan")}
	f := mustFunnel(t, "f", []string{"a", "b"}, opts...)
	g := mustGoal(t, "g", opts...)
	const runs = 200
	users := make([]string, runs+1)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
		f.StepAt(ctx, t0, users[i], "a", "ios", "pro")
		g.ExposeAt(ctx, t0, users[i], "ios", "pro")
	}
	var nilFunnel *customer.Funnel
	next := 0
	tests := []struct {
		name string
		fn   func()
		max  float64
	}{
		{"Step tracked repeat", func() { f.Step(ctx, "user-1", "a", "ios", "pro") }, 0},
		{"StepAt tracked repeat", func() { f.StepAt(ctx, at, "user-1", "a", "ios", "pro") }, 0},
		{"StepAt advance and convert", func() {
			f.StepAt(ctx, at, users[next], "b")
			next++
		}, 0},
		{"StepAt unknown step", func() { f.StepAt(ctx, at, "user-1", "nope") }, 0},
		{"StepAt empty user", func() { f.StepAt(ctx, at, "", "a") }, 0},
		{"StepAt late", func() { f.StepAt(ctx, time.Time{}, "user-1", "a") }, 0},
		{"nil funnel", func() { nilFunnel.Step(ctx, "user-1", "a") }, 0},
		{"Goal Convert tracked", func() { g.Convert(ctx, "user-1") }, 0},
		{"Goal Expose tracked", func() { g.Expose(ctx, "user-1", "ios", "pro") }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next = 0
			if got := testing.AllocsPerRun(runs, tt.fn); got > tt.max {
				t.Errorf("%s: %v allocs/op, want <= %v", tt.name, got, tt.max)
			}
		})
	}
}
