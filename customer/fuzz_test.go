package customer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

// FuzzFunnelStep records arbitrary events and checks that nothing panics,
// that no step has more users than the one before it (sequential order),
// that the tracked users stay within the cap, and that segment attributes
// stay within their limits.
func FuzzFunnelStep(f *testing.F) {
	f.Add("u1", "a", "ios", "pro", int64(0), uint8(0))
	f.Add("u1", "b", "web", "", int64(3600), uint8(0))
	f.Add("", "a", "ios", "pro", int64(0), uint8(1))
	f.Add("u2", "nope", "\xff", strings.Repeat("x", 300), int64(-1<<40), uint8(2))
	f.Add("u3", "c", "_OTHER", "_UNKNOWN", int64(1<<62), uint8(0))
	f.Add(strings.Repeat("u", 300), "a", "a", "b", int64(-1<<62), uint8(3))
	f.Add("u4", "x", "ios", "pro", int64(60e9), uint8(0))
	f.Add("u4", "c", "ios", "pro", int64(90e9), uint8(2))

	h := newHarness(f)
	clk := newClock(t0)
	steps := []string{"a", "b", "c"}
	const maxUsers, limit = 20, 2
	funnels := make([]*customer.Funnel, 3)
	for i, o := range []customer.Order{customer.Sequential, customer.Any, customer.Strict} {
		opts := []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
			customer.WithOrder(o), customer.WithWindow(time.Hour), customer.WithMaxUsers(maxUsers),
			customer.WithSegments("device", "plan"), customer.WithSegmentValueLimit(limit),
			customer.WithPeriod(customer.Day), customer.WithHorizon(3)}
		if o != customer.Any {
			opts = append(opts, customer.WithExclusion("x", "a", "c"))
		}
		funnels[i] = mustFunnel(f, fmt.Sprint("f", i), steps, opts...)
	}
	f.Fuzz(func(t *testing.T, user, step, device, plan string, offset int64, which uint8) {
		fn := funnels[int(which)%len(funnels)]
		ctx := context.Background()
		at := t0.Add(time.Duration(offset))
		fn.StepAt(ctx, at, user, step, device, plan)
		fn.Step(ctx, user, step, device)
		clk.Set(clk.Now().Add(time.Second))

		rm := h.collect(t)
		p := flatten(rm)
		seq := stepCountsAll(p, "f0", steps)
		for k := 1; k < len(steps); k++ {
			if seq[k] > seq[k-1] {
				t.Fatalf("sequential funnel: step %d has %v users, step %d only %v", k+1, seq[k], k, seq[k-1])
			}
		}
		for k, v := range p {
			if strings.HasPrefix(k, customer.MetricFunnelTrackedUsers) && v > maxUsers {
				t.Fatalf("%s = %v, over the cap %d", k, v, maxUsers)
			}
			if strings.HasPrefix(k, customer.MetricFunnelPeriodUsers) && v < 0 {
				t.Fatalf("%s = %v, negative", k, v)
			}
		}
		// By entry period, a user counts at every step up to its level:
		// in sequential order no step has more users than the one before.
		for k, v := range p {
			if !strings.HasPrefix(k, customer.MetricFunnelPeriodUsers+"{") || !strings.Contains(k, "funnel=f0") {
				continue
			}
			for i := 1; i < len(steps); i++ {
				at := fmt.Sprintf("funnel.step.index=%d,funnel.step=%s,", i+1, steps[i])
				if strings.Contains(k, at) {
					prev := strings.Replace(k, at, fmt.Sprintf("funnel.step.index=%d,funnel.step=%s,", i, steps[i-1]), 1)
					if v > p[prev] {
						t.Fatalf("%s = %v, more than %s = %v", k, v, prev, p[prev])
					}
				}
			}
		}
		values := map[string]bool{} // funnel/dimension/value
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				for _, set := range pointSets(m.Data) {
					fv, _ := set.Value("funnel")
					for _, dim := range []attribute.Key{"device", "plan"} {
						if v, ok := set.Value(dim); ok && v.AsString() != customer.OtherValue && v.AsString() != customer.UnknownValue {
							values[fv.AsString()+"/"+string(dim)+"/"+v.AsString()] = true
						}
					}
				}
			}
		}
		perDim := map[string]int{}
		for k := range values {
			parts := strings.SplitN(k, "/", 3)
			perDim[parts[0]+"/"+parts[1]]++
		}
		for fd, n := range perDim {
			if n > limit {
				t.Fatalf("%s has %d values, over the limit %d", fd, n, limit)
			}
		}
	})
}

// pointSets returns the attribute sets of the data points of d.
func pointSets(d metricdata.Aggregation) []attribute.Set {
	var out []attribute.Set
	switch d := d.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

// stepCountsAll sums the users per step over every segment combination.
func stepCountsAll(p map[string]float64, funnel string, steps []string) []float64 {
	out := make([]float64, len(steps))
	for k, v := range p {
		if !strings.HasPrefix(k, customer.MetricFunnelUsers+"{") || !strings.Contains(k, ",funnel="+funnel+",") && !strings.Contains(k, ",funnel="+funnel+"}") {
			continue
		}
		for i, s := range steps {
			if strings.Contains(k, fmt.Sprintf("funnel.step.index=%d,funnel.step=%s,", i+1, s)) {
				out[i] += v
			}
		}
	}
	return out
}
