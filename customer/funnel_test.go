package customer_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kpikit/kpikit/customer"
)

var shopSteps = []string{"visit", "search", "cart", "pay"}

func TestNewFunnelErrors(t *testing.T) {
	tests := []struct {
		name  string
		fname string
		steps []string
		opts  []customer.Option
		want  string // in the error message
	}{
		{"empty name", "", shopSteps, nil, `funnel name ""`},
		{"invalid utf-8 name", "f\xff", shopSteps, nil, `funnel name "f\xff"`},
		{"no steps", "f", nil, nil, "has 0 steps"},
		{"one step", "f", []string{"visit"}, nil, `has 1 steps ["visit"], at least 2`},
		{"too many steps", "f", make33(), nil, "has 33 steps, at most 32"},
		{"duplicate step", "f", []string{"a", "b", "a"}, nil, `duplicate step "a" (steps 1 and 3)`},
		{"empty step", "f", []string{"a", ""}, nil, `step 2 name ""`},
		{"zero window", "f", shopSteps, []customer.Option{customer.WithWindow(0)}, "window 0s must be positive"},
		{"negative window", "f", shopSteps, []customer.Option{customer.WithWindow(-time.Hour)}, "window -1h0m0s must be positive"},
		{"huge window", "f", shopSteps, []customer.Option{customer.WithWindow(100 * 365 * 24 * time.Hour)}, "window 876000h0m0s"},
		{"unknown order", "f", shopSteps, []customer.Option{customer.WithOrder(9)}, "unknown order Order(9)"},
		{"duplicate segment", "f", shopSteps, []customer.Option{customer.WithSegments("device", "device")}, `duplicate segment dimension "device"`},
		{"empty segment", "f", shopSteps, []customer.Option{customer.WithSegments("")}, "empty segment dimension"},
		{"reserved segment", "f", shopSteps, []customer.Option{customer.WithSegments("funnel.step")}, `segment dimension "funnel.step" is an attribute`},
		{"too many segments", "f", shopSteps, []customer.Option{customer.WithSegments("a", "b", "c", "d", "e", "f", "g", "h", "i")}, "9 segment dimensions"},
		{"zero value limit", "f", shopSteps, []customer.Option{customer.WithSegmentValueLimit(0)}, "segment value limit 0"},
		{"zero max users", "f", shopSteps, []customer.Option{customer.WithMaxUsers(0)}, "max users 0 must be positive"},
		{"no buckets", "f", shopSteps, []customer.Option{customer.WithTimeToConvertBuckets()}, "no time-to-convert bucket"},
		{"unsorted buckets", "f", shopSteps, []customer.Option{customer.WithTimeToConvertBuckets(1, 5, 5)}, "not strictly increasing at 5"},
		{"NaN bucket", "f", shopSteps, []customer.Option{customer.WithTimeToConvertBuckets(1, math.NaN())}, "NaN is not finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := customer.NewFunnel(tt.fname, tt.steps, tt.opts...)
			if err == nil || f != nil {
				t.Fatalf("NewFunnel(%q, %q) = %v, %v; want nil and an error", tt.fname, tt.steps, f, err)
			}
			if !errors.Is(err, customer.ErrInvalidConfig) {
				t.Errorf("error %q does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func make33() []string {
	s := make([]string, 33)
	for i := range s {
		s[i] = fmt.Sprint("s", i)
	}
	return s
}

func TestNewFunnelDefaults(t *testing.T) {
	// Zero options work, on the global provider; nil options are ignored.
	f, err := customer.NewFunnel("f", shopSteps, nil, customer.WithMeterProvider(nil), customer.WithClock(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Name(); got != "f" {
		t.Errorf("Name() = %q", got)
	}
	steps := f.Steps()
	steps[0] = "changed"
	if diff := cmp.Diff(shopSteps, f.Steps()); diff != "" {
		t.Errorf("Steps() (-want +got):\n%s", diff)
	}
	f.Step(context.Background(), "u1", "visit") // must not panic
}

func TestNilRecorders(t *testing.T) {
	ctx := context.Background()
	var f *customer.Funnel
	f.Step(ctx, "u", "visit")
	f.StepAt(ctx, t0, "u", "visit")
	if f.Name() != "" || f.Steps() != nil || f.Close() != nil {
		t.Error("nil funnel is not inert")
	}
	var g *customer.Goal
	g.Expose(ctx, "u")
	g.ExposeAt(ctx, t0, "u")
	g.Convert(ctx, "u")
	g.ConvertAt(ctx, t0, "u")
	if g.Name() != "" || g.Close() != nil {
		t.Error("nil goal is not inert")
	}
}

// ev is one recording call in a table test.
type ev struct {
	user, step string
	at         time.Duration // after t0
	segs       []string
}

func usersKey(funnel, step string, idx int, segs ...string) string {
	return customer.MetricFunnelUsers + key(funnel, step, idx, "", segs...)
}

func convKey(funnel, step string, idx int, basis string, segs ...string) string {
	return customer.MetricFunnelConversion + key(funnel, step, idx, basis, segs...)
}

// key builds the flattened attribute key; segs are "dim=value" pairs.
func key(funnel, step string, idx int, basis string, segs ...string) string {
	kv := []attribute.KeyValue{attribute.String("funnel", funnel)}
	if step != "" {
		kv = append(kv, attribute.String("funnel.step", step), attribute.Int("funnel.step.index", idx))
	}
	if basis != "" {
		kv = append(kv, attribute.String("funnel.basis", basis))
	}
	for _, s := range segs {
		k, v, _ := strings.Cut(s, "=")
		kv = append(kv, attribute.String(k, v))
	}
	return attrs(attribute.NewSet(kv...))
}

func stepCounts(p map[string]float64, funnel string, steps []string, segs ...string) []float64 {
	out := make([]float64, len(steps))
	for i, s := range steps {
		out[i] = p[usersKey(funnel, s, i+1, segs...)]
	}
	return out
}

func TestFunnelOrders(t *testing.T) {
	steps := []string{"a", "b", "c"}
	h := time.Hour
	tests := []struct {
		name   string
		order  customer.Order
		events []ev
		want   []float64 // users per step
	}{
		{"sequential in order", customer.Sequential, []ev{{"u", "a", 0, nil}, {"u", "b", h, nil}, {"u", "c", 2 * h, nil}}, []float64{1, 1, 1}},
		{"sequential skip ignored", customer.Sequential, []ev{{"u", "a", 0, nil}, {"u", "c", h, nil}, {"u", "b", 2 * h, nil}}, []float64{1, 1, 0}},
		{"sequential other events between", customer.Sequential, []ev{{"u", "a", 0, nil}, {"u", "c", h, nil}, {"u", "a", 2 * h, nil}, {"u", "b", 3 * h, nil}, {"u", "c", 4 * h, nil}}, []float64{1, 1, 1}},
		{"sequential no start", customer.Sequential, []ev{{"u", "b", 0, nil}, {"u", "c", h, nil}}, []float64{0, 0, 0}},
		{"sequential repeats count once", customer.Sequential, []ev{{"u", "a", 0, nil}, {"u", "a", h, nil}, {"u", "b", 2 * h, nil}, {"u", "b", 3 * h, nil}}, []float64{1, 1, 0}},
		{"any out of order", customer.Any, []ev{{"u", "c", 0, nil}, {"u", "a", h, nil}}, []float64{1, 0, 1}},
		{"any repeats count once", customer.Any, []ev{{"u", "b", 0, nil}, {"u", "b", h, nil}, {"u", "c", h, nil}, {"u", "a", h, nil}}, []float64{1, 1, 1}},
		{"strict in order", customer.Strict, []ev{{"u", "a", 0, nil}, {"u", "a", h, nil}, {"u", "b", 2 * h, nil}, {"u", "b", 2 * h, nil}, {"u", "c", 3 * h, nil}}, []float64{1, 1, 1}},
		{"strict skip ends attempt", customer.Strict, []ev{{"u", "a", 0, nil}, {"u", "c", h, nil}, {"u", "b", 2 * h, nil}, {"u", "a", 3 * h, nil}}, []float64{1, 0, 0}},
		{"strict going back ends attempt", customer.Strict, []ev{{"u", "a", 0, nil}, {"u", "b", h, nil}, {"u", "a", 2 * h, nil}, {"u", "c", 3 * h, nil}}, []float64{1, 1, 0}},
		{"strict new attempt after window", customer.Strict, []ev{{"u", "a", 0, nil}, {"u", "c", h, nil}, {"u", "a", 15 * 24 * h, nil}, {"u", "b", 15*24*h + 1, nil}}, []float64{2, 1, 0}},
		{"window expiry counts again", customer.Sequential, []ev{{"u", "a", 0, nil}, {"u", "b", h, nil}, {"u", "a", 14 * 24 * h, nil}, {"u", "b", 14*24*h + h, nil}, {"u", "c", 14*24*h + 2*h, nil}}, []float64{2, 2, 1}},
		{"step after window not counted", customer.Sequential, []ev{{"u", "a", 0, nil}, {"u", "b", 14 * 24 * h, nil}}, []float64{1, 0, 0}},
		{"users are separate", customer.Sequential, []ev{{"u1", "a", 0, nil}, {"u2", "a", 0, nil}, {"u2", "b", h, nil}, {"u1", "c", h, nil}}, []float64{2, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			clk := newClock(t0.Add(60 * 24 * time.Hour))
			f := mustFunnel(t, "f", steps, customer.WithMeterProvider(h.mp), customer.WithOrder(tt.order), customer.WithClock(clk.Now))
			for _, e := range tt.events {
				f.StepAt(context.Background(), t0.Add(e.at), e.user, e.step, e.segs...)
			}
			got := stepCounts(h.points(t), "f", steps)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order %v, events %v: users per step (-want +got):\n%s", tt.order, tt.events, diff)
			}
		})
	}
}

func TestOrderString(t *testing.T) {
	for o, want := range map[customer.Order]string{customer.Sequential: "sequential", customer.Any: "any", customer.Strict: "strict", 7: "Order(7)"} {
		if got := o.String(); got != want {
			t.Errorf("Order(%d).String() = %q, want %q", uint8(o), got, want)
		}
	}
}

// TestFunnelMetrics checks every metric of a small funnel through the SDK.
func TestFunnelMetrics(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0.Add(24 * time.Hour))
	f := mustFunnel(t, "checkout", []string{"cart", "pay"},
		customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithSegments("plan"), customer.WithTimeToConvertBuckets(60, 3600))
	ctx := context.Background()
	f.StepAt(ctx, t0, "u1", "cart", "pro")
	f.StepAt(ctx, t0.Add(30*time.Second), "u1", "pay")
	f.StepAt(ctx, t0, "u2", "cart", "pro")
	f.StepAt(ctx, t0, "u3", "cart", "free")
	f.StepAt(ctx, t0.Add(2*time.Hour), "u3", "pay")
	f.StepAt(ctx, t0, "u4", "cart", "free")

	rm := h.collect(t)
	base := func(plan string, kv ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(kv, attribute.String("funnel", "checkout"), attribute.String("plan", plan))...)
	}
	step := func(plan, name string, idx int, kv ...attribute.KeyValue) attribute.Set {
		return base(plan, append(kv, attribute.String("funnel.step", name), attribute.Int("funnel.step.index", idx))...)
	}
	prev, first := attribute.String("funnel.basis", "previous"), attribute.String("funnel.basis", "first")
	want := []metricdata.Metrics{
		{
			Name: customer.MetricFunnelUsers, Unit: "{user}",
			Description: "Users who reached the funnel step, counted once per attempt.",
			Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
				{Attributes: step("pro", "cart", 1), Value: 2},
				{Attributes: step("pro", "pay", 2), Value: 1},
				{Attributes: step("free", "cart", 1), Value: 2},
				{Attributes: step("free", "pay", 2), Value: 1},
			}},
		},
		{
			Name: customer.MetricFunnelConversion, Unit: "1",
			Description: "Users who reached the funnel step divided by those who reached the previous or the first step.",
			Data: metricdata.Gauge[float64]{DataPoints: []metricdata.DataPoint[float64]{
				{Attributes: step("pro", "pay", 2, prev), Value: 0.5},
				{Attributes: step("pro", "pay", 2, first), Value: 0.5},
				{Attributes: step("free", "pay", 2, prev), Value: 0.5},
				{Attributes: step("free", "pay", 2, first), Value: 0.5},
			}},
		},
		{
			Name: customer.MetricFunnelTrackedUsers, Unit: "{user}",
			Description: "Users whose funnel progress is held in memory.",
			Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.DataPoint[int64]{
				{Attributes: attribute.NewSet(attribute.String("funnel", "checkout")), Value: 4},
			}},
		},
		{
			Name: customer.MetricFunnelTimeToConvert, Unit: "s",
			Description: "Time from the first to the last step of the funnel, per converted attempt.",
			Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.HistogramDataPoint[float64]{
				{Attributes: base("pro"), Count: 1, Sum: 30, Bounds: []float64{60, 3600}, BucketCounts: []uint64{1, 0, 0}, Min: metricdata.NewExtrema(30.0), Max: metricdata.NewExtrema(30.0)},
				{Attributes: base("free"), Count: 1, Sum: 7200, Bounds: []float64{60, 3600}, BucketCounts: []uint64{0, 0, 1}, Min: metricdata.NewExtrema(7200.0), Max: metricdata.NewExtrema(7200.0)},
			}},
		},
	}
	got := map[string]metricdata.Metrics{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		got[m.Name] = m
	}
	if rm.ScopeMetrics[0].Scope.Name != customer.ScopeName {
		t.Errorf("scope %q, want %q", rm.ScopeMetrics[0].Scope.Name, customer.ScopeName)
	}
	for _, w := range want {
		metricdatatest.AssertEqual(t, w, got[w.Name], metricdatatest.IgnoreTimestamp())
	}
}

func TestFunnelSegments(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0.Add(time.Hour))
	f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithSegments("device", "plan"), customer.WithSegmentValueLimit(2))
	ctx := context.Background()
	long := strings.Repeat("x", customer.MaxSegmentValueLen+1)
	events := []struct {
		user string
		segs []string
	}{
		{"u1", []string{"ios", "pro"}},
		{"u2", []string{"web", "pro"}},
		{"u3", []string{"tv", "pro"}},              // device over the limit of 2
		{"u4", []string{"ios"}},                    // plan missing
		{"u5", []string{"ios", ""}},                // plan empty
		{"u6", []string{"\xff\xfe", "free"}},       // invalid UTF-8
		{"u7", []string{long, "free"}},             // too long
		{"u8", []string{"web", "free", "extra"}},   // extra value
		{"u9", []string{"_OTHER", "pro"}},          // the reserved value itself
		{"u10", []string{"desktop", "enterprise"}}, // both over the limit
		{"u1", []string{"web", "free"}},            // ignored: u1 is tracked
	}
	for _, e := range events {
		f.StepAt(ctx, t0, e.user, "a", e.segs...)
	}
	p := h.points(t)
	want := map[string]float64{
		usersKey("f", "a", 1, "device=ios", "plan=pro"):         1,
		usersKey("f", "a", 1, "device=web", "plan=pro"):         1,
		usersKey("f", "a", 1, "device=_OTHER", "plan=pro"):      2,
		usersKey("f", "a", 1, "device=ios", "plan=_UNKNOWN"):    2,
		usersKey("f", "a", 1, "device=_OTHER", "plan=free"):     2,
		usersKey("f", "a", 1, "device=web", "plan=free"):        1,
		usersKey("f", "a", 1, "device=_OTHER", "plan=_OTHER"):   1,
		usersKey("f", "b", 2, "device=ios", "plan=pro"):         0,
		usersKey("f", "b", 2, "device=web", "plan=pro"):         0,
		usersKey("f", "b", 2, "device=_OTHER", "plan=pro"):      0,
		usersKey("f", "b", 2, "device=ios", "plan=_UNKNOWN"):    0,
		usersKey("f", "b", 2, "device=_OTHER", "plan=free"):     0,
		usersKey("f", "b", 2, "device=web", "plan=free"):        0,
		usersKey("f", "b", 2, "device=_OTHER", "plan=_OTHER"):   0,
		customer.MetricFunnelTrackedUsers + key("f", "", 0, ""): 10,
	}
	want[droppedKey("customer.funnel", "segment_overflow")] = 3
	want[droppedKey("customer.funnel", "invalid_segment")] = 3
	for k, v := range only(p, customer.MetricFunnelConversion) {
		if v != 0 {
			t.Errorf("conversion point %s = %v, want 0 (no user reached step b)", k, v)
		}
	}
	got := withoutZeroDrops(p)
	for k := range only(p, customer.MetricFunnelConversion) {
		delete(got, k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}

// TestFunnelSegmentFolds: folds are counted once per folded value, and
// once per event for values beyond the declared dimensions, however many;
// only for events that start an attempt.
func TestFunnelSegmentFolds(t *testing.T) {
	h := newHarness(t)
	f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp),
		customer.WithClock(func() time.Time { return t0 }), customer.WithSegments("device", "plan"))
	ctx := context.Background()
	f.StepAt(ctx, t0, "u1", "a", "ios", "pro", "x", "y", "z") // three extra values: 1
	f.StepAt(ctx, t0, "u2", "a", "\xff", "\xfe", "x")         // two invalid values and extras: 3
	f.StepAt(ctx, t0, "u1", "b", "\xff", "pro", "x")          // joins u1's attempt: values unchecked
	want := map[string]float64{droppedKey("customer.funnel", "invalid_segment"): 4}
	if diff := cmp.Diff(want, nonzeroDrops(h.points(t))); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}

func droppedKey(component, reason string) string {
	return "kpikit.dropped" + attrs(attribute.NewSet(attribute.String("kpikit.component", component), attribute.String("reason", reason)))
}

func TestFunnelDrops(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	tests := []struct {
		name   string
		run    func(ctx context.Context, f *customer.Funnel)
		reason string
		n      float64
	}{
		{"empty user", func(ctx context.Context, f *customer.Funnel) { f.Step(ctx, "", "a") }, "empty_user_id", 1},
		{"long user", func(ctx context.Context, f *customer.Funnel) {
			f.Step(ctx, strings.Repeat("u", customer.MaxUserIDLen+1), "a")
		}, "long_user_id", 1},
		{"unknown step", func(ctx context.Context, f *customer.Funnel) { f.Step(ctx, "u", "nope"); f.Step(ctx, "u", "A") }, "unknown_step", 2},
		{"future", func(ctx context.Context, f *customer.Funnel) {
			f.StepAt(ctx, now.Add(customer.FutureTolerance+time.Second), "u", "a")
			f.StepAt(ctx, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "u", "a")
		}, "future_event", 2},
		{"before the window", func(ctx context.Context, f *customer.Funnel) {
			f.StepAt(ctx, now, "u1", "a")
			f.StepAt(ctx, now.Add(-15*24*time.Hour), "u2", "a")
		}, "late_event", 1},
		{"zero time", func(ctx context.Context, f *customer.Funnel) { f.StepAt(ctx, time.Time{}, "u", "a") }, "late_event", 1},
		{"before 1970", func(ctx context.Context, f *customer.Funnel) {
			f.StepAt(ctx, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), "u", "a")
		}, "late_event", 1},
		{"a window and 1ns before the attempt and the watermark", func(ctx context.Context, f *customer.Funnel) {
			f.StepAt(ctx, now, "u", "a")
			f.StepAt(ctx, now.Add(-14*24*time.Hour-1), "u", "b")
		}, "late_event", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			clk := newClock(now)
			f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now))
			tt.run(context.Background(), f)
			got := nonzeroDrops(h.points(t))
			want := map[string]float64{droppedKey("customer.funnel", tt.reason): tt.n}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dropped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFunnelLateWithinWindow(t *testing.T) {
	// An event behind the latest one but within the window is placed by
	// its own time.
	h := newHarness(t)
	clk := newClock(t0.Add(30 * 24 * time.Hour))
	f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now))
	ctx := context.Background()
	f.StepAt(ctx, t0.Add(10*24*time.Hour), "u1", "a")
	f.StepAt(ctx, t0, "u2", "a")                      // 10 days late: accepted
	f.StepAt(ctx, t0.Add(13*24*time.Hour), "u2", "b") // inside u2's window
	f.StepAt(ctx, t0.Add(15*24*time.Hour), "u1", "b") // inside u1's window
	f.StepAt(ctx, t0.Add(9*24*time.Hour), "u1", "a")  // before u1's start, applied as a repeat
	got := stepCounts(h.points(t), "f", []string{"a", "b"})
	if diff := cmp.Diff([]float64{2, 2}, got); diff != "" {
		t.Errorf("users per step (-want +got):\n%s", diff)
	}
}

func TestFunnelUserCap(t *testing.T) {
	h := newHarness(t)
	day := 24 * time.Hour
	clk := newClock(t0.Add(100 * day))
	f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithMaxUsers(3), customer.WithWindow(day))
	ctx := context.Background()
	for i := range 5 {
		f.StepAt(ctx, t0, fmt.Sprint("u", i), "a")
	}
	f.StepAt(ctx, t0.Add(time.Hour), "u0", "b") // tracked: counts
	p := h.points(t)
	want := map[string]float64{
		usersKey("f", "a", 1):                                               3,
		usersKey("f", "b", 2):                                               1,
		convKey("f", "b", 2, "previous"):                                    1.0 / 3,
		convKey("f", "b", 2, "first"):                                       1.0 / 3,
		customer.MetricFunnelTrackedUsers + key("f", "", 0, ""):             3,
		customer.MetricFunnelTimeToConvert + key("f", "", 0, "") + ".count": 1,
		customer.MetricFunnelTimeToConvert + key("f", "", 0, "") + ".sum":   3600,
		droppedKey("customer.funnel", "user_cap"):                           2,
	}
	if diff := cmp.Diff(want, withoutZeroDrops(p)); diff != "" {
		t.Errorf("at the cap (-want +got):\n%s", diff)
	}

	// Two windows later the expired attempts are reclaimed and new users
	// fit again.
	for i := range 3 {
		f.StepAt(ctx, t0.Add(3*day), fmt.Sprint("v", i), "a")
	}
	p = h.points(t)
	if got := p[usersKey("f", "a", 1)]; got != 6 {
		t.Errorf("users at step a after reclaim = %v, want 6", got)
	}
	if got := p[customer.MetricFunnelTrackedUsers+key("f", "", 0, "")]; got != 3 {
		t.Errorf("tracked users after reclaim = %v, want 3", got)
	}
	if got := p[droppedKey("customer.funnel", "user_cap")]; got != 2 {
		t.Errorf("user_cap drops after reclaim = %v, want still 2", got)
	}
}

func TestFunnelStepNow(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0)
	f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now),
		customer.WithWindow(time.Hour))
	ctx := context.Background()
	f.Step(ctx, "u", "a")
	clk.Set(t0.Add(10 * time.Minute))
	f.Step(ctx, "u", "b")
	clk.Set(t0.Add(2 * time.Hour))
	f.Step(ctx, "u", "a") // the window expired: a new attempt
	p := h.points(t)
	if diff := cmp.Diff([]float64{2, 1}, stepCounts(p, "f", []string{"a", "b"})); diff != "" {
		t.Errorf("users per step (-want +got):\n%s", diff)
	}
	k := customer.MetricFunnelTimeToConvert + key("f", "", 0, "")
	if p[k+".count"] != 1 || p[k+".sum"] != 600 {
		t.Errorf("time to convert count %v sum %v, want 1 and 600", p[k+".count"], p[k+".sum"])
	}
}

func TestFunnelClose(t *testing.T) {
	h := newHarness(t)
	f := mustFunnel(t, "f", []string{"a", "b"}, customer.WithMeterProvider(h.mp))
	g := mustGoal(t, "g", customer.WithMeterProvider(h.mp))
	f.Step(context.Background(), "u", "a")
	g.Expose(context.Background(), "u")
	before := only(h.points(t), "customer.")
	if len(before) == 0 {
		t.Fatal("no points before Close")
	}
	for range 2 {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f.Step(context.Background(), "u", "b")
	g.Convert(context.Background(), "u")
	p := h.points(t)
	if diff := cmp.Diff(before, only(p, "customer.")); diff != "" {
		t.Errorf("after Close, the last values (-before +after):\n%s", diff)
	}
	want := map[string]float64{droppedKey("customer.funnel", "closed"): 1, droppedKey("customer.goal", "closed"): 1}
	if diff := cmp.Diff(want, nonzeroDrops(p)); diff != "" {
		t.Errorf("dropped after Close (-want +got):\n%s", diff)
	}
}

func TestFunnelConcurrent(t *testing.T) {
	h := newHarness(t)
	clk := newClock(t0.Add(time.Hour))
	steps := []string{"a", "b", "c"}
	f := mustFunnel(t, "f", steps, customer.WithMeterProvider(h.mp), customer.WithClock(clk.Now), customer.WithSegments("g"))
	const workers, users = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			seg := fmt.Sprint(w % 2)
			// Every worker records every user: each user must still count
			// once per step.
			for i := range users {
				u := fmt.Sprint("u", i)
				for _, s := range steps[:1+i%3] {
					f.StepAt(ctx, t0, u, s, seg)
				}
			}
			_ = h.points(t) // collection concurrent with recording
		}()
	}
	wg.Wait()
	p := h.points(t)
	var got [3]float64
	for _, g := range []string{"g=0", "g=1"} {
		for i, c := range stepCounts(p, "f", steps, g) {
			got[i] += c
		}
	}
	if want := [3]float64{500, 333, 166}; got != want {
		t.Errorf("users per step %v, want %v", got, want)
	}
}
