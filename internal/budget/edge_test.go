package budget

import (
	"slices"
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

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
