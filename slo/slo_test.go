package slo_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/slo"
)

func TestPolicyFactors(t *testing.T) {
	tests := []struct {
		window time.Duration
		want   []float64
	}{
		{0, []float64{14.4, 6, 3, 1}}, // the default, 30 days: the SRE workbook's factors
		{30 * slo.Day, []float64{14.4, 6, 3, 1}},
		{28 * slo.Day, []float64{13.44, 5.6, 2.8, 0.933333333333}},
	}
	for _, tt := range tests {
		s := slo.SLO{Name: "x", Objective: 0.999, Window: tt.window, SLI: slo.HTTPAvailability{}}
		var got []float64
		for _, a := range s.Policy() {
			got = append(got, a.Factor)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("window %v: factors (-want +got):\n%s", tt.window, diff)
		}
	}
	s := slo.SLO{Name: "x", Objective: 0.999, SLI: slo.HTTPAvailability{}}
	p := s.Policy()
	wantWindows := [][2]time.Duration{{time.Hour, 5 * time.Minute}, {6 * time.Hour, 30 * time.Minute}, {slo.Day, 2 * time.Hour}, {3 * slo.Day, 6 * time.Hour}}
	for i, a := range p {
		if a.Long != wantWindows[i][0] || a.Short != wantWindows[i][1] {
			t.Errorf("condition %d: windows %v and %v, want %v", i, a.Long, a.Short, wantWindows[i])
		}
	}
	// Thresholds are the numbers the rules compare with: 14.4 x 0.001 is
	// 0.0144, not 0.014400000000000001.
	if th := s.Threshold(14.4); th != 0.0144 {
		t.Errorf("threshold of 14.4x at 99.9%%: %v", th)
	}
	if b := s.Budget(); b != 0.001 {
		t.Errorf("budget at 99.9%%: %v", b)
	}
}

func TestWindowName(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", 30 * time.Minute: "30m", time.Hour: "1h", 6 * time.Hour: "6h",
		slo.Day: "1d", 3 * slo.Day: "3d", 28 * slo.Day: "28d", 90 * time.Second: "90s",
	} {
		if got := slo.WindowName(d); got != want {
			t.Errorf("WindowName(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := []slo.SLO{
		{Name: "a", Objective: 0.5, SLI: slo.HTTPAvailability{}},
		{Name: "pay-availability-2", Objective: 0.99999, Window: 28 * slo.Day, MinEvents: 1, SLI: slo.HTTPAvailability{Routes: []string{"/pay"}, Methods: []string{"POST", "GET"}}},
		{Name: "l", Objective: 0.9, Window: slo.Day, SLI: slo.HTTPLatency{Threshold: time.Nanosecond}},
		{Name: "o", Objective: 0.9, Window: 35 * slo.Day, SLI: slo.OperationLatency{Operation: "db", Threshold: 2500 * time.Millisecond}},
		{Name: "g", Objective: 0.8, SLI: slo.GoalConversion{Goal: "cart_to_paid"}},
	}
	if err := slo.ValidateAll(ok); err != nil {
		t.Fatalf("valid SLOs: %v", err)
	}
	bad := []struct {
		s    slo.SLO
		want string
	}{
		{slo.SLO{Name: "-a", Objective: 0.5, SLI: slo.HTTPAvailability{}}, `"-a": name`},
		{slo.SLO{Name: "a-", Objective: 0.5, SLI: slo.HTTPAvailability{}}, `"a-": name`},
		{slo.SLO{Name: "a_b", Objective: 0.5, SLI: slo.HTTPAvailability{}}, `"a_b": name`},
		{slo.SLO{Name: strings.Repeat("a", 64), Objective: 0.5, SLI: slo.HTTPAvailability{}}, "name must be 1 to 63"},
		{slo.SLO{Name: "a", Objective: -0.1, SLI: slo.HTTPAvailability{}}, "objective -0.1"},
		{slo.SLO{Name: "a", Objective: 0.5, Window: -slo.Day, SLI: slo.HTTPAvailability{}}, "window -24h0m0s"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.GoalConversion{}}, "no goal name"},
		{slo.SLO{Name: "a", Objective: 0.5, SLI: slo.OperationLatency{Operation: "db"}}, "latency threshold 0s is not positive"},
	}
	for _, tt := range bad {
		err := tt.s.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, slo.ErrInvalid) {
			t.Errorf("%+v: error %v, want slo.ErrInvalid containing %q", tt.s, err, tt.want)
		}
	}
	// Every problem of one SLO is named at once.
	err := slo.SLO{Name: "", Objective: 2, Window: time.Hour}.Validate()
	for _, want := range []string{"name", "objective 2", "window 1h0m0s", "no SLI"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %q", err, want)
		}
	}
}

func TestNewStatus(t *testing.T) {
	s := slo.SLO{Name: "x", Objective: 0.99, SLI: slo.HTTPAvailability{}}
	windows := make([]slo.WindowStatus, 0, len(slo.Windows)+1)
	for _, w := range append(slo.Windows, s.WindowOrDefault()) {
		windows = append(windows, slo.WindowStatus{Window: w, Events: 1000, Bad: 200})
	}
	st := slo.NewStatus(s, 800, 1000, windows)
	w, ok := st.Window(time.Hour)
	if !ok || w.ErrorRatio != 0.2 || w.BurnRate != 20 {
		t.Fatalf("1h window: %+v", w)
	}
	if st.BudgetRemaining != -19 || !st.Page || !st.Ticket {
		t.Fatalf("status: budget %v page %v ticket %v", st.BudgetRemaining, st.Page, st.Ticket)
	}
	if _, ok := st.Window(time.Minute); ok {
		t.Fatal("a 1m window was found")
	}
	// No events: nothing is burning and the budget is whole.
	for i := range windows {
		windows[i] = slo.WindowStatus{Window: windows[i].Window}
	}
	st = slo.NewStatus(s, 0, 0, windows)
	if st.BudgetRemaining != 1 || st.Page || st.Ticket {
		t.Fatalf("no events: %+v", st)
	}
}

func TestWritersRejectInvalidSLOs(t *testing.T) {
	bad := []slo.SLO{{Name: "a", Objective: 2, SLI: slo.HTTPAvailability{}}}
	good := []slo.SLO{{Name: "a", Objective: 0.9, Window: 7 * slo.Day, SLI: slo.HTTPAvailability{}}}
	var b strings.Builder
	for name, err := range map[string]error{
		"rules":           slo.WriteRules(&b, bad),
		"sloth":           slo.WriteSloth(&b, "shop", bad),
		"openslo":         slo.WriteOpenSLO(&b, "shop", bad),
		"sloth, 7 days":   slo.WriteSloth(&b, "shop", good),
		"sloth, service":  slo.WriteSloth(&b, "Shop!", []slo.SLO{{Name: "a", Objective: 0.9, SLI: slo.HTTPAvailability{}}}),
		"openslo service": slo.WriteOpenSLO(&b, "", good),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if b.Len() != 0 {
		t.Errorf("something was written: %q", b.String())
	}
}

func TestSelect(t *testing.T) {
	slos := []slo.SLO{
		{Name: "a", SLI: slo.HTTPAvailability{}},
		{Name: "b", SLI: slo.OperationLatency{Operation: "db"}},
		{Name: "c", SLI: slo.HTTPLatency{}},
		{Name: "d", SLI: slo.GoalConversion{Goal: "paid"}},
		{Name: "e", SLI: slo.OperationAvailability{Operation: "cache"}},
		{Name: "f"},
	}
	names := func(ss []slo.SLO) (out []string) {
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out
	}
	for c, want := range map[slo.Counter][]string{
		slo.Middleware:       {"a", "c"},
		slo.Operation("db"):  {"b"},
		slo.Operation("web"): nil,
		slo.Goal("paid"):     {"d"},
		{}:                   {"f"},
	} {
		if diff := cmp.Diff(want, names(slo.Select(slos, c))); diff != "" {
			t.Errorf("Select(%+v) (-want +got):\n%s", c, diff)
		}
	}
}

func TestLatencyThreshold(t *testing.T) {
	for _, tt := range []struct {
		sli  slo.SLI
		want time.Duration
	}{
		{slo.HTTPLatency{Threshold: time.Second}, time.Second},
		{slo.OperationLatency{Operation: "db", Threshold: 5 * time.Millisecond}, 5 * time.Millisecond},
		{slo.HTTPAvailability{}, 0},
		{slo.GoalConversion{Goal: "g"}, 0},
		{nil, 0},
	} {
		if got := (slo.SLO{SLI: tt.sli}).LatencyThreshold(); got != tt.want {
			t.Errorf("LatencyThreshold of %#v = %v, want %v", tt.sli, got, tt.want)
		}
	}
}
