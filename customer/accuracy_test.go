package customer_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/kpikit/kpikit/customer"
)

// TestDistinctCountAccuracy measures what an analyst sees: the period
// users, cohort size and retention cell of a weekly activity, through the
// SDK, against the true count, over independent sets of random ids. Up to
// about 7,000 users a set keeps 23-bit fingerprints, so the relative RMSE
// must stay within 0.05% (the dense registers that held such sets before
// gave 0.56-0.66%).
func TestDistinctCountAccuracy(t *testing.T) {
	ctx := context.Background()
	const trials, bound = 12, 0.0005
	for _, n := range []int{2000, 5000} {
		var sumSq float64
		points := 0
		for trial := range trials {
			h := newHarness(t)
			a := mustActivity(t, customer.WithMeterProvider(h.mp), customer.WithPeriod(customer.Week))
			for i := range n {
				id := fmt.Sprintf("acc-%d-%d-%d", n, trial, i)
				a.ActiveAt(ctx, week(0), id, week(0))
				if i%3 == 0 { // repeats must not count
					a.ActiveAt(ctx, week(0).Add(3600e9), id, week(0))
				}
			}
			p := h.points(t)
			for _, key := range []string{
				periodKey(customer.MetricActivePeriodUsers, "2026-W10"),
				customer.MetricRetentionCohortSize + "{activity=app,cohort=2026-W10}",
				cohortKey(customer.MetricRetentionUsers, "2026-W10", 0, "retention.mode=on"),
			} {
				got, ok := p[key]
				if !ok {
					t.Fatalf("no %s", key)
				}
				d := (got - float64(n)) / float64(n)
				sumSq += d * d
				points++
			}
		}
		rmse := math.Sqrt(sumSq / float64(points))
		t.Logf("%d users: relative RMSE %.4f%% over %d figures", n, 100*rmse, points)
		if rmse > bound {
			t.Errorf("%d users: relative RMSE %.4f%%, want at most %.2f%%", n, 100*rmse, 100*bound)
		}
	}
}
