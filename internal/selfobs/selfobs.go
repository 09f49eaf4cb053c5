// Package selfobs counts what kpikit itself had to drop or fold: bad input,
// cardinality caps, late events, store outages. Every recorder reports such
// loss on one counter, [MetricName], with a component and a reason attribute,
// so that silent loss is visible on the same dashboards as the data.
//
// Reasons are prebuilt at construction ([Counter.Reason]); adding to one on a
// hot path costs one SDK counter add with a prebuilt attribute set and does
// not allocate.
package selfobs

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const (
	// MetricName is the name of the counter of dropped or folded events.
	MetricName = "kpikit.dropped"
	// Unit is its unit.
	Unit = "{event}"
	// ComponentKey names the recorder that dropped the event, e.g. "customer.funnel".
	ComponentKey = attribute.Key("kpikit.component")
	// ReasonKey says why, e.g. "empty_user_id".
	ReasonKey = attribute.Key("reason")
)

// Counter is the dropped-events counter of one component.
type Counter struct {
	c         metric.Int64Counter
	component string
}

// New creates the counter on m for component.
func New(m metric.Meter, component string) (*Counter, error) {
	c, err := m.Int64Counter(MetricName,
		metric.WithUnit(Unit),
		metric.WithDescription("Events kpikit dropped or folded instead of recording, by component and reason."))
	return &Counter{c: c, component: component}, err
}

// Reason returns a handle that adds to the counter with the given reason.
// Build reasons once, at construction, and keep them: the (component,
// reason) series is created here, at 0, so that a healthy recorder reports
// an explicit zero for every loss it can count (a dashboard shows 0, not "No
// data", and rate() sees the first drop). Under delta temporality the zero
// is reported in the first export only, as the SDK does for any counter
// that does not move.
func (c *Counter) Reason(reason string) Reason {
	set := attribute.NewSet(ComponentKey.String(c.component), ReasonKey.String(reason))
	r := Reason{c: c.c, opts: []metric.AddOption{metric.WithAttributeSet(set)}}
	if r.c != nil {
		r.c.Add(context.Background(), 0, r.opts...)
	}
	return r
}

// Reason adds to the dropped counter with one prebuilt reason. The zero value
// is a no-op.
type Reason struct {
	c    metric.Int64Counter
	opts []metric.AddOption // prebuilt: a lone option would allocate its variadic slice per call
}

// Add counts n dropped events.
func (r Reason) Add(ctx context.Context, n int64) {
	if r.c == nil {
		return
	}
	r.c.Add(ctx, n, r.opts...)
}
