package slo_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/slo"
)

// The sloth spec writes an objective with all its digits, and rejects the
// one-character names sloth does not take.
func TestSlothObjectiveAndNames(t *testing.T) {
	for objective, want := range map[float64]string{
		0.999: "99.9", 0.5: "50", 0.9999999999999: "99.99999999999", 0.0001: "0.01", 0.95: "95", 0.12345: "12.345",
	} {
		var b bytes.Buffer
		if err := slo.WriteSloth(&b, "svc", []slo.SLO{{Name: "ab", Objective: objective, SLI: slo.HTTPAvailability{}}}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "\n    objective: "+want+"\n") {
			t.Errorf("objective %v: want %s in\n%s", objective, want, b.String())
		}
	}
	for service, name := range map[string]string{"s": "ab", "svc": "a"} {
		err := slo.WriteSloth(&bytes.Buffer{}, service, []slo.SLO{{Name: name, Objective: 0.9, SLI: slo.HTTPAvailability{}}})
		if !errors.Is(err, slo.ErrInvalid) || !strings.Contains(err.Error(), "at least two characters") {
			t.Errorf("service %q, SLO %q: error %v", service, name, err)
		}
	}
}

// The rules and the OpenSLO target write an objective of many nines as
// declared, not rounded to 1.
func TestObjectiveOfManyNines(t *testing.T) {
	slos := []slo.SLO{{Name: "ab", Objective: 0.9999999999999, SLI: slo.HTTPAvailability{}}}
	var rules, openslo bytes.Buffer
	if err := slo.WriteRules(&rules, slos); err != nil {
		t.Fatal(err)
	}
	if err := slo.WriteOpenSLO(&openslo, "svc", slos); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rules.String(), "vector(0.9999999999999)") {
		t.Errorf("rules:\n%s", rules.String())
	}
	if !strings.Contains(openslo.String(), "target: 0.9999999999999\n") {
		t.Errorf("OpenSLO:\n%s", openslo.String())
	}
}
