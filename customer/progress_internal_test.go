package customer

import (
	"context"
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
)

func TestAdvance(t *testing.T) {
	const n = 3
	tests := []struct {
		name  string
		order Order
		mask  uint32
		ended bool
		k     int
		want  outcome
		mask2 uint32
		end2  bool
	}{
		{"sequential next", Sequential, 0b001, false, 1, outcome{reached: 1, counted: true}, 0b011, false},
		{"sequential last completes", Sequential, 0b011, false, 2, outcome{reached: 2, completed: true, counted: true}, 0b111, false},
		{"sequential repeat", Sequential, 0b011, false, 0, outcome{reached: -1, counted: true}, 0b011, false},
		{"sequential skip", Sequential, 0b001, false, 2, outcome{reached: -1}, 0b001, false},
		{"any new", Any, 0b100, false, 0, outcome{reached: 0, counted: true}, 0b101, false},
		{"any completes", Any, 0b101, false, 1, outcome{reached: 1, completed: true, counted: true}, 0b111, false},
		{"any repeat", Any, 0b101, false, 2, outcome{reached: -1, counted: true}, 0b101, false},
		{"strict next", Strict, 0b001, false, 1, outcome{reached: 1, counted: true}, 0b011, false},
		{"strict repeat current", Strict, 0b011, false, 1, outcome{reached: -1, counted: true}, 0b011, false},
		{"strict back ends", Strict, 0b011, false, 0, outcome{reached: -1}, 0b011, true},
		{"strict skip ends", Strict, 0b001, false, 2, outcome{reached: -1}, 0b001, true},
		{"ended ignores", Strict, 0b001, true, 1, outcome{reached: -1}, 0b001, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := attempt{mask: tt.mask, ended: tt.ended}
			got := advance(&a, tt.k, n, tt.order)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(outcome{})); diff != "" {
				t.Errorf("advance(mask %03b, step %d, %v) (-want +got):\n%s", tt.mask, tt.k, tt.order, diff)
			}
			if a.mask != tt.mask2 || a.ended != tt.end2 {
				t.Errorf("advance(mask %03b, step %d, %v): attempt mask %03b ended %v, want %03b %v", tt.mask, tt.k, tt.order, a.mask, a.ended, tt.mask2, tt.end2)
			}
		})
	}
}

func TestPlace(t *testing.T) {
	const w, start = 100, 1000
	tests := []struct {
		name    string
		none    bool // the user has no attempt
		at      int64
		k       int
		order   Order
		wantAt  int64
		wantPlc placement
	}{
		{"no attempt, first step", true, 500, 0, Sequential, 500, starts},
		{"no attempt, later step", true, 500, 1, Sequential, 500, ignored},
		{"no attempt, later step in any order", true, 500, 1, Any, 500, starts},
		{"at the start", false, start, 1, Sequential, start, joins},
		{"inside the window", false, start + w - 1, 1, Strict, start + w - 1, joins},
		{"a window after the start", false, start + w, 1, Sequential, start + w, ignored},
		{"a window after the start, first step", false, start + w, 0, Sequential, start + w, starts},
		{"a window after the start, any step in any order", false, start + w, 2, Any, start + w, starts},
		{"before the start", false, start - 1, 1, Sequential, start, joins},
		{"a window before the start", false, start - w, 1, Sequential, start, joins},
		{"more than a window before the start", false, start - 3*w, 0, Strict, start, joins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a *attempt
			if !tt.none {
				a = &attempt{start: start, mask: 0b001}
			}
			at, p := place(a, tt.at, w, tt.k, tt.order)
			if at != tt.wantAt || p != tt.wantPlc {
				t.Errorf("place(start %d (none %v), at %d, window %d, step %d, %v) = %d, %v; want %d, %v",
					start, tt.none, tt.at, w, tt.k, tt.order, at, p, tt.wantAt, tt.wantPlc)
			}
		})
	}
}

func TestUnixNano(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Time{}, -1},
		{time.Unix(-1, 0), -1},
		{time.Unix(0, 0), 0},
		{time.Unix(1700000000, 5), 1700000000*1e9 + 5},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), maxTime},
	}
	for _, tt := range tests {
		if got := unixNano(tt.t); got != tt.want {
			t.Errorf("unixNano(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestSweepAndReclaim(t *testing.T) {
	c, err := newConfig([]Option{WithWindow(time.Hour), WithMaxUsers(2)})
	if err != nil {
		t.Fatal(err)
	}
	rows := newRowTable(funnelKey.String("f"), nil, 1, 2, func([]attribute.KeyValue) rowOpts { return rowOpts{} })
	s := newProgressStore(c, 2, rows, drops{}, nil)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	now := base + int64(100*time.Hour)
	h := int64(time.Hour)
	rec := func(at int64, user string, k int) status {
		_, st := s.apply(ctx, now, at, user, k, nil, true)
		return st
	}
	// b must live in another shard than a: recording into a's shard would
	// sweep a on the way, leaving nothing for reclaim to free. Shards are
	// chosen by a per-store random seed.
	shardOf := func(u string) uint64 { return maphash.String(s.seed, u) % numShards }
	b := "b"
	for i := 0; shardOf(b) == shardOf("a"); i++ {
		b = fmt.Sprint("b", i)
	}
	// Likewise c and b: b's new attempt below must not sweep c.
	cu := "c"
	for i := 0; shardOf(cu) == shardOf(b); i++ {
		cu = fmt.Sprint("c", i)
	}
	if st := rec(base, "a", 0); st != stOK {
		t.Fatalf("a: %v", st)
	}
	if st := rec(base+3*h, b, 0); st != stOK {
		t.Fatalf("b: %v", st)
	}
	if got := s.wm.Load(); got != base+3*h {
		t.Errorf("watermark %d, want %d", got, base+3*h)
	}
	// a expired two windows before the watermark: reclaim frees it.
	if !s.reclaim() {
		t.Fatal("reclaim freed nothing")
	}
	if got := s.tracked.Load(); got != 1 {
		t.Errorf("tracked %d after reclaim, want 1", got)
	}
	// Once more at the same watermark: rate-limited.
	if s.reclaim() {
		t.Error("second reclaim at the same watermark ran")
	}
	// Older than a window behind the watermark: late.
	if st := rec(base+2*h-1, "a", 1); st != stLate {
		t.Errorf("late event: status %v, want stLate", st)
	}
	// At the cap (2) with nothing to reclaim: the third user is refused.
	if st := rec(base+3*h, cu, 0); st != stOK {
		t.Fatalf("c: %v", st)
	}
	if st := rec(base+3*h, "d", 0); st != stCap {
		t.Errorf("d: status %v, want stCap", st)
	}
	// A tracked user's new attempt after expiry does not need room.
	if st := rec(base+5*h, b, 0); st != stOK {
		t.Errorf("b again: status %v, want stOK", st)
	}
	if got := s.tracked.Load(); got != 2 {
		t.Errorf("tracked %d, want 2", got)
	}
}
