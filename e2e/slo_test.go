package e2e

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// declaredSLO is one of the shop's SLOs, as its generated rules declare it.
type declaredSLO struct {
	Name      string
	Objective float64
	Goal      bool // a goal conversion SLO, read from the customer_goal_* series
}

var (
	ruleGroupRE = regexp.MustCompile(`(?m)^  - name: "kpikit-slo-([a-z0-9-]+)"$`)
	objectiveRE = regexp.MustCompile(`record: slo:objective:ratio\n\s+expr: "vector\(([^)]+)\)"`)
)

// shopRules runs the shop with -slo-rules into dir and returns the rules
// file and the SLOs it declares.
func shopRules(t *testing.T, dir string) (string, []declaredSLO) {
	t.Helper()
	path := filepath.Join(dir, "slo-rules.yaml")
	if out, err := exec.Command(shopBinary(t), "-slo-rules", path).CombinedOutput(); err != nil {
		t.Fatalf("shop -slo-rules: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	var slos []declaredSLO
	starts := ruleGroupRE.FindAllStringSubmatchIndex(text, -1)
	for i, m := range starts {
		end := len(text)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		group := text[m[0]:end]
		obj := objectiveRE.FindStringSubmatch(group)
		if obj == nil {
			t.Fatalf("rule group of SLO %s has no objective:\n%s", text[m[2]:m[3]], group)
		}
		v, err := strconv.ParseFloat(obj[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		slos = append(slos, declaredSLO{Name: text[m[2]:m[3]], Objective: v, Goal: strings.Contains(group, "customer_goal_")})
	}
	if len(slos) == 0 {
		t.Fatalf("no SLO in the shop's rules:\n%s", text)
	}
	return path, slos
}

// sloSeries returns the series of family name whose slo_name is slo.
func sloSeries(fams map[string]*dto.MetricFamily, name, slo string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		if label(m, "slo_name") == slo {
			out = append(out, m)
		}
	}
	return out
}

// checkSLOs checks the SLO metrics of each SLO the shop gives its
// middleware and its operation, as the collector's Prometheus exporter
// names them: the objective as declared, events counted, the good ones
// among them, and the error ratio, burn rate, budget and alerts of a
// replica that saw every event in each window.
func checkSLOs(t *testing.T, fams map[string]*dto.MetricFamily, slos []declaredSLO) {
	t.Helper()
	types := map[string]dto.MetricType{
		"slo_objective_ratio": dto.MetricType_GAUGE, "slo_events_total": dto.MetricType_COUNTER,
		"slo_good_events_total": dto.MetricType_COUNTER, "slo_error_ratio": dto.MetricType_GAUGE,
		"slo_burn_rate_ratio": dto.MetricType_GAUGE, "slo_error_budget_remaining_ratio": dto.MetricType_GAUGE,
		"slo_alert_ratio": dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s missing or not a %v: %v", name, typ, f)
		}
	}
	one := func(name, slo string) (float64, bool) {
		ms := sloSeries(fams, name, slo)
		if len(ms) != 1 {
			t.Errorf("SLO %s: %d series of %s, want 1", slo, len(ms), name)
			return 0, false
		}
		return value(ms[0]), true
	}
	for _, s := range slos {
		if v, ok := one("slo_objective_ratio", s.Name); ok && v != s.Objective {
			t.Errorf("SLO %s: objective %v, the rules declare %v", s.Name, v, s.Objective)
		}
		events, ok1 := one("slo_events_total", s.Name)
		good, ok2 := one("slo_good_events_total", s.Name)
		if ok1 && ok2 && (events <= 0 || good < 0 || good > events) {
			t.Errorf("SLO %s: %v good of %v events", s.Name, good, events)
		}
		// Every event is in the SLO's window, which began with the run.
		if left, ok := one("slo_error_budget_remaining_ratio", s.Name); ok && ok1 && ok2 && events > 0 {
			want := 1 - (events-good)/events/(1-s.Objective)
			if math.Abs(left-want) > 1e-6 || left > 1 {
				t.Errorf("SLO %s: budget remaining %v, want %v from %v good of %v events", s.Name, left, want, good, events)
			}
		}
		for _, name := range []string{"slo_error_ratio", "slo_burn_rate_ratio"} {
			windows := map[string]bool{}
			for _, m := range sloSeries(fams, name, s.Name) {
				windows[label(m, "slo_window")] = true
			}
			if len(windows) != 8 || !windows["5m"] || !windows["30d"] {
				t.Errorf("SLO %s: %s over windows %v, want 5m … 3d and 30d", s.Name, name, windows)
			}
		}
		severities := map[string]bool{}
		for _, m := range sloSeries(fams, "slo_alert_ratio", s.Name) {
			if v := value(m); v != 0 && v != 1 {
				t.Errorf("SLO %s: alert %v", s.Name, v)
			}
			severities[label(m, "slo_alert_severity")] = true
		}
		if len(severities) != 2 || !severities["page"] || !severities["ticket"] {
			t.Errorf("SLO %s: alerts of severities %v, want page and ticket", s.Name, severities)
		}
	}
}
