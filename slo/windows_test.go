package slo_test

import (
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// StatusWindows lists each window once, the SLO's last unless it is one
// of the policy's.
func TestStatusWindows(t *testing.T) {
	for _, tt := range []struct {
		w    time.Duration
		want int
	}{{0, 8}, {slo.Day, 7}, {3 * slo.Day, 7}, {2 * slo.Day, 8}, {slo.MaxWindow, 8}} {
		s := slo.SLO{Window: tt.w}
		got := s.StatusWindows()
		if len(got) != tt.want || got[len(got)-1] < 3*slo.Day && tt.w > 3*slo.Day {
			t.Errorf("window %v: %v", tt.w, got)
		}
		got[0] = 0 // a copy: Windows stays as it is
		if slo.Windows[0] != 5*time.Minute {
			t.Fatal("StatusWindows returned slo.Windows itself")
		}
	}
}
