package customer_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
)

// nonzeroDrops keeps the kpikit.dropped points of p that are not zero: a
// recorder reports every reason it can count at 0 from construction.
func nonzeroDrops(p map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range only(p, selfobs.MetricName) {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// withoutZeroDrops is p without the kpikit.dropped points at 0.
func withoutZeroDrops(p map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range p {
		if v == 0 && strings.HasPrefix(k, selfobs.MetricName) {
			continue
		}
		out[k] = v
	}
	return out
}

// TestDroppedReasonsAtZero: a fresh recorder reports, at 0, exactly the
// reasons of kpikit.dropped that it can count, given its options: no
// store_unavailable without Redis, no user_cap for a funnel or goal in
// Redis (the cap does not apply there), no segment_overflow without
// segments, no unknown_step for a goal, no currency_limit with
// WithCurrencies.
func TestDroppedReasonsAtZero(t *testing.T) {
	srv := redistest.Start(t)
	state := stateOpts(t, "funnel", srv.Addr(), "test:zero:", 0)
	common := []string{"empty_user_id", "long_user_id", "future_event", "late_event", "invalid_segment", "closed"}
	activity := []string{"empty_user_id", "long_user_id", "future_event", "late_event", "before_cohort",
		"unknown_currency", "invalid_amount", "user_cap", "closed"}
	tests := []struct {
		name      string
		component string
		start     func(t *testing.T, opts ...customer.Option)
		opts      []customer.Option
		want      []string
	}{
		{"funnel", "customer.funnel", startFunnel, nil,
			append([]string{"unknown_step", "user_cap"}, common...)},
		{"funnel with segments", "customer.funnel", startFunnel, []customer.Option{customer.WithSegments("plan")},
			append([]string{"unknown_step", "user_cap", "segment_overflow"}, common...)},
		{"funnel in Redis", "customer.funnel", startFunnel, state,
			append([]string{"unknown_step", "store_unavailable"}, common...)},
		{"funnel in Redis with segments", "customer.funnel", startFunnel, append([]customer.Option{customer.WithSegments("plan")}, state...),
			append([]string{"unknown_step", "store_unavailable", "segment_overflow"}, common...)},
		{"goal", "customer.goal", startGoal, nil,
			append([]string{"user_cap"}, common...)},
		{"goal with segments", "customer.goal", startGoal, []customer.Option{customer.WithSegments("variant")},
			append([]string{"user_cap", "segment_overflow"}, common...)},
		{"goal in Redis", "customer.goal", startGoal, state,
			append([]string{"store_unavailable"}, common...)},
		{"activity", "customer.activity", startActivity, nil,
			append([]string{"amount_overflow", "currency_limit"}, activity...)},
		{"activity with currencies", "customer.activity", startActivity, []customer.Option{customer.WithCurrencies("USD")},
			append([]string{"amount_overflow"}, activity...)},
		{"activity with a snapshot", "customer.activity", startActivity, []customer.Option{customer.WithSnapshot(t.TempDir()+"/a.snap", 0)},
			append([]string{"amount_overflow", "currency_limit"}, activity...)},
		{"activity in Redis", "customer.activity", startActivity, state,
			append([]string{"amount_overflow", "store_unavailable", "currency_limit"}, activity...)},
		{"activity in Redis with currencies", "customer.activity", startActivity, append([]customer.Option{customer.WithCurrencies("EUR")}, state...),
			append([]string{"amount_overflow", "store_unavailable"}, activity...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.start(t, append([]customer.Option{customer.WithMeterProvider(h.mp)}, tt.opts...)...)
			want := metricdata.Metrics{
				Name:        selfobs.MetricName,
				Description: "Events kpikit dropped or folded instead of recording, by component and reason.",
				Unit:        selfobs.Unit,
				Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true},
			}
			sum := want.Data.(metricdata.Sum[int64])
			for _, r := range tt.want {
				sum.DataPoints = append(sum.DataPoints, metricdata.DataPoint[int64]{
					Attributes: attribute.NewSet(selfobs.ComponentKey.String(tt.component), selfobs.ReasonKey.String(r)),
				})
			}
			want.Data = sum
			var got metricdata.Metrics
			for _, sm := range h.collect(t).ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name == selfobs.MetricName {
						got = m
					}
				}
			}
			metricdatatest.AssertEqual(t, want, got, metricdatatest.IgnoreTimestamp())
		})
	}
}

func startFunnel(t *testing.T, opts ...customer.Option) {
	t.Helper()
	closingFunnel(t, "f", []string{"a", "b"}, opts...)
}

func startGoal(t *testing.T, opts ...customer.Option) {
	t.Helper()
	closingGoal(t, "g", opts...)
}

func startActivity(t *testing.T, opts ...customer.Option) {
	t.Helper()
	mustActivity(t, opts...)
}
