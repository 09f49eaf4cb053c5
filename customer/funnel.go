package customer

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	reqoutcome "github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// ScopeName is the instrumentation scope of the meters the recorders use.
const ScopeName = "github.com/kpikit/kpikit/customer"

// Metric names reported by [Funnel].
const (
	MetricFunnelUsers         = "customer.funnel.users"
	MetricFunnelConversion    = "customer.funnel.conversion"
	MetricFunnelTimeToConvert = "customer.funnel.time_to_convert"
	MetricFunnelTrackedUsers  = "customer.funnel.tracked_users"
)

// Attribute keys the recorders set; a segment dimension cannot use them.
const (
	funnelKey    = attribute.Key("funnel")
	stepKey      = attribute.Key("funnel.step")
	stepIndexKey = attribute.Key("funnel.step.index")
	basisKey     = attribute.Key("funnel.basis")
	goalKey      = attribute.Key("goal")
)

var (
	basisPrevious = basisKey.String("previous")
	basisFirst    = basisKey.String("first")
)

// Funnel records users' progress through an ordered list of steps and
// reports, per step and segment combination, the users who reached it, the
// conversion ratios and the time to convert. See the package documentation
// for the definitions and the metrics.
//
// A Funnel is safe for concurrent use. The methods of a nil *Funnel do
// nothing.
type Funnel struct {
	name  string
	steps []string
	index map[string]int
	clock func() time.Time
	store *progressStore
	rows  *rowTable

	users      metric.Int64ObservableCounter
	conversion metric.Float64ObservableGauge
	// By entry period (WithPeriod); nil without.
	periodUsers      metric.Int64ObservableGauge
	periodConversion metric.Float64ObservableGauge
	tracked          metric.Int64ObservableUpDownCounter
	nameOpt          []metric.ObserveOption

	// Cost of failures (impaired.go).
	links                        requestLinks
	impairedUsers, impairedSteps metric.Int64ObservableCounter
	lost, atRisk                 metric.Float64ObservableGauge
	revenue                      *Activity                         // WithRevenueFrom; nil without
	riskOpts                     map[string][]metric.ObserveOption // by currency; guarded by col.mu

	saver     *snapshot.Saver // non-nil: state snapshotted to a file
	col       collector
	closeOnce sync.Once
}

// NewFunnel returns a funnel called name through steps, in order. It needs
// at least two steps and at most [MaxSteps], with unique non-empty names.
// [WithSnapshot] keeps its state across restarts and [WithState] shares it
// between replicas (see the package documentation, "State");
// [WithRevenueFrom] prices the users failures cost it (see "Cost of
// failures"); [WithPeriod] (with [WithHorizon], [WithLocation] and
// [WithExclusion]) adds the figures by entry period, users counted once
// as product-analytics tools count them (see "Funnels by entry period");
// the other options of [NewActivity], and [WithSLOs], are errors.
//
// A bad name, step list or option is an error wrapping [ErrInvalidConfig]
// that names the bad value. An error of the MeterProvider creating or
// registering the instruments is returned as it is. With an error no
// funnel is returned, and nothing is left running.
func NewFunnel(name string, steps []string, opts ...Option) (*Funnel, error) {
	c, err := newConfig(opts)
	errs := []error{err, c.misplaced(goalOnly, "NewFunnel")}
	if !validName(name) {
		errs = append(errs, invalidf("funnel name %q is not valid UTF-8 of 1 to %d bytes", name, maxNameLen))
	}
	switch {
	case c.given&givenRevenueFrom == 0:
	case c.revenueFrom == nil:
		errs = append(errs, invalidf("funnel %q: WithRevenueFrom given a nil activity", name))
	}
	index := make(map[string]int, len(steps))
	switch {
	case len(steps) < 2:
		errs = append(errs, invalidf("funnel %q has %d steps %q, at least 2 needed", name, len(steps), steps))
	case len(steps) > MaxSteps:
		errs = append(errs, invalidf("funnel %q has %d steps, at most %d allowed", name, len(steps), MaxSteps))
	}
	for i, s := range steps {
		if !validName(s) {
			errs = append(errs, invalidf("funnel %q step %d name %q is not valid UTF-8 of 1 to %d bytes", name, i+1, s, maxNameLen))
			continue
		}
		if j, dup := index[s]; dup {
			errs = append(errs, invalidf("funnel %q has duplicate step %q (steps %d and %d)", name, s, j+1, i+1))
			continue
		}
		index[s] = i
	}
	excl, err := checkPeriodOptions(c, name, index)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, x := range c.exclusions {
		index[x.event] = len(steps) + i
	}

	f := &Funnel{
		name:    name,
		steps:   append([]string(nil), steps...),
		index:   index,
		clock:   c.clock,
		revenue: c.revenueFrom,
	}
	nameAttr := funnelKey.String(name)
	f.nameOpt = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(nameAttr))}
	m := c.provider.Meter(ScopeName)
	dropped, err := selfobs.New(m, "customer.funnel")
	errs = append(errs[:0], err)
	f.users, err = m.Int64ObservableCounter(MetricFunnelUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Users who reached the funnel step, counted once per attempt."))
	errs = append(errs, err)
	f.conversion, err = m.Float64ObservableGauge(MetricFunnelConversion,
		metric.WithUnit("1"),
		metric.WithDescription("Users who reached the funnel step divided by those who reached the previous or the first step."))
	errs = append(errs, err)
	f.tracked, err = m.Int64ObservableUpDownCounter(MetricFunnelTrackedUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Users whose funnel progress is held in memory."))
	errs = append(errs, err)
	ttc, err := m.Float64Histogram(MetricFunnelTimeToConvert,
		metric.WithUnit("s"),
		metric.WithDescription("Time from the first to the last step of the funnel, per converted attempt."),
		metric.WithExplicitBucketBoundaries(c.buckets...))
	errs = append(errs, err)
	f.impairedUsers, err = m.Int64ObservableCounter(MetricFunnelImpairedUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Attempts impaired at the funnel step by a failed request, counted once per attempt and step, with the error type of the first failure."))
	errs = append(errs, err)
	f.impairedSteps, err = m.Int64ObservableCounter(MetricFunnelImpairedStepUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Attempts impaired by a failed request at any step that reached the funnel step, before or after the failure."))
	errs = append(errs, err)
	f.lost, err = m.Float64ObservableGauge(MetricFunnelLostUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Estimated attempts that failed requests kept from converting: impaired attempts times the conversion of clean attempts less that of impaired ones."))
	errs = append(errs, err)
	f.atRisk, err = m.Float64ObservableGauge(MetricRevenueAtRisk,
		metric.WithUnit(moneyUnit),
		metric.WithDescription("Estimated revenue that failed requests put at risk: lost users times the ARPPU of the current period, in major units of the currency."))
	errs = append(errs, err)

	instruments := []metric.Observable{f.users, f.conversion, f.tracked,
		f.impairedUsers, f.impairedSteps, f.lost, f.atRisk}
	if excl != nil {
		f.periodUsers, err = m.Int64ObservableGauge(MetricFunnelPeriodUsers,
			metric.WithUnit("{user}"),
			metric.WithDescription("Users who entered the funnel in the period and reached the step, each counted once at the furthest step of any window that starts at one of their entries."))
		errs = append(errs, err)
		f.periodConversion, err = m.Float64ObservableGauge(MetricFunnelPeriodConversion,
			metric.WithUnit("1"),
			metric.WithDescription("Users of the period who reached the step divided by those who entered the funnel in it."))
		errs = append(errs, err)
		instruments = append(instruments, f.periodUsers, f.periodConversion)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Registered before anything starts, so that its failure leaves nothing
	// to stop; it reports nothing until the state exists.
	reg, err := m.RegisterCallback(f.col.callback, instruments...)
	if err != nil {
		return nil, err
	}

	drops := newDrops(dropped, c, true)
	inMemory := c.shared == nil
	f.links = requestLinks{counter: dropped, errorTypes: true}
	newStore := func() *progressStore {
		f.rows = newRowTable(nameAttr, c.segments, c.valueLimit, len(steps), f.buildRow)
		f.rows.impaired = inMemory
		s := newProgressStore(c, len(steps), f.rows, drops, ttc)
		s.imp = newImpairments(f.rows, f.steps, &f.links)
		if excl != nil {
			s.pf = newPeriodFunnel(c, len(steps), f.rows, excl, dropped.Reason("beyond_horizon"))
			s.pf.users, s.pf.conv, s.pf.stepNames = f.periodUsers, f.periodConversion, f.steps
		}
		return s
	}
	f.store = newStore()
	if f.saver, err = startProgressState(c, "funnel", name, f.steps, &f.store, newStore, ttc); err != nil {
		return nil, errors.Join(err, reg.Unregister())
	}
	f.col.start(f.observe)
	return f, nil
}

// buildRow prebuilds the attribute sets of one segment combination: users
// per step, then conversion from the previous and from the first step for
// every step after the first, then the combination alone (lost users).
func (f *Funnel) buildRow(base []attribute.KeyValue) rowOpts {
	n := len(f.steps)
	obs := make([]metric.ObserveOption, n+2*(n-1)+1)
	set := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		kv := make([]attribute.KeyValue, 0, len(base)+len(extra))
		kv = append(append(kv, base...), extra...)
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	for k, s := range f.steps {
		step, idx := stepKey.String(s), stepIndexKey.Int(k+1)
		obs[k] = set(step, idx)
		if k > 0 {
			obs[n+2*(k-1)] = set(step, idx, basisPrevious)
			obs[n+2*(k-1)+1] = set(step, idx, basisFirst)
		}
	}
	all := set()
	obs[len(obs)-1] = all
	return rowOpts{observe: obs, record: []metric.RecordOption{all}}
}

func (f *Funnel) observe(ctx context.Context, o metric.Observer) error {
	if f.store.remote != nil {
		return f.observeShared(ctx, o)
	}
	var counts, impaired [MaxSteps]int64
	failures := f.store.imp != nil && f.links.active.Load()
	var lost float64
	f.rows.each(func(r *row) {
		// Later steps first: concurrent progress then never shows a step
		// with more users than the one before it. Impaired attempts
		// before users, which count them too.
		if failures {
			for k := len(f.steps) - 1; k >= 0; k-- {
				impaired[k] = r.impaired[k].Load()
			}
		}
		for k := len(f.steps) - 1; k >= 0; k-- {
			counts[k] = r.users[k].Load()
		}
		f.observeRow(o, r, &counts)
		if failures {
			lost += f.observeImpaired(o, r, &counts, &impaired)
		}
	})
	o.ObserveInt64(f.tracked, f.store.tracked.Load(), f.nameOpt...)
	if pf := f.store.pf; pf != nil {
		pf.observe(o)
	}
	if failures {
		f.store.imp.observe(o, f.impairedUsers)
		f.observeAtRisk(o, lost)
	}
	return nil
}

// observeShared reports the global counts of a shared state. The figures
// of failures are reported once this replica linked a user or the state
// holds an impaired attempt, so that every replica reports the same.
func (f *Funnel) observeShared(ctx context.Context, o metric.Observer) error {
	rows, counts, err := f.store.readShared(ctx)
	failures := f.links.active.Load()
	for _, r := range rows {
		failures = failures || counts[r].ImpairedSteps != [MaxSteps]int64{} || len(counts[r].Impaired) > 0
	}
	var lost float64
	for _, r := range rows {
		c := counts[r]
		f.observeRow(o, r, &c.Users)
		if failures {
			lost += f.observeImpaired(o, r, &c.Users, &c.ImpairedSteps)
		}
	}
	if failures {
		f.store.imp.observeShared(o, f.impairedUsers, rows, counts)
		f.observeAtRisk(o, lost)
	}
	if pf := f.store.pf; pf != nil {
		pf.observeShared(o, rows, counts)
	}
	return err
}

// observeRow reports the users per step and the conversions of one row.
func (f *Funnel) observeRow(o metric.Observer, r *row, counts *[MaxSteps]int64) {
	n := len(f.steps)
	for k := range n {
		o.ObserveInt64(f.users, counts[k], r.opts.observe[k:k+1]...)
		if k == 0 {
			continue
		}
		if counts[k-1] > 0 {
			o.ObserveFloat64(f.conversion, float64(counts[k])/float64(counts[k-1]), r.opts.observe[n+2*(k-1):n+2*(k-1)+1]...)
		}
		if counts[0] > 0 {
			o.ObserveFloat64(f.conversion, float64(counts[k])/float64(counts[0]), r.opts.observe[n+2*(k-1)+1:n+2*(k-1)+2]...)
		}
	}
}

// Name returns the funnel's name.
func (f *Funnel) Name() string {
	if f == nil {
		return ""
	}
	return f.name
}

// Steps returns a copy of the funnel's steps.
func (f *Funnel) Steps() []string {
	if f == nil {
		return nil
	}
	return append([]string(nil), f.steps...)
}

// Step records that user reached step now, by the funnel's clock. segments
// are the values of the declared segment dimensions, in order; they are
// used when the event starts an attempt and ignored otherwise. See
// [Funnel.StepAt].
func (f *Funnel) Step(ctx context.Context, user, step string, segments ...string) {
	if f == nil {
		return
	}
	now := unixNano(f.clock())
	f.record(ctx, now, now, user, step, segments)
}

// StepAt records that user reached step at event time t.
//
// An empty or over-long user id, an unknown step, an event more than
// [FutureTolerance] ahead of the clock, and an event before 1970 or more
// than a window behind the watermark (see the package documentation,
// "Definitions") are dropped and counted on the kpikit.dropped counter
// with the reason; no other event is dropped for its time: one earlier
// than the start of the user's attempt counts as if at the start. Segment
// values are folded, never dropped: a missing or empty value reports as
// [UnknownValue]; invalid UTF-8, a value longer than [MaxSegmentValueLen],
// extra values and values over the dimension's limit report as
// [OtherValue] and are counted (see the package documentation,
// "Configuration").
//
// Made with the context of a request that package operational watches, an
// event that is not dropped links user to the request: if the request
// fails, the user's attempt counts as impaired at step (see the package
// documentation, "Cost of failures").
//
// It does not allocate for a user already tracked, linked or not.
func (f *Funnel) StepAt(ctx context.Context, t time.Time, user, step string, segments ...string) {
	if f == nil {
		return
	}
	f.record(ctx, unixNano(f.clock()), unixNano(t), user, step, segments)
}

func (f *Funnel) record(ctx context.Context, now, at int64, user, step string, segments []string) {
	if !f.store.admit(ctx, user) {
		return
	}
	k, ok := f.index[step]
	if !ok {
		f.store.drops.unknownStep.Add(ctx, 1)
		return
	}
	if k >= len(f.steps) { // an exclusion: no step, no link
		f.store.record(ctx, now, at, user, k, nil)
		return
	}
	if !f.store.record(ctx, now, at, user, k, segments) {
		return
	}
	if o := reqoutcome.From(ctx); o != nil {
		f.links.linkTo(ctx, o, (*funnelSink)(f), user, k)
	}
}

// Link ties user's current attempt to the request whose context is ctx
// without recording a step: for a request made for a user in the funnel
// that is not itself a step, or whose step is recorded only once it
// succeeded (a payment that may fail before "pay" is reached). When the
// request fails, the attempt is impaired at the furthest step it reached
// by then, as it is at the step of a [Funnel.Step] call made with ctx;
// with [WithState], the furthest step the attempt the shared state holds
// reached once it applied the user's steps recorded before the failure.
// Without a request outcome in ctx it does nothing; a user that
// [Funnel.Step] would drop is dropped and counted the same way. It does
// not allocate.
func (f *Funnel) Link(ctx context.Context, user string) {
	if f == nil {
		return
	}
	o := reqoutcome.From(ctx)
	if o == nil || !f.store.admit(ctx, user) {
		return
	}
	f.links.linkTo(ctx, o, (*funnelSink)(f), user, stepFurthest)
}

// Close stops recording and writes the state the funnel owns: the last
// snapshot with [WithSnapshot], the buffered events with [WithState]
// (the state's client stays open: the caller owns it). It waits at most [CloseTimeout]; see [Funnel.Shutdown]. The funnel then
// keeps reporting its last values, read once more by Close, so that the
// provider's final collection carries them whether the provider shuts down
// before or after Close. Recording after Close is allowed: the event is
// dropped and counted on kpikit.dropped with reason "closed". Close is
// safe to call more than once; later calls return nil.
func (f *Funnel) Close() error {
	if f == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return f.Shutdown(ctx)
}

// Shutdown is [Funnel.Close] with a deadline of the caller's: when ctx ends
// before the last snapshot is written, it returns ctx.Err(). Only the
// first call of Close or Shutdown does anything.
func (f *Funnel) Shutdown(ctx context.Context) error {
	if f == nil {
		return nil
	}
	var err error
	f.closeOnce.Do(func() { err = shutdownProgress(ctx, f.store, &f.col, f.saver) })
	return err
}

// Flush waits, with [WithState], until every event recorded before the
// call reached the shared state, or ctx ends; collection reads the state
// and does not see buffered events, so Flush gives read-your-writes. With [WithSnapshot] it
// writes the snapshot now. Otherwise it does nothing. It returns an error
// after [Funnel.Close].
func (f *Funnel) Flush(ctx context.Context) error {
	if f == nil {
		return nil
	}
	return flushProgress(ctx, f.store, f.saver)
}
