package slo_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// Every bad declaration is an error naming the value, never a panic.
func TestValidateEdgeCases(t *testing.T) {
	avail := slo.HTTPAvailability{}
	bad := []struct {
		s    slo.SLO
		want string
	}{
		{slo.SLO{Name: "a", Objective: math.NaN(), SLI: avail}, "objective NaN"},
		{slo.SLO{Name: "a", Objective: math.Inf(1), SLI: avail}, "objective +Inf"},
		{slo.SLO{Name: "a", Objective: math.Inf(-1), SLI: avail}, "objective -Inf"},
		{slo.SLO{Name: "a", Objective: 1, SLI: avail}, "objective 1 "},
		{slo.SLO{Name: "a", Objective: 0, SLI: avail}, "objective 0 "},
		{slo.SLO{Name: "a", Objective: 0.5, Window: 36 * time.Hour, SLI: avail}, "window 36h0m0s"},
		{slo.SLO{Name: "a", Objective: 0.5, Window: 36 * slo.Day, SLI: avail}, "window 864h0m0s"},
		{slo.SLO{Name: "a", Objective: 0.5, Window: slo.Day + 1, SLI: avail}, "window 24h0m0.000000001s"},
		{slo.SLO{Name: "a", Objective: 0.5, Window: math.MinInt64, SLI: avail}, "window -2562047h"},
		{slo.SLO{Name: "a", Objective: 0.5, MinEvents: math.MinInt, SLI: avail}, "MinEvents -9223372036854775808"},
		{slo.SLO{Name: "a", Objective: 0.5}, "no SLI"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: (*slo.HTTPAvailability)(nil)}, "unknown SLI *slo.HTTPAvailability"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: &slo.HTTPLatency{Threshold: time.Second}}, "unknown SLI *slo.HTTPLatency"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.HTTPAvailability{Routes: []string{"/a\xffb"}}}, `route "/a\xffb"`},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.HTTPAvailability{Routes: []string{"pay"}}}, `route "pay"`},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.HTTPAvailability{Methods: []string{"get"}}}, `method "get"`},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.HTTPAvailability{Methods: []string{"_OTHER"}}}, `method "_OTHER"`},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.HTTPLatency{Threshold: -time.Nanosecond}}, "latency threshold -1ns"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.OperationLatency{Operation: "db", Threshold: 300 * time.Millisecond}}, "latency threshold 300ms is not a bucket boundary"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.OperationAvailability{}}, "no operation name"},
		{slo.SLO{Name: "Ab", Objective: 0.5, SLI: avail}, `"Ab": name`},
		{slo.SLO{Name: "a\x00", Objective: 0.5, SLI: avail}, `"a\x00": name`},
	}
	for _, tt := range bad {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%+v: Validate panics: %v", tt.s, r)
				}
			}()
			err = tt.s.Validate()
			_ = tt.s.Kind()
		}()
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, slo.ErrInvalid) {
			t.Errorf("%+v: error %v, want slo.ErrInvalid containing %q", tt.s, err, tt.want)
		}
	}
	if k := (slo.SLO{SLI: (*slo.HTTPAvailability)(nil)}).Kind(); k != "" {
		t.Errorf("Kind of a pointer SLI: %q, want \"\"", k)
	}
	// Duplicates in a selection, the largest MinEvents and extreme
	// thresholds are valid.
	ok := []slo.SLO{
		{Name: "dup", Objective: 0.5, SLI: slo.HTTPAvailability{Routes: []string{"/a", "/a"}, Methods: []string{"GET", "GET"}}},
		{Name: "quiet", Objective: 0.5, MinEvents: math.MaxInt, SLI: avail},
		{Name: "ns", Objective: 0.5, SLI: slo.HTTPLatency{Threshold: time.Nanosecond}},
		{Name: "hour", Objective: 0.5, SLI: slo.HTTPLatency{Threshold: time.Hour}},
	}
	if err := slo.ValidateAll(ok); err != nil {
		t.Fatal(err)
	}
	err := slo.ValidateAll(append(ok, slo.SLO{Name: "ns", Objective: 0.9, SLI: avail}))
	if err == nil || !strings.Contains(err.Error(), `"ns": two SLOs`) {
		t.Errorf("duplicate name: %v", err)
	}
}
