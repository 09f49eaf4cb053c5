package budget

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/kpikit/kpikit/slo"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func availability(name string, objective float64) slo.SLO {
	return slo.SLO{Name: name, Objective: objective, SLI: slo.HTTPAvailability{}}
}

// event is one event at a time, good or bad.
type event struct {
	at   time.Time
	good bool
}

// reference counts the events in (now-w rounded down to the tracker's
// resolution, now]: what the tracker promises.
func reference(events []event, now time.Time, w time.Duration) (n, bad int64) {
	res := time.Minute
	if w > shortLimit {
		res = time.Hour
	}
	from := now.Add(-w).Truncate(res)
	for _, e := range events {
		if e.at.Before(from) || e.at.After(now) {
			continue
		}
		n++
		if !e.good {
			bad++
		}
	}
	return n, bad
}

func TestWindowsCountEventsToTheMinuteAndHour(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := availability("random", 0.99)
	tr := New(s, t0)
	var events []event
	at := t0
	// Four days of traffic with quiet gaps of up to 3 hours, so that
	// snapshots must fill minutes and hours nobody recorded in.
	for at.Before(t0.Add(4 * slo.Day)) {
		switch rng.IntN(50) {
		case 0:
			at = at.Add(time.Duration(rng.Int64N(int64(3 * time.Hour))))
		default:
			at = at.Add(time.Duration(rng.Int64N(int64(40 * time.Second))))
		}
		e := event{at: at, good: rng.IntN(20) != 0}
		events = append(events, e)
		tr.Add(at.UnixNano(), e.good)
		if rng.IntN(500) == 0 {
			checkStatus(t, tr, events, at.Add(time.Duration(rng.Int64N(int64(time.Minute)))))
		}
	}
	checkStatus(t, tr, events, at.Add(90*time.Second))
}

func checkStatus(t *testing.T, tr *Tracker, events []event, now time.Time) {
	t.Helper()
	st := tr.Status(now)
	var good int64
	for _, e := range events {
		if e.good {
			good++
		}
	}
	if st.Total != int64(len(events)) || st.Good != good {
		t.Fatalf("at %v: total %d good %d, want %d %d", now, st.Total, st.Good, len(events), good)
	}
	for _, w := range st.Windows {
		n, bad := reference(events, now, w.Window)
		if w.Events != n || w.Bad != bad {
			t.Fatalf("at %v window %v: events %d bad %d, want %d %d", now.Sub(t0), w.Window, w.Events, w.Bad, n, bad)
		}
	}
}

func TestSetCountsFromARecorder(t *testing.T) {
	s := slo.SLO{Name: "goal", Objective: 0.8, SLI: slo.GoalConversion{Goal: "g"}}
	tr := New(s, t0)
	// Restored counts are not events of this process's windows.
	tr.Set(t0, 70, 100)
	st := tr.Status(t0)
	if w, _ := st.Window(5 * time.Minute); w.Events != 0 || st.Total != 100 || st.Good != 70 {
		t.Fatalf("after the first Set: %+v", st)
	}
	tr.Set(t0.Add(time.Minute), 78, 110) // ten attempts, eight converted, read at t0+1m
	st = tr.Status(t0.Add(time.Minute + time.Second))
	w, _ := st.Window(5 * time.Minute)
	if w.Events != 10 || w.Bad != 2 || w.ErrorRatio != 0.2 {
		t.Fatalf("5m window: %+v", w)
	}
	if w.BurnRate != 1 {
		t.Fatalf("burn rate %v, want 1", w.BurnRate)
	}
	// Events read half an hour later happened since the last reading: the
	// 5m window holds them.
	tr.Set(t0.Add(30*time.Minute), 80, 115)
	st = tr.Status(t0.Add(30*time.Minute + 10*time.Second))
	if w, _ := st.Window(5 * time.Minute); w.Events != 5 || w.Bad != 3 {
		t.Fatalf("5m window after a reading 29 minutes later: %+v", w)
	}
	// A store that lost its state reports less: no window goes negative.
	tr.Set(t0.Add(2*time.Minute), 1, 2)
	st = tr.Status(t0.Add(2 * time.Minute))
	for _, w := range st.Windows {
		if w.Events < 0 || w.Bad < 0 || w.Bad > w.Events {
			t.Fatalf("window %v after counts went back: %+v", w.Window, w)
		}
	}
}

func TestAlertsOfThePolicy(t *testing.T) {
	type phase struct {
		minutes   int
		perMinute int
		bad       int // bad events per minute
	}
	clean := phase{3 * 24 * 60, 1000, 0}
	tests := []struct {
		name         string
		minEvents    int
		phases       []phase
		page, ticket bool
	}{
		{name: "quiet", phases: []phase{{120, 1000, 0}}},
		// After three clean days, so that the day windows are diluted.
		{name: "page at 14.4x once the hour is full", phases: []phase{clean, {60, 1000, 15}}, page: true},
		{name: "page at exactly 14.4x", phases: []phase{clean, {60, 1000, 0}, {60, 5000, 72}}, page: true},
		{name: "no page at 15x after 40 minutes", phases: []phase{clean, {40, 1000, 15}}},
		{name: "no page at 5x", phases: []phase{clean, {360, 1000, 5}}},
		{name: "ticket at 3x over a day", phases: []phase{{24 * 60, 1000, 3}}, ticket: true},
		{name: "ticket at a sustained 1x", phases: []phase{{3 * 24 * 60, 1000, 1}}, ticket: true},
		{name: "no ticket just under 1x", phases: []phase{{3 * 24 * 60, 1000, 1}, {1, 1000, 0}}},
		{name: "guard: one failure of a quiet service", phases: []phase{{60, 0, 0}, {1, 1, 1}}},
		{name: "no guard: one failure pages", minEvents: 1, phases: []phase{{60, 0, 0}, {1, 1, 1}}, page: true, ticket: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := availability("alerts", 0.999)
			s.MinEvents = tt.minEvents
			tr := New(s, t0)
			at := t0
			for _, p := range tt.phases {
				for range p.minutes {
					for i := range p.perMinute {
						tr.Add(at.Add(time.Duration(i)*time.Millisecond).UnixNano(), i >= p.bad)
					}
					at = at.Add(time.Minute)
				}
			}
			st := tr.Status(at)
			if st.Page != tt.page || st.Ticket != tt.ticket {
				t.Fatalf("page %v ticket %v, want %v %v\n%+v", st.Page, st.Ticket, tt.page, tt.ticket, st.Windows)
			}
		})
	}
}

func TestBudgetRemaining(t *testing.T) {
	tr := New(availability("budget", 0.99), t0)
	for i := range 1000 {
		tr.Add(t0.Add(time.Duration(i)*time.Second).UnixNano(), i%200 != 0) // 5 bad of 1000
	}
	st := tr.Status(t0.Add(time.Hour))
	// Half the budget (1%) is spent: 0.5%.
	if st.BudgetRemaining < 0.4999999 || st.BudgetRemaining > 0.5000001 {
		t.Fatalf("budget remaining %v, want 0.5", st.BudgetRemaining)
	}
}

func TestConcurrentAddsAllCounted(t *testing.T) {
	tr := New(availability("concurrent", 0.9), t0)
	const goroutines, each = 8, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				// Every goroutine crosses minute boundaries.
				at := t0.Add(time.Duration(i) * 10 * time.Millisecond * 60)
				tr.Add(at.UnixNano(), (i+g)%10 != 0)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			tr.Status(t0.Add(time.Duration(i) * time.Minute))
		}
	})
	wg.Wait()
	st := tr.Status(t0.Add(100 * time.Hour))
	if st.Total != goroutines*each || st.Good != goroutines*each*9/10 {
		t.Fatalf("total %d good %d, want %d %d", st.Total, st.Good, goroutines*each, goroutines*each*9/10)
	}
}

func TestTrackerMemory(t *testing.T) {
	if size := unsafe.Sizeof(Tracker{}); size > 64<<10 {
		t.Fatalf("a tracker takes %d bytes, more than 64 KiB", size)
	} else {
		t.Logf("a tracker takes %d bytes", size)
	}
}

func BenchmarkAdd(b *testing.B) {
	tr := New(availability("bench", 0.999), t0)
	now := t0.UnixNano()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			tr.Add(now, i%1000 != 0)
		}
	})
}
