package customer

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// Metric names reported by [Goal].
const (
	MetricGoalExposedUsers   = "customer.goal.exposed_users"
	MetricGoalConvertedUsers = "customer.goal.converted_users"
	MetricGoalExposures      = "customer.goal.exposures"
	MetricGoalConversions    = "customer.goal.conversions"
	MetricGoalConversion     = "customer.goal.conversion"
	MetricGoalTimeToConvert  = "customer.goal.time_to_convert"
	MetricGoalTrackedUsers   = "customer.goal.tracked_users"
)

const (
	goalExposure   = 0
	goalConversion = 1
)

// Goal records exposures to one goal and conversions to it, such as a trial
// converting to a paid plan or the visitors of an A/B variant buying. It is
// a two-step sequential funnel that also counts every event: a user exposed
// once starts an attempt that lasts the window from the exposure's time;
// conversions recorded after it and timed less than a window after the
// exposure (or before it, counting as at the exposure) are attributed to
// it, with the segment values of the exposure that started it. A
// conversion of a user with no such attempt is not counted. See the
// package documentation, "Definitions", for the time rules.
//
// A Goal is safe for concurrent use. The methods of a nil *Goal do nothing.
type Goal struct {
	name  string
	clock func() time.Time
	store *progressStore
	rows  *rowTable

	exposedUsers, convertedUsers, exposures, conversions metric.Int64ObservableCounter
	conversion                                           metric.Float64ObservableGauge
	tracked                                              metric.Int64ObservableUpDownCounter
	nameOpt                                              []metric.ObserveOption

	saver     *snapshot.Saver // non-nil: state snapshotted to a file
	col       collector
	closeOnce sync.Once
}

// NewGoal returns a goal called name. All options apply but [WithOrder]
// and those of [NewActivity] only.
//
// Errors are those of [NewFunnel]: with an error no goal is returned, and
// nothing is left running.
func NewGoal(name string, opts ...Option) (*Goal, error) {
	c, err := newConfig(opts)
	errs := []error{err}
	if !validName(name) {
		errs = append(errs, invalidf("goal name %q is not valid UTF-8 of 1 to %d bytes", name, maxNameLen))
	}
	if c.orderSet {
		errs = append(errs, invalidf("goal %q: WithOrder(%v) applies to funnels only", name, c.order))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.order = Sequential

	g := &Goal{name: name, clock: c.clock}
	nameAttr := goalKey.String(name)
	g.nameOpt = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(nameAttr))}
	m := c.provider.Meter(ScopeName)
	dropped, err := selfobs.New(m, "customer.goal")
	errs = append(errs[:0], err)
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	g.exposedUsers = counter(MetricGoalExposedUsers, "{user}", "Users exposed to the goal, counted once per attempt.")
	g.convertedUsers = counter(MetricGoalConvertedUsers, "{user}", "Exposed users who converted within the window, counted once per attempt.")
	g.exposures = counter(MetricGoalExposures, "{exposure}", "Exposure events, repeats included.")
	g.conversions = counter(MetricGoalConversions, "{conversion}", "Conversion events of exposed users within the window, repeats included.")
	g.conversion, err = m.Float64ObservableGauge(MetricGoalConversion,
		metric.WithUnit("1"),
		metric.WithDescription("Converted users divided by exposed users."))
	errs = append(errs, err)
	g.tracked, err = m.Int64ObservableUpDownCounter(MetricGoalTrackedUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Users whose goal progress is held in memory."))
	errs = append(errs, err)
	ttc, err := m.Float64Histogram(MetricGoalTimeToConvert,
		metric.WithUnit("s"),
		metric.WithDescription("Time from exposure to first conversion, per converted attempt."),
		metric.WithExplicitBucketBoundaries(c.buckets...))
	errs = append(errs, err)

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Registered before anything starts, as for a funnel.
	reg, err := m.RegisterCallback(g.col.callback,
		g.exposedUsers, g.convertedUsers, g.exposures, g.conversions, g.conversion, g.tracked)
	if err != nil {
		return nil, err
	}

	drops := newDrops(dropped, c, false)
	newStore := func() *progressStore {
		g.rows = newRowTable(nameAttr, c.segments, c.valueLimit, 2, goalRow)
		s := newProgressStore(c, 2, g.rows, drops, ttc)
		s.events = true
		return s
	}
	g.store = newStore()
	if g.saver, err = startProgressState(c, "goal", name, nil, &g.store, newStore, true, ttc, drops); err != nil {
		return nil, errors.Join(err, reg.Unregister())
	}
	g.col.start(g.observe)
	return g, nil
}

// goalRow prebuilds the one attribute set that every goal metric of a
// segment combination uses.
func goalRow(base []attribute.KeyValue) rowOpts {
	opt := metric.WithAttributeSet(attribute.NewSet(base...))
	return rowOpts{observe: []metric.ObserveOption{opt}, record: []metric.RecordOption{opt}}
}

func (g *Goal) observe(ctx context.Context, o metric.Observer) error {
	if g.store.remote != nil {
		rows, counts, err := g.store.remote.read(ctx)
		for _, r := range rows {
			c := counts[r]
			g.observeRow(o, r, c.users[goalExposure], c.users[goalConversion], c.events[goalExposure], c.events[goalConversion])
		}
		return err
	}
	g.rows.each(func(r *row) {
		converted := r.users[goalConversion].Load()
		exposed := r.users[goalExposure].Load()
		g.observeRow(o, r, exposed, converted, r.events[goalExposure].Load(), r.events[goalConversion].Load())
	})
	o.ObserveInt64(g.tracked, g.store.tracked.Load(), g.nameOpt...)
	return nil
}

func (g *Goal) observeRow(o metric.Observer, r *row, exposed, converted, exposures, conversions int64) {
	opt := r.opts.observe[:1]
	o.ObserveInt64(g.exposedUsers, exposed, opt...)
	o.ObserveInt64(g.convertedUsers, converted, opt...)
	o.ObserveInt64(g.conversions, conversions, opt...)
	o.ObserveInt64(g.exposures, exposures, opt...)
	if exposed > 0 {
		o.ObserveFloat64(g.conversion, float64(converted)/float64(exposed), opt...)
	}
}

// Name returns the goal's name.
func (g *Goal) Name() string {
	if g == nil {
		return ""
	}
	return g.name
}

// Expose records that user was exposed to the goal now, by the goal's
// clock. See [Goal.ExposeAt].
func (g *Goal) Expose(ctx context.Context, user string, segments ...string) {
	if g == nil {
		return
	}
	now := unixNano(g.clock())
	g.record(ctx, now, now, user, goalExposure, segments)
}

// ExposeAt records that user was exposed to the goal at event time t. The
// first exposure starts an attempt that lasts the window and fixes its
// segment values; later exposures that belong to the attempt (timed less
// than a window after its start, or before it) count as exposure events
// only. Bad input is dropped, counted or folded as for [Funnel.StepAt].
func (g *Goal) ExposeAt(ctx context.Context, t time.Time, user string, segments ...string) {
	if g == nil {
		return
	}
	g.record(ctx, unixNano(g.clock()), unixNano(t), user, goalExposure, segments)
}

// Convert records that user converted now, by the goal's clock. See
// [Goal.ConvertAt].
func (g *Goal) Convert(ctx context.Context, user string) {
	if g == nil {
		return
	}
	now := unixNano(g.clock())
	g.record(ctx, now, now, user, goalConversion, nil)
}

// ConvertAt records that user converted at event time t. It counts only if
// an exposure of the user recorded earlier started an attempt that t is
// less than a window after; a t before that exposure counts as at the
// exposure (a time to convert of 0). The first conversion of an attempt
// counts a converted user and its time to convert, every one counts a
// conversion event.
func (g *Goal) ConvertAt(ctx context.Context, t time.Time, user string) {
	if g == nil {
		return
	}
	g.record(ctx, unixNano(g.clock()), unixNano(t), user, goalConversion, nil)
}

func (g *Goal) record(ctx context.Context, now, at int64, user string, k int, segments []string) {
	if g.store.admit(ctx, user) {
		g.store.record(ctx, now, at, user, k, segments)
	}
}

// Close is [Funnel.Close] for a goal: it stops recording, writes the state
// the goal owns within [CloseTimeout], and the goal keeps reporting its
// last values. Recording after Close is dropped with reason "closed".
func (g *Goal) Close() error {
	if g == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return g.Shutdown(ctx)
}

// Shutdown is [Goal.Close] with a deadline of the caller's: when ctx ends
// before the last snapshot is written, it returns ctx.Err(). Only the
// first call of Close or Shutdown does anything.
func (g *Goal) Shutdown(ctx context.Context) error {
	if g == nil {
		return nil
	}
	var err error
	g.closeOnce.Do(func() { err = shutdownProgress(ctx, g.store, &g.col, g.saver) })
	return err
}

// Flush is [Funnel.Flush] for a goal.
func (g *Goal) Flush(ctx context.Context) error {
	if g == nil {
		return nil
	}
	return flushProgress(ctx, g.store, g.saver)
}
