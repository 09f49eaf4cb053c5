package customer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/budget"
	reqoutcome "github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/snapshot"
	"github.com/kpikit/kpikit/slo"
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

	// SLOs (WithSLOs): one tracker per SLO, fed with the goal's counts
	// when they are read. sloMu serialises reading the counts and setting
	// the trackers, so that the trackers never see them go back.
	sloIn    *budget.Instruments // nil without SLOs
	trackers []*budget.Tracker
	sloMu    sync.Mutex

	links requestLinks // request outcomes (impaired.go)

	saver     *snapshot.Saver // non-nil: state snapshotted to a file
	col       collector
	closeOnce sync.Once
}

// NewGoal returns a goal called name. All options apply but [WithOrder]
// and those of [NewActivity] only; [WithSLOs] applies to goals only.
//
// Errors are those of [NewFunnel], and those of [WithSLOs]: with an error
// no goal is returned, and nothing is left running.
func NewGoal(name string, opts ...Option) (*Goal, error) {
	c, err := newConfig(opts)
	errs := []error{err, c.misplaced(funnelOnlyNotGoal|periodOptions, "NewGoal")}
	if !validName(name) {
		errs = append(errs, invalidf("goal name %q is not valid UTF-8 of 1 to %d bytes", name, maxNameLen))
	}
	if c.orderSet {
		errs = append(errs, invalidf("goal %q: WithOrder(%v) applies to funnels only", name, c.order))
	}
	errs = append(errs, checkGoalSLOs(name, c.slos))
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
	if len(c.slos) > 0 {
		g.sloIn, err = budget.NewInstruments(m)
		errs = append(errs, err)
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	instruments := []metric.Observable{g.exposedUsers, g.convertedUsers, g.exposures, g.conversions, g.conversion, g.tracked}
	if g.sloIn != nil {
		instruments = append(instruments, g.sloIn.Observables()...)
	}
	// Registered before anything starts, as for a funnel.
	reg, err := m.RegisterCallback(g.col.callback, instruments...)
	if err != nil {
		return nil, err
	}

	drops := newDrops(dropped, c, false)
	g.links = requestLinks{counter: dropped}
	newStore := func() *progressStore {
		g.rows = newRowTable(nameAttr, c.segments, c.valueLimit, 2, goalRow)
		s := newProgressStore(c, 2, g.rows, drops, ttc)
		s.events = true
		return s
	}
	g.store = newStore()
	if g.saver, err = startProgressState(c, "goal", name, nil, &g.store, newStore, ttc); err != nil {
		return nil, errors.Join(err, reg.Unregister())
	}
	if len(c.slos) > 0 {
		now := c.clock()
		for _, s := range c.slos {
			g.trackers = append(g.trackers, budget.New(s, now))
		}
		// The counts of a restored snapshot are not events of this
		// process's windows: they seed the trackers. A goal in a shared
		// state is not read here (construction does not contact it): its
		// first reading seeds them.
		if g.store.remote == nil {
			g.setSLOCounts(g.localCounts())
		}
	}
	g.col.start(g.observe)
	return g, nil
}

// checkGoalSLOs validates the SLOs of goal: each must work and count the
// goal's conversion, and their names must be unique.
func checkGoalSLOs(goal string, slos []slo.SLO) error {
	if len(slos) == 0 {
		return nil
	}
	var errs []error
	if err := slo.ValidateAll(slos); err != nil {
		errs = append(errs, fmt.Errorf("customer: goal %q: %w: %w", goal, err, ErrInvalidConfig))
	}
	want := slo.GoalConversion{Goal: goal}
	for _, s := range slos {
		if s.SLI == nil {
			continue // ValidateAll says so
		}
		if s.CountedBy() != slo.Goal(goal) {
			errs = append(errs, invalidf("goal %q: SLO %q has SLI %s, want %s", goal, s.Name, sliString(s.SLI), sliString(want)))
		}
	}
	return errors.Join(errs...)
}

// sliString formats an SLI for an error: a goal conversion with its goal,
// any other by its type.
func sliString(sli slo.SLI) string {
	if gc, ok := sli.(slo.GoalConversion); ok {
		return fmt.Sprintf("slo.GoalConversion{Goal: %q}", gc.Goal)
	}
	return fmt.Sprintf("%T", sli)
}

// goalRow prebuilds the one attribute set that every goal metric of a
// segment combination uses.
func goalRow(base []attribute.KeyValue) rowOpts {
	opt := metric.WithAttributeSet(attribute.NewSet(base...))
	return rowOpts{observe: []metric.ObserveOption{opt}, record: []metric.RecordOption{opt}}
}

func (g *Goal) observe(ctx context.Context, o metric.Observer) error {
	if g.trackers != nil {
		g.sloMu.Lock()
		defer g.sloMu.Unlock()
	}
	// good and total are the SLOs' counts: converted and exposed attempts
	// over every row.
	var good, total int64
	if g.store.remote != nil {
		rows, counts, err := g.store.readShared(ctx)
		if err != nil {
			return err // no rows: nothing to report
		}
		for _, r := range rows {
			c := counts[r]
			good += c.Users[goalConversion]
			total += c.Users[goalExposure]
			g.observeRow(o, r, c.Users[goalExposure], c.Users[goalConversion], c.Events[goalExposure], c.Events[goalConversion])
		}
		g.observeSLOs(o, good, total)
		return nil
	}
	g.rows.each(func(r *row) {
		converted := r.users[goalConversion].Load()
		exposed := r.users[goalExposure].Load()
		good += converted
		total += exposed
		g.observeRow(o, r, exposed, converted, r.events[goalExposure].Load(), r.events[goalConversion].Load())
	})
	o.ObserveInt64(g.tracked, g.store.tracked.Load(), g.nameOpt...)
	g.observeSLOs(o, good, total)
	return nil
}

// observeSLOs sets the trackers to the counts just read and reports their
// status; the caller holds sloMu.
func (g *Goal) observeSLOs(o metric.Observer, good, total int64) {
	if g.trackers == nil {
		return
	}
	g.setSLOCounts(good, total)
	g.sloIn.Observe(o, g.clock(), g.trackers)
}

// setSLOCounts sets every tracker's cumulative counts.
func (g *Goal) setSLOCounts(good, total int64) {
	now := g.clock()
	for _, t := range g.trackers {
		t.Set(now, good, total)
	}
}

// localCounts returns the converted and exposed attempts of a goal held
// in memory, over every row. Each row's conversions are read before its
// exposures, so that good never exceeds total.
func (g *Goal) localCounts() (good, total int64) {
	g.rows.each(func(r *row) {
		good += r.users[goalConversion].Load()
		total += r.users[goalExposure].Load()
	})
	return good, total
}

// SLOStatus returns the status of each SLO of [WithSLOs], in their order,
// at the goal's clock: the converted and exposed attempts since the goal
// was created, and the error ratio, burn rate, error budget and alerts of
// each window, the figures the slo.* metrics report. It reads the current
// counts, as a collection does; a goal in a shared state ([WithState])
// reads them with one round trip bounded by 5 seconds, and when that read fails, or once the goal is
// closed, uses the counts it read last. It returns nil
// for a goal without SLOs, and for a nil *Goal.
func (g *Goal) SLOStatus() []slo.Status {
	if g == nil || len(g.trackers) == 0 {
		return nil
	}
	g.sloMu.Lock()
	defer g.sloMu.Unlock()
	if good, total, ok := g.readCounts(); ok {
		g.setSLOCounts(good, total)
	}
	now := g.clock()
	out := make([]slo.Status, len(g.trackers))
	for i, t := range g.trackers {
		out[i] = t.Status(now)
	}
	return out
}

// readCounts returns the goal's converted and exposed attempts; false when
// they cannot be read (the shared state failed, or the goal in a shared
// state is closed).
func (g *Goal) readCounts() (good, total int64, ok bool) {
	if g.store.remote == nil {
		good, total = g.localCounts()
		return good, total, true
	}
	if g.store.closed.Load() {
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedReadTimeout)
	defer cancel()
	rows, counts, err := g.store.readShared(ctx)
	if err != nil {
		return 0, 0, false
	}
	for _, r := range rows {
		good += counts[r].Users[goalConversion]
		total += counts[r].Users[goalExposure]
	}
	return good, total, true
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
// Made with the context of a request that package operational watches, an
// event that is not dropped links user to the request, so that the
// request counts its users; a goal counts no impaired attempt.
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
// conversion event. It links user to the request of ctx as
// [Goal.ExposeAt] does.
func (g *Goal) ConvertAt(ctx context.Context, t time.Time, user string) {
	if g == nil {
		return
	}
	g.record(ctx, unixNano(g.clock()), unixNano(t), user, goalConversion, nil)
}

func (g *Goal) record(ctx context.Context, now, at int64, user string, k int, segments []string) {
	if !g.store.admit(ctx, user) || !g.store.record(ctx, now, at, user, k, segments) {
		return
	}
	if o := reqoutcome.From(ctx); o != nil {
		g.links.linkTo(ctx, o, (*goalSink)(g), user, -1)
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
