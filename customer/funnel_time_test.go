package customer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// progressRecorder is a funnel of steps "a", "b" or a goal (a: exposure, b:
// conversion), so that one table runs on both.
type progressRecorder struct {
	kind string // "funnel" or "goal"
	f    *customer.Funnel
	g    *customer.Goal
}

func newProgressRecorder(t *testing.T, kind string, opts ...customer.Option) progressRecorder {
	t.Helper()
	if kind == "goal" {
		return progressRecorder{kind: kind, g: closingGoal(t, "g", opts...)}
	}
	return progressRecorder{kind: kind, f: closingFunnel(t, "f", []string{"a", "b"}, opts...)}
}

func (r progressRecorder) record(ctx context.Context, at time.Time, user, step string) {
	switch {
	case r.f != nil:
		r.f.StepAt(ctx, at, user, step)
	case step == "a":
		r.g.ExposeAt(ctx, at, user)
	default:
		r.g.ConvertAt(ctx, at, user)
	}
}

func (r progressRecorder) flush(t *testing.T) {
	t.Helper()
	if r.f != nil {
		flushAll(t, r.f)
	} else {
		flushAll(t, r.g)
	}
}

// figures are what the table compares: users per step (funnel users, or
// exposed and converted users), completed attempts and their summed time to
// convert, and late events.
type figures struct {
	Users    [2]float64
	Complete float64
	TTCSum   time.Duration
	Late     float64
}

func (r progressRecorder) figures(p map[string]float64) figures {
	var f figures
	if r.f != nil {
		f.Users = [2]float64{p[usersKey("f", "a", 1)], p[usersKey("f", "b", 2)]}
		ttc := customer.MetricFunnelTimeToConvert + key("f", "", 0, "")
		f.Complete, f.TTCSum = p[ttc+".count"], time.Duration(p[ttc+".sum"]*float64(time.Second))
		f.Late = p[droppedKey("customer.funnel", "late_event")]
		return f
	}
	g := goalKeyOf("g")
	f.Users = [2]float64{p[customer.MetricGoalExposedUsers+g], p[customer.MetricGoalConvertedUsers+g]}
	ttc := customer.MetricGoalTimeToConvert + g
	f.Complete, f.TTCSum = p[ttc+".count"], time.Duration(p[ttc+".sum"]*float64(time.Second))
	f.Late = p[droppedKey("customer.goal", "late_event")]
	return f
}

// boundaryEvent is one event of TestFunnelTimeBoundaries.
type boundaryEvent struct {
	User, Step string
	At         time.Time
}

func (e boundaryEvent) String() string {
	return fmt.Sprintf("%s %s at %s", e.User, e.Step, e.At.Format("15:04:05.000"))
}

// TestFunnelTimeBoundaries pins the time rules at their edges, for funnels
// and goals, in memory and in Redis: an event is refused for its time only
// when it is more than FutureTolerance ahead of the clock or more than a
// window behind the watermark; one earlier than its attempt's start, by
// however much, counts as at the start; the window is [start, start+window).
func TestFunnelTimeBoundaries(t *testing.T) {
	const w = time.Hour // the window; the watermark's granule is a second
	now := t0.Add(10 * time.Hour)
	type event = boundaryEvent
	tests := []struct {
		name   string
		events []event
		want   figures
	}{
		{
			"exactly one window before the attempt's start",
			[]event{{"u", "a", now}, {"u", "b", now.Add(-w)}},
			figures{Users: [2]float64{1, 1}, Complete: 1},
		},
		{
			"attempt ahead of the clock, event within a window of the watermark",
			// The watermark stays at the clock (now): b is 30 minutes
			// behind it but 80 minutes before the attempt's start.
			[]event{{"u", "a", now.Add(50 * time.Minute)}, {"u", "b", now.Add(-30 * time.Minute)}},
			figures{Users: [2]float64{1, 1}, Complete: 1},
		},
		{
			"attempt at the future tolerance, event a window behind the watermark",
			[]event{{"u", "a", now.Add(customer.FutureTolerance)}, {"u", "b", now.Add(-w)}},
			figures{Users: [2]float64{1, 1}, Complete: 1},
		},
		{
			"event within the watermark's lag",
			// v's event half a second after x's does not move the
			// watermark (its granule is a second): b, 250ms less than a
			// window before x's event, is within a window of the
			// watermark but more than a window before v's start.
			[]event{{"x", "a", now.Add(-2 * time.Hour)}, {"v", "a", now.Add(-2*time.Hour + 500*time.Millisecond)},
				{"v", "b", now.Add(-2*time.Hour - w + 250*time.Millisecond)}},
			figures{Users: [2]float64{2, 1}, Complete: 1},
		},
		{
			"more than a window behind the watermark",
			[]event{{"u", "a", now}, {"u", "b", now.Add(-w - time.Second)}},
			figures{Users: [2]float64{1, 0}, Late: 1},
		},
		{
			"just inside the window",
			[]event{{"u", "a", now.Add(-w)}, {"u", "b", now.Add(-time.Second)}},
			figures{Users: [2]float64{1, 1}, Complete: 1, TTCSum: w - time.Second},
		},
		{
			"a window after the start: expired",
			[]event{{"u", "a", now.Add(-w)}, {"u", "b", now}, {"u", "a", now}, {"u", "b", now.Add(time.Second)}},
			figures{Users: [2]float64{2, 1}, Complete: 1, TTCSum: time.Second},
		},
	}
	run := func(t *testing.T, kind string, addr string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t)
				opts := []customer.Option{customer.WithMeterProvider(h.mp),
					customer.WithClock(func() time.Time { return now }), customer.WithWindow(w)}
				if addr != "" {
					opts = append(opts, customer.WithState(redisState(t, addr, redisstate.WithKeyPrefix(fmt.Sprintf("%s:%s:", t.Name(), kind)))))
				}
				r := newProgressRecorder(t, kind, opts...)
				ctx := context.Background()
				for _, e := range tt.events {
					r.record(ctx, e.At, e.User, e.Step)
				}
				r.flush(t)
				if diff := cmp.Diff(tt.want, r.figures(h.points(t))); diff != "" {
					t.Errorf("clock %v, window %v, events %v (-want +got):\n%s", now, w, tt.events, diff)
				}
			})
		}
	}
	for _, kind := range []string{"funnel", "goal"} {
		t.Run(kind, func(t *testing.T) {
			t.Run("memory", func(t *testing.T) { run(t, kind, "") })
			t.Run("redis", func(t *testing.T) {
				srv := redistest.Start(t)
				run(t, kind, srv.Addr())
			})
		})
	}
}
