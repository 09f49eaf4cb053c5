package customer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kpikit/kpikit/customer"
)

func TestNewGoalErrors(t *testing.T) {
	tests := []struct {
		name  string
		gname string
		opts  []customer.Option
		want  string
	}{
		{"empty name", "", nil, `goal name ""`},
		{"order", "trial", []customer.Option{customer.WithOrder(customer.Any)}, `goal "trial": WithOrder(any) applies to funnels only`},
		{"zero window", "trial", []customer.Option{customer.WithWindow(0)}, "window 0s"},
		{"reserved segment", "trial", []customer.Option{customer.WithSegments("goal")}, `segment dimension "goal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := customer.NewGoal(tt.gname, tt.opts...)
			if err == nil || g != nil {
				t.Fatalf("NewGoal(%q) = %v, %v; want nil and an error", tt.gname, g, err)
			}
			if !errors.Is(err, customer.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want ErrInvalidConfig containing %q", err, tt.want)
			}
		})
	}
}

func goalKeyOf(name string, segs ...string) string {
	kv := []attribute.KeyValue{attribute.String("goal", name)}
	for _, s := range segs {
		k, v, _ := strings.Cut(s, "=")
		kv = append(kv, attribute.String(k, v))
	}
	return attrs(attribute.NewSet(kv...))
}

func TestGoal(t *testing.T) {
	h := newHarness(t)
	day := 24 * time.Hour
	clk := newClock(t0.Add(60 * day))
	g := mustGoal(t, "trial_to_paid", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithSegments("variant"), customer.WithWindow(7*day), customer.WithTimeToConvertBuckets(86400))
	ctx := context.Background()
	if g.Name() != "trial_to_paid" {
		t.Errorf("Name() = %q", g.Name())
	}
	// u1: exposed twice, converts twice within the window.
	g.ExposeAt(ctx, t0, "u1", "A")
	g.ExposeAt(ctx, t0.Add(time.Hour), "u1", "B") // a repeat: stays on A
	g.ConvertAt(ctx, t0.Add(2*time.Hour), "u1")
	g.ConvertAt(ctx, t0.Add(3*time.Hour), "u1")
	// u3: converts without exposure: not counted.
	g.ConvertAt(ctx, t0, "u3")
	// u4: exposed on B, converts after 2 days; exposed again after the
	// window: a new attempt.
	g.ExposeAt(ctx, t0, "u4", "B")
	g.ConvertAt(ctx, t0.Add(2*day), "u4")
	// u2: exposed, converts after the window: not counted.
	g.ExposeAt(ctx, t0, "u2", "B")
	g.ConvertAt(ctx, t0.Add(8*day), "u2")
	g.ExposeAt(ctx, t0.Add(10*day), "u4", "A")
	// Bad input.
	g.Convert(ctx, "")
	g.ExposeAt(ctx, clk.Now().Add(2*time.Hour), "u5", "A")

	a, b := goalKeyOf("trial_to_paid", "variant=A"), goalKeyOf("trial_to_paid", "variant=B")
	want := map[string]float64{
		customer.MetricGoalExposedUsers + a:                          2,
		customer.MetricGoalConvertedUsers + a:                        1,
		customer.MetricGoalExposures + a:                             3,
		customer.MetricGoalConversions + a:                           2,
		customer.MetricGoalConversion + a:                            0.5,
		customer.MetricGoalExposedUsers + b:                          2,
		customer.MetricGoalConvertedUsers + b:                        1,
		customer.MetricGoalExposures + b:                             2,
		customer.MetricGoalConversions + b:                           1,
		customer.MetricGoalConversion + b:                            0.5,
		customer.MetricGoalTimeToConvert + a + ".count":              1,
		customer.MetricGoalTimeToConvert + a + ".sum":                7200,
		customer.MetricGoalTimeToConvert + b + ".count":              1,
		customer.MetricGoalTimeToConvert + b + ".sum":                2 * 86400,
		customer.MetricGoalTrackedUsers + goalKeyOf("trial_to_paid"): 3,
		droppedKey("customer.goal", "empty_user_id"):                 1,
		droppedKey("customer.goal", "future_event"):                  1,
	}
	if diff := cmp.Diff(want, withoutZeroDrops(h.points(t))); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}

func TestGoalNow(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0)
	g := mustGoal(t, "signup", customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now))
	ctx := context.Background()
	g.Expose(ctx, "u")
	clk.Set(t0.Add(time.Minute))
	g.Convert(ctx, "u")
	p := h.points(t)
	k := goalKeyOf("signup")
	if p[customer.MetricGoalConversion+k] != 1 || p[customer.MetricGoalTimeToConvert+k+".sum"] != 60 {
		t.Errorf("conversion %v, time to convert %v; want 1 and 60", p[customer.MetricGoalConversion+k], p[customer.MetricGoalTimeToConvert+k+".sum"])
	}
}
