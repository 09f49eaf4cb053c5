package customer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
)

// TestActivitySnapshotSketchV1 loads a snapshot written before the sparse
// tier existed (testdata/activity-sketch-v1.snap: its sets are in the
// sketch encoding of version 1): 100 users of 2026-W10 in an exact set and
// 3,000 of 2026-W11 in a dense one, which that version reported as 2,995.
// The figures come back identical, and the recorder goes on counting.
func TestActivitySnapshotSketchV1(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "activity-sketch-v1.snap"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "activity.snap")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	now := week(1).Add(time.Hour)
	open := func() (*customer.Activity, *harness) {
		h := newHarness(t)
		a, err := customer.NewActivity("app", customer.WithMeterProvider(h.mp), customer.WithPeriod(customer.Week),
			customer.WithClock(func() time.Time { return now }), customer.WithSnapshot(path, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a, h
	}
	small := periodKey(customer.MetricActivePeriodUsers, "2026-W10")
	large := periodKey(customer.MetricActivePeriodUsers, "2026-W11")
	a, h := open()
	p := h.points(t)
	if p[small] != 100 || p[large] != 2995 {
		t.Fatalf("loaded W10 = %v, W11 = %v; want 100 and 2995", p[small], p[large])
	}
	a.ActiveAt(ctx, week(0), "after-load", week(0))
	a.ActiveAt(ctx, week(0), "v1-small-7", week(0)) // already counted
	if got := h.points(t)[small]; got != 101 {
		t.Errorf("W10 after one new user = %v, want 101", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_, h = open() // the snapshot written in the current version
	if p := h.points(t); p[small] != 101 || p[large] != 2995 {
		t.Errorf("reloaded W10 = %v, W11 = %v; want 101 and 2995", p[small], p[large])
	}
}
