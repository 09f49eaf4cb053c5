package redisstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/internal/shared"
)

// TestProgressImpair drives failures through the boundary: a failure
// applies in order with the user's events, impairs the attempt active at
// its time once per step (the first error type wins), counts the steps
// the attempt reached and then those it reaches later, and does nothing
// without an active attempt; the impairment is kept in the attempt's
// record across flushes (the last step's bit included), a new attempt
// starts clean, and after Shutdown Impair reports false and counts
// nothing.
func TestProgressImpair(t *testing.T) {
	st := newStore(t, "test:impair:")
	d := newDrops(t)
	types := []string{"_OTHER", "500", "503", "x:y"}
	const n = shared.MaxProgressSteps
	p, err := st.NewProgress(shared.ProgressConfig{
		Kind: shared.FunnelProgress, Name: "f", Steps: n, Window: time.Hour, Rules: anyOrder,
		Unavailable: d.unavailable, Closed: d.closed,
		ErrorType: func(i int) string { return types[i] },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	flush := func() {
		t.Helper()
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	sec := int64(time.Second)
	user := func(i uint64) uint64 { return i<<32 | i }
	push := func(u uint64, at int64, k int, row string) {
		t.Helper()
		if !p.Push(user(u), at, k, row) {
			t.Fatalf("Push(%d, %d) dropped", u, k)
		}
	}
	impair := func(u uint64, at int64, k, typ int) {
		t.Helper()
		if !p.Impair(user(u), at, k, typ) {
			t.Fatalf("Impair(%d, %d) dropped", u, k)
		}
	}

	// User 1, in one batch: reaches 0 and 1, fails at the furthest step
	// (1) with 500, then at 1 again with 503 (counted once), then at 0
	// with 503, then reaches 2.
	push(1, t0, 0, "rA")
	push(1, t0+sec, 1, "")
	impair(1, t0+2*sec, shared.ImpairFurthest, 1)
	impair(1, t0+3*sec, 1, 2)
	impair(1, t0+3*sec, 0, 2)
	push(1, t0+4*sec, 2, "")
	// User 2 has no attempt; user 3's has expired; user 4 fails before
	// its first step.
	impair(2, t0, 0, 1)
	push(3, t0, 0, "rB")
	impair(3, t0+3600*sec, 0, 1)
	impair(4, t0, 0, 1)
	push(4, t0, 0, "rA")
	// User 5 fails at 0, and reaches 1 in a later batch.
	push(5, t0, 0, "rB")
	impair(5, t0, 0, 3)
	flush()
	push(5, t0+sec, 1, "")
	// User 6 reaches the last step only, fails there; in later batches,
	// fails there again and reaches step 0.
	push(6, t0, n-1, "rC")
	impair(6, t0, shared.ImpairFurthest, 1)
	flush()
	impair(6, t0+sec, n-1, 2)
	flush()
	push(6, t0+2*sec, 0, "")
	// User 1 starts a new attempt, clean: a step reached is not impaired.
	push(1, t0+7200*sec, 0, "rA")
	push(1, t0+7201*sec, 1, "")
	flush()

	got, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := func(kv ...int64) (a [n]int64) {
		for i := 0; i < len(kv); i += 2 {
			a[kv[i]] = kv[i+1]
		}
		return a
	}
	ptr := func(a [n]int64) *[n]int64 { return &a }
	want := map[string]*shared.ProgressCounts{
		"rA": {
			Users:         steps(0, 3, 1, 2, 2, 1),
			ImpairedSteps: steps(0, 1, 1, 1, 2, 1),
			Impaired:      map[string]*[n]int64{"500": ptr(steps(1, 1)), "503": ptr(steps(0, 1))},
		},
		"rB": {
			Users:         steps(0, 2, 1, 1),
			ImpairedSteps: steps(0, 1, 1, 1),
			Impaired:      map[string]*[n]int64{"x:y": ptr(steps(0, 1))},
		},
		"rC": {
			Users:         steps(0, 1, n-1, 1),
			ImpairedSteps: steps(0, 1, n-1, 1),
			Impaired:      map[string]*[n]int64{"500": ptr(steps(n-1, 1))},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}

	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Impair(user(1), t0+7202*sec, 0, 1) {
		t.Error("Impair after Shutdown accepted")
	}
	if n := d.count(t, "closed"); n != 0 {
		t.Errorf("closed = %d, want 0", n)
	}
	if n := d.count(t, "store_unavailable"); n != 0 {
		t.Errorf("store_unavailable = %d, want 0", n)
	}
}
