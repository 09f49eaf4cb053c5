package budget

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// A process older than both rings (512 minutes, 1024 hours) still counts
// each window to the minute, or to the hour, for SLOs of the shortest and
// longest windows, with events and readings on exact minute and hour
// boundaries.
func TestWindowsOfALongLivedProcess(t *testing.T) {
	for _, window := range []time.Duration{slo.MinWindow, 3 * slo.Day, 28 * slo.Day, slo.MaxWindow} {
		t.Run(slo.WindowName(window), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(window), 7))
			s := availability("long", 0.99)
			s.Window = window
			tr := New(s, t0)
			var events []event
			at := t0
			end := t0.Add(50 * slo.Day)
			for at.Before(end) {
				switch rng.IntN(40) {
				case 0:
					at = at.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
				case 1:
					at = at.Truncate(time.Hour).Add(time.Hour) // on an hour
				case 2:
					at = at.Truncate(time.Minute).Add(time.Minute) // on a minute
				default:
					at = at.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))
				}
				e := event{at: at, good: rng.IntN(10) != 0}
				events = append(events, e)
				tr.Add(at.UnixNano(), e.good)
				if rng.IntN(100) == 0 {
					now := at
					if rng.IntN(2) == 0 {
						now = at.Add(time.Duration(rng.Int64N(int64(time.Hour))))
					}
					checkStatus(t, tr, events, now)
					at = now // the clock read by Status has passed
				}
			}
			checkStatus(t, tr, events, at)
			checkStatus(t, tr, events, at.Truncate(time.Hour).Add(time.Hour))
		})
	}
}

// An SLO whose window is one of the policy's (1 or 3 days) reports each
// window once.
func TestSLOWindowThatIsAPolicyWindow(t *testing.T) {
	for _, w := range []time.Duration{slo.Day, 3 * slo.Day, 7 * slo.Day} {
		s := availability("w", 0.9)
		s.Window = w
		tr := New(s, t0)
		tr.Add(t0.Add(time.Second).UnixNano(), false)
		st := tr.Status(t0.Add(time.Minute))
		var got []time.Duration
		for _, ws := range st.Windows {
			got = append(got, ws.Window)
		}
		if want := s.StatusWindows(); !slices.Equal(got, want) {
			t.Errorf("%v: windows %v, want %v", w, got, want)
		}
		if len(slices.Compact(slices.Clone(got))) != len(got) || !slices.Contains(got, w) {
			t.Errorf("%v: windows %v repeat one or miss the SLO's", w, got)
		}
		if ws, _ := st.Window(w); ws.Events != 1 || st.BudgetRemaining != -9 {
			t.Errorf("%v: SLO window %+v, budget remaining %v", w, ws, st.BudgetRemaining)
		}
	}
}

// Snapshots taken by Status before the first Set (a goal whose store did
// not answer yet) do not turn the seed into events of the windows.
func TestFirstSetAfterStatus(t *testing.T) {
	s := slo.SLO{Name: "goal", Objective: 0.99, SLI: slo.GoalConversion{Goal: "g"}}
	tr := New(s, t0)
	for m := range 90 {
		tr.Status(t0.Add(time.Duration(m) * time.Minute))
	}
	tr.Set(t0.Add(90*time.Minute), 800, 1000) // the first reading: history
	tr.Set(t0.Add(92*time.Minute), 809, 1010) // ten attempts, one bad
	st := tr.Status(t0.Add(92*time.Minute + time.Second))
	for _, w := range st.Windows {
		if w.Events != 10 || w.Bad != 1 {
			t.Errorf("window %v: %d events, %d bad; want 10, 1", w.Window, w.Events, w.Bad)
		}
	}
}

// Times before 1970 (a test clock, a fake time) are counted like any other,
// without an index out of the rings.
func TestTimesBefore1970(t *testing.T) {
	start := time.Date(1969, 12, 31, 22, 59, 30, 0, time.UTC)
	s := availability("old", 0.9)
	tr := New(s, start)
	var events []event
	for i := range 400 {
		at := start.Add(time.Duration(i) * 37 * time.Second)
		e := event{at: at, good: i%7 != 0}
		events = append(events, e)
		tr.Add(at.UnixNano(), e.good)
	}
	checkStatus(t, tr, events, events[len(events)-1].at)
	New(s, time.Time{}).Status(time.Time{})
	tr = New(s, time.Time{})
	tr.Add(time.Time{}.Add(time.Hour).UnixNano(), true)
	tr.Status(time.Time{}.Add(2 * time.Hour))
}

// A clock that goes back, between adds, between statuses, or to before
// the tracker was created, never gives a negative window or more bad
// events than events.
func TestClockGoingBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := availability("back", 0.9)
	tr := New(s, t0)
	at := t0
	var n int64
	for range 20000 {
		d := time.Duration(rng.Int64N(int64(10*time.Minute))) - 4*time.Minute
		if rng.IntN(500) == 0 {
			d = -time.Duration(rng.Int64N(int64(10 * slo.Day)))
		}
		at = at.Add(d)
		tr.Add(at.UnixNano(), rng.IntN(3) != 0)
		n++
		if rng.IntN(10) == 0 {
			st := tr.Status(at.Add(time.Duration(rng.Int64N(int64(2*time.Hour))) - time.Hour))
			checkSane(t, st)
			if st.Total != n {
				t.Fatalf("total %d, want %d", st.Total, n)
			}
		}
	}
	checkSane(t, tr.Status(t0.Add(-slo.Day)))
}

func checkSane(t *testing.T, st slo.Status) {
	t.Helper()
	if st.Good < 0 || st.Good > st.Total {
		t.Fatalf("good %d of %d", st.Good, st.Total)
	}
	for _, w := range st.Windows {
		if w.Events < 0 || w.Bad < 0 || w.Bad > w.Events || w.Events > st.Total || w.ErrorRatio < 0 || w.ErrorRatio > 1 {
			t.Fatalf("window %v: %+v (total %d)", w.Window, w, st.Total)
		}
	}
}

// Status concurrent with adds that cross minute boundaries never sees
// more bad events than events, nor a negative window, nor counts that
// go back.
func TestStatusConcurrentWithAdds(t *testing.T) {
	tr := New(availability("concurrent", 0.9), t0)
	const goroutines, each = 4, 3000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				at := t0.Add(time.Duration(i) * time.Second * 2)
				tr.Add(at.UnixNano(), (i+g)%3 != 0)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			var last int64
			for i := range 300 {
				st := tr.Status(t0.Add(time.Duration(i) * 20 * time.Second))
				checkSane(t, st)
				if st.Total < last {
					t.Errorf("total went back from %d to %d", last, st.Total)
				}
				last = st.Total
			}
		})
	}
	wg.Wait()
}
