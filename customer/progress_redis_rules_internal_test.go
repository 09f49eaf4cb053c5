package customer

import (
	"testing"

	"github.com/kpikit/kpikit/internal/shared"
)

// TestAttemptRulesMatchAdvance: for every mask of up to 6 steps, every
// step, ended or not and every order, the shared state's rule table (the
// class of the step, shared.RuleClass, then the digit of attemptRules)
// says exactly what advance does: counted, reached, and whether the
// attempt ends.
func TestAttemptRulesMatchAdvance(t *testing.T) {
	for _, order := range []Order{Sequential, Strict, Any} {
		rules := attemptRules(order)
		if len(rules) != 2*shared.RuleClasses {
			t.Fatalf("%v: rules %q, want %d digits", order, rules, 2*shared.RuleClasses)
		}
		for n := 1; n <= 6; n++ {
			for mask := range uint32(1) << n {
				for k := range n {
					for _, ended := range []bool{false, true} {
						a := attempt{mask: mask, ended: ended}
						o := advance(&a, k, n, order)
						d := rules[2*shared.RuleClass(mask, k)+map[bool]int{false: 0, true: 1}[ended]] - '0'
						got := [3]bool{d&shared.RuleCounted != 0, d&shared.RuleReaches != 0, d&shared.RuleEnds != 0}
						want := [3]bool{o.counted, o.reached >= 0, a.ended && !ended}
						if got != want {
							t.Errorf("%v, %d steps, mask %b, step %d, ended %v: table says counted/reached/ends %v, advance %v",
								order, n, mask, k, ended, got, want)
						}
						if o.reached >= 0 && (o.reached != k || a.mask != mask|1<<k) {
							t.Errorf("%v: advance reached %d (mask %b -> %b) for step %d", order, o.reached, mask, a.mask, k)
						}
					}
				}
			}
		}
	}
}
