package conformance_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	sloth "github.com/slok/sloth/pkg/lib"

	"github.com/kpikit/kpikit/internal/tooltest"
	"github.com/kpikit/kpikit/slo"
	"github.com/kpikit/kpikit/slo/internal/slotest"
)

// byWindow groups the fixed SLOs that sloth can take (28 and 30 day
// windows) by window.
func byWindow(t *testing.T) map[time.Duration][]slo.SLO {
	t.Helper()
	groups := map[time.Duration][]slo.SLO{}
	for _, s := range slotest.SLOs() {
		if w := s.WindowOrDefault(); w == 28*slo.Day || w == 30*slo.Day {
			groups[w] = append(groups[w], s)
		}
	}
	if len(groups) != 2 {
		t.Fatalf("the fixed SLOs should have both 28 and 30 day windows, have %v", groups)
	}
	return groups
}

// The sloth spec of each window (WriteSloth writes one window per spec)
// loads with sloth's library, run with that window as its SLO period, as
// the spec's comment says, which gives one result per SLO with the
// declared objective and window; the Prometheus rules sloth writes from it
// pass promtool check rules.
func TestSloth(t *testing.T) {
	for window, slos := range byWindow(t) {
		t.Run(slo.WindowName(window), func(t *testing.T) {
			var spec bytes.Buffer
			if err := slo.WriteSloth(&spec, slotest.Service, slos); err != nil {
				t.Fatal(err)
			}
			gen, err := sloth.NewPrometheusSLOGenerator(sloth.PrometheusSLOGeneratorConfig{DefaultSLOPeriod: window})
			if err != nil {
				t.Fatal(err)
			}
			result, err := gen.GenerateFromRaw(t.Context(), spec.Bytes())
			if err != nil {
				t.Fatalf("sloth rejects the spec: %v\n%s", err, spec.Bytes())
			}
			if len(result.SLOResults) != len(slos) {
				t.Fatalf("sloth made %d results of %d SLOs", len(result.SLOResults), len(slos))
			}
			for i, r := range result.SLOResults {
				s := slos[i]
				// The spec writes the objective, a percentage, with 12
				// significant digits.
				objective, _ := strconv.ParseFloat(strconv.FormatFloat(s.Objective*100, 'g', 12, 64), 64)
				if r.SLO.Name != s.Name || r.SLO.Service != slotest.Service || r.SLO.TimeWindow != window || r.SLO.Objective != objective {
					t.Errorf("result %d: SLO %s of %s, window %v, objective %v; want %s of %s, %v, %v",
						i, r.SLO.Name, r.SLO.Service, r.SLO.TimeWindow, r.SLO.Objective, s.Name, slotest.Service, window, objective)
				}
				if len(r.PrometheusRules.SLIErrorRecRules.Rules) == 0 || len(r.PrometheusRules.AlertRules.Rules) == 0 {
					t.Errorf("result %d (%s): no SLI recording rules or no alerts", i, r.SLO.Name)
				}
			}
			var rules bytes.Buffer
			if err := gen.WriteResultAsPrometheusStd(t.Context(), *result, &rules); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "sloth-rules.yml")
			if err := os.WriteFile(path, rules.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), tooltest.Promtool(t), "check", "rules", path).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool check rules on sloth's rules: %v\n%s", err, out)
			}
		})
	}
}
