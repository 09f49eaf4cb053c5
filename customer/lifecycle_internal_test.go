package customer

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/kpikit/kpikit/internal/period"
)

// TestLifecycleTable adds records of random hashes (some sharing their low
// bits, so that probe sequences collide and wrap) and checks every one
// against a map after each growth, and that the table stays between 54%
// and 81% full once past its first size: at most 60 bytes per record.
func TestLifecycleTable(t *testing.T) {
	if s := unsafe.Sizeof(lifeRecord{}); s != 24 {
		t.Fatalf("lifeRecord is %d bytes, want 24", s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var tab lifeTable
	want := map[uint64]lifeRecord{}
	check := func() {
		t.Helper()
		for h, w := range want {
			if got := tab.find(h); got == nil || *got != w {
				t.Fatalf("find(%#x) = %v, want %v", h, got, w)
			}
		}
	}
	for i := range 100_000 {
		h := r.Uint64()
		if i%10 == 0 {
			h = h&^(1<<20-1) | uint64(i%7) // shares its low 20 bits with others
		}
		if tab.find(h) != nil {
			continue
		}
		rec := lifeRecord{cohort: int32(i), seen: noPeriod, day: noPeriod}
		if i%3 == 0 {
			rec.day, rec.days, rec.periods = int32(i), 1, uint64(i)
		}
		before := len(tab.slots)
		if got := tab.add(h, rec); *got != rec {
			t.Fatalf("add returned %v, want %v", *got, rec)
		}
		want[h] = rec
		if len(tab.slots) != before && len(want)%7 == 0 {
			check()
		}
		if n := len(want); n > 100 && (len(tab.slots)*int(unsafe.Sizeof(lifeSlot{})) > 60*n || tab.n != n) {
			t.Fatalf("%d records (n %d) in %d slots: over 60 bytes per record", n, tab.n, len(tab.slots))
		}
	}
	check()
	for range 1000 {
		if h := r.Uint64(); tab.find(h) != nil && want[h] == (lifeRecord{}) {
			t.Fatalf("find(%#x) found a record never added", h)
		}
	}
}

// TestLifecycleTouch checks the rule of touch on small cases: the status of a
// period is decided when its bit is set, a late bit also decides again
// the next period, and what is beyond the bitmap is not classified.
func TestLifecycleTouch(t *testing.T) {
	type step struct {
		q    int64
		want lifeChange
	}
	tests := []struct {
		name   string
		cohort int32
		steps  []step
	}{
		{"new, returning, resurrecting", 10, []step{
			{10, lifeChange{status: lifeNew}}, {11, lifeChange{status: lifeReturning}}, {11, lifeChange{}},
			{13, lifeChange{status: lifeResurrecting}}}},
		{"late period between two", 10, []step{
			{10, lifeChange{status: lifeNew}}, {12, lifeChange{status: lifeResurrecting}},
			{11, lifeChange{status: lifeReturning, fix: true}}}},
		{"late first period of an older cohort", 5, []step{
			{12, lifeChange{status: lifeResurrecting}}, {11, lifeChange{status: lifeResurrecting, fix: true}},
			{9, lifeChange{status: lifeResurrecting}}, {10, lifeChange{status: lifeReturning, fix: true}}}},
		{"beyond the bitmap", 0, []step{
			{100, lifeChange{status: lifeResurrecting}}, {100 - lifeReach, lifeChange{late: true}},
			{100 - lifeReach + 1, lifeChange{status: lifeResurrecting}}, {100 - lifeReach + 2, lifeChange{status: lifeReturning}},
			{200, lifeChange{status: lifeResurrecting}}, {199, lifeChange{status: lifeResurrecting, fix: true}}}},
		{"before the cohort", 10, []step{{9, lifeChange{late: true}}, {10, lifeChange{status: lifeNew}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := lifeRecord{cohort: tt.cohort, seen: noPeriod, day: noPeriod}
			for i, s := range tt.steps {
				// Daily periods: the day is the period.
				if got := r.touch(s.q, s.q, period.Day); got != s.want {
					t.Fatalf("step %d, period %d: %+v, want %+v (record %+v)", i, s.q, got, s.want, r)
				}
			}
		})
	}
}

// TestLifecycleActiveDays checks the days counted in a window ending before,
// at and (for a record updated during a collection) after the latest day.
func TestLifecycleActiveDays(t *testing.T) {
	r := lifeRecord{day: 100, days: 1 | 1<<2 | 1<<6 | 1<<7 | 1<<29 | 1<<31}
	tests := []struct {
		end, n int64
		want   int
	}{
		{100, 7, 3}, {100, 30, 5}, {101, 7, 2}, {106, 7, 1}, {107, 7, 0}, {99, 7, 3}, {98, 30, 5}, {130, 30, 0},
	}
	for _, tt := range tests {
		if got := r.activeDays(tt.end, tt.n); got != tt.want {
			t.Errorf("activeDays(%d, %d) = %d, want %d", tt.end, tt.n, got, tt.want)
		}
	}
	if got := (&lifeRecord{day: noPeriod}).activeDays(100, 30); got != 0 {
		t.Errorf("activeDays of a record without a day = %d", got)
	}
}
