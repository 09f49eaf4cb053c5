package slo_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/slo"
	"github.com/kpikit/kpikit/slo/internal/slotest"
)

// A sloth spec has no window of its own: sloth runs it with one period, so
// WriteSloth refuses SLOs of two windows and names the period to run
// sloth with.
func TestWriteSlothOneWindow(t *testing.T) {
	var b bytes.Buffer
	err := slo.WriteSloth(&b, slotest.Service, slotest.SLOs())
	if !errors.Is(err, slo.ErrInvalid) || !strings.Contains(err.Error(), `"cart-paid": its window 28d is not "checkout-availability"'s 30d`) {
		t.Errorf("SLOs of 28 and 30 days: error %v, want one about cart-paid's window", err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q with an error", b.String())
	}
	for _, s := range slotest.SLOs() {
		b.Reset()
		if err := slo.WriteSloth(&b, slotest.Service, []slo.SLO{s}); err != nil {
			t.Fatal(err)
		}
		win := slo.WindowName(s.WindowOrDefault())
		if want := "--default-slo-period=" + win + ".\n"; !strings.Contains(b.String(), want) {
			t.Errorf("%s: the spec does not say %q:\n%s", s.Name, want, b.String())
		}
	}
}
