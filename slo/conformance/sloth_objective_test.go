package conformance_test

import (
	"bytes"
	"testing"

	sloth "github.com/slok/sloth/pkg/lib"

	"github.com/kpikit/kpikit/slo"
)

// Sloth takes an objective of many nines as declared, not rounded to 100.
func TestSlothObjectiveOfManyNines(t *testing.T) {
	var spec bytes.Buffer
	s := slo.SLO{Name: "ab", Objective: 0.9999999999999, SLI: slo.HTTPAvailability{}}
	if err := slo.WriteSloth(&spec, "svc", []slo.SLO{s}); err != nil {
		t.Fatal(err)
	}
	gen, err := sloth.NewPrometheusSLOGenerator(sloth.PrometheusSLOGeneratorConfig{DefaultSLOPeriod: slo.DefaultWindow})
	if err != nil {
		t.Fatal(err)
	}
	result, err := gen.GenerateFromRaw(t.Context(), spec.Bytes())
	if err != nil {
		t.Fatalf("sloth rejects the spec: %v\n%s", err, spec.Bytes())
	}
	if got := result.SLOResults[0].SLO.Objective; got != 99.99999999999 {
		t.Errorf("sloth's objective %v, want 99.99999999999", got)
	}
}
