package budget

import (
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

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
