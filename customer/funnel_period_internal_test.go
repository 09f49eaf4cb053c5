package customer

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
)

// TestFunnelPeriodEntriesBounded keeps a user active every day for 90
// days, each day's attempt starting before the last one expired: the user
// holds only the entries a late event can still change (the window plus
// the late tolerance, two days, in days), not one per day since the start.
func TestFunnelPeriodEntriesBounded(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	f, err := NewFunnel("f", []string{"visit", "pay"}, WithMeterProvider(noop.NewMeterProvider()),
		WithPeriod(Day), WithHorizon(100), WithWindow(25*time.Hour), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	most := 0
	for d := range 90 {
		now = start.Add(time.Duration(d) * 24 * time.Hour)
		f.StepAt(ctx, now, "u", "visit")
		f.StepAt(ctx, now.Add(time.Minute), "busy", "visit") // moves the watermark too
		s := f.store
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			if a := sh.users["u"]; a != nil {
				most = max(most, len(*a.entries())/s.pf.block)
			}
			sh.mu.Unlock()
		}
	}
	// Entries of periods before the period of watermark - 2 windows
	// (50 hours) are dropped: at most 4 days are held.
	if most > 4 {
		t.Errorf("a user active every day held %d entries at once, want at most 4", most)
	}
}
