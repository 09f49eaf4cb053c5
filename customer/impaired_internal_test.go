package customer

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	reqoutcome "github.com/kpikit/kpikit/internal/outcome"
)

// TestRestoreFailuresDamaged: a payload with a failures section that is
// cut short or has a byte changed loads or fails, never panics, and the
// whole payload loads.
func TestRestoreFailuresDamaged(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	opts := []Option{WithMeterProvider(noop.NewMeterProvider()), WithClock(func() time.Time { return at }),
		WithSegments("plan")}
	steps := []string{"a", "b", "c"}
	newFunnel := func() *Funnel {
		f, err := NewFunnel("f", steps, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	f := newFunnel()
	for i, u := range []string{"u", "v", "w"} {
		var c reqoutcome.Context
		c.Set(context.Background())
		f.Step(&c, u, "a", "pro")
		f.Step(&c, u, steps[i])
		c.Outcome.Finish(true, []string{"500", "\xff", "503"}[i], nil)
	}
	header := func(f *Funnel) []byte {
		return progressHeader("funnel", f.name, f.steps, Sequential, DefaultWindow, f.rows)
	}
	p := f.store.appendState(nil, header(f))
	g := newFunnel()
	if err := g.store.restoreState(p, header(g)); err != nil {
		t.Fatalf("whole payload: %v", err)
	}
	if !g.links.active.Load() {
		t.Error("restored failures are not reported")
	}
	start := len(header(f))
	for n := start; n < len(p); n++ {
		g := newFunnel()
		_ = g.store.restoreState(p[:n], header(g))
		damaged := append([]byte(nil), p...)
		damaged[n] ^= 0xff
		g = newFunnel()
		_ = g.store.restoreState(damaged, header(g))
	}
}
