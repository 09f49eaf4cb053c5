package customer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/money"
	reqoutcome "github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// Metric names reported by [Activity].
const (
	MetricActiveUsers          = "customer.active.users"
	MetricActiveStickiness     = "customer.active.stickiness"
	MetricActivePeriodUsers    = "customer.active.period_users"
	MetricRetentionCohortSize  = "customer.retention.cohort_size"
	MetricRetentionUsers       = "customer.retention.users"
	MetricRetentionRatio       = "customer.retention.ratio"
	MetricRevenueAmount        = "customer.revenue.amount"
	MetricRevenuePurchases     = "customer.revenue.purchases"
	MetricRevenueRefunds       = "customer.revenue.refunds"
	MetricRevenuePayingUsers   = "customer.revenue.paying_users"
	MetricRevenueARPU          = "customer.revenue.arpu"
	MetricRevenueARPPU         = "customer.revenue.arppu"
	MetricCohortRevenue        = "customer.cohort.revenue"
	MetricCohortPurchases      = "customer.cohort.purchases"
	MetricCohortLTV            = "customer.cohort.ltv"
	MetricActivityTrackedUsers = "customer.activity.tracked_users"
	MetricActiveLifecycle      = "customer.active.lifecycle" // with WithLifecycle
	MetricActiveDays           = "customer.active.days"      // with WithLifecycle
)

// Attribute keys of the [Activity] metrics.
const (
	activityKey = attribute.Key("activity")
	periodKey   = attribute.Key("period")
	cohortKey   = attribute.Key("cohort")
	offsetKey   = attribute.Key("cohort.offset")
	modeKey     = attribute.Key("retention.mode")
	currencyKey = attribute.Key("currency")
	windowKey   = attribute.Key("active.window")
)

// ActiveDays is the number of daily sets an [Activity] keeps for its
// rolling active-user windows: the longest window, 30 days.
const ActiveDays = shared.ActiveDays

// moneyUnit is the unit of the money metrics: major units of the currency
// named by the currency attribute.
const moneyUnit = "{currency}"

// Activity records users' activity, purchases and refunds, and reports
// active users (daily, weekly and monthly rolling windows, stickiness),
// cohort retention, revenue with ARPU and ARPPU per period and currency,
// and cohort revenue with the LTV curve. See the package documentation
// for the definitions and the metrics.
//
// Each recording call takes the user's signup time: the user's cohort is
// the period that contains it. Pass the zero time.Time when it is unknown:
// the cohort is then the period of the first event of the user that the
// recorder saw (first-seen), which the recorder keeps per user.
//
// An Activity is safe for concurrent use. The methods of a nil *Activity
// do nothing.
type Activity struct {
	name    string
	unit    period.Unit
	loc     *time.Location
	utc     bool
	horizon int64
	clock   func() time.Time
	cur     *currencies
	drops   activityDrops
	closed  atomic.Bool
	bound   atomic.Int64 // latest clock reading plus FutureTolerance, Unix s

	periods *ring.Ring[periodState]
	days    *ring.Ring[sketch.Set]
	seen    *firstSeen
	life    *lifeUsers // with WithLifecycle; it holds the first-seen cohorts instead of seen.m

	activeUsers, periodUsers, cohortSize, retUsers, purchases, refunds, paying, cohortPurchases metric.Int64ObservableGauge
	stickiness, retRatio, revenue, arpu, arppu, cohortRevenue, ltv                              metric.Float64ObservableGauge
	tracked                                                                                     metric.Int64ObservableUpDownCounter
	lifecycle, activeDays                                                                       metric.Int64ObservableGauge // with WithLifecycle

	nameAttr attribute.KeyValue
	nameOpt  []metric.ObserveOption
	winOpts  [3][]metric.ObserveOption   // 1d, 7d, 30d
	dayOpts  [2][][]metric.ObserveOption // with WithLifecycle: 7d, 30d by active.days

	col       collector            // runs collections one at a time
	wau, mau  unionCache           // guarded by col.mu
	lifeViews map[int64]*lifeViews // guarded by col.mu
	closeOnce sync.Once

	st      shared.Activity // non-nil: state shared through WithState
	current currentMoney    // with st: the current period's money, as the latest collection read it
	saver   *snapshot.Saver // non-nil: state snapshotted to a file

	links requestLinks // request outcomes (impaired.go)
}

// periodState is everything kept about one period index q: the period q
// itself (its active users and money) and the cohort of users whose cohort
// is q (its members and, per offset k, the cell of period q+k).
type periodState struct {
	active  sketch.Set
	members sketch.Set
	money   []periodMoney
	cells   []atomic.Pointer[cell]
	life    *lifeCounts // with WithLifecycle
	view    periodView  // collection side, guarded by Activity.col.mu
}

// periodMoney is the money of one period in one currency.
type periodMoney struct {
	revenue   money.Total // net of refunds, in units of the currency's scale
	purchases atomic.Int64
	refunds   atomic.Int64
	paying    sketch.Set
}

// cell is one cohort in one period.
type cell struct {
	users sketch.Set
	money []cellMoney
}

// cellMoney is the money of one cell in one currency.
type cellMoney struct {
	revenue   money.Total
	purchases atomic.Int64
}

// cell returns the cell at offset k, creating it if needed.
func (p *periodState) cell(k int64, currencies int) *cell {
	if c := p.cells[k].Load(); c != nil {
		return c
	}
	return p.newCell(k, currencies)
}

// newCell creates the cell at offset k unless another goroutine did.
func (p *periodState) newCell(k int64, currencies int) *cell {
	c := &cell{money: make([]cellMoney, currencies)}
	if p.cells[k].CompareAndSwap(nil, c) {
		return c
	}
	return p.cells[k].Load()
}

// activityDrops are the prebuilt dropped-event reasons of an activity;
// those it cannot count, given its state, are left at the zero value (see
// drops).
type activityDrops struct {
	emptyUser, longUser, future, late, beforeCohort, unknownCurrency, invalidAmount, overflow, userCap, unavailable selfobs.Reason
	closed, currencyLimit, lifecycleLate                                                                            selfobs.Reason
}

// firstSeen keeps the first-seen cohort of users recorded without a signup
// time, keyed by the hash of the user id.
//
// With a shared state (remote set) a user not seen before is held as
// pendingCohort until the state has resolved the cohort across replicas
// and called resolve.
type firstSeen struct {
	max    int64
	remote bool
	n      atomic.Int64
	shards [64]struct {
		mu sync.Mutex
		m  map[uint64]int64
		_  [48]byte
	}
}

func newFirstSeen(maxUsers int) *firstSeen {
	f := &firstSeen{max: int64(maxUsers)}
	for i := range f.shards {
		f.shards[i].m = make(map[uint64]int64)
	}
	return f
}

// pendingCohort is the cohort held for a user whose first-seen cohort the
// shared state is resolving.
const pendingCohort int64 = math.MinInt64

// cohort returns the cohort of user hash h, recording q (with remote,
// pendingCohort) as the cohort of a user not seen before when create is
// set (then fresh is true). known is false for a user not seen before and
// not recorded; capped says the cap prevented recording.
func (f *firstSeen) cohort(h uint64, q int64, create bool) (c int64, known, fresh, capped bool) {
	sh := &f.shards[h>>58]
	sh.mu.Lock()
	c, known = sh.m[h]
	switch {
	case known || !create:
	case f.n.Add(1) > f.max:
		f.n.Add(-1)
		capped = true
	default:
		if f.remote {
			q = pendingCohort
		}
		sh.m[h] = q
		c, known, fresh = q, true, true
	}
	sh.mu.Unlock()
	return c, known, fresh, capped
}

// NewActivity returns an activity recorder called name. The options that
// apply are [WithMeterProvider], [WithClock], [WithPeriod], [WithHorizon],
// [WithLocation], [WithCurrencies], [WithScale], [WithMaxUsers],
// [WithLifecycle], and one state: [WithSnapshot] or [WithState]; any other
// is an error, and so is WithLifecycle with WithState. With
// WithSnapshot it loads the snapshot file, if any (a bad one is moved
// aside and reported, never an error); with WithState it does not contact
// the store (an unreachable one shows as errors through the OTel error
// handler and buffered writes).
//
// A bad name or option is an error wrapping [ErrInvalidConfig] that names
// the bad value. An error of the MeterProvider creating or registering the
// instruments is returned as it is. With an error no recorder is
// returned, and nothing is left running.
func NewActivity(name string, opts ...Option) (*Activity, error) {
	c, units, err := newActivityConfig(opts)
	errs := []error{err}
	if !validName(name) {
		errs = append(errs, invalidf("activity name %q is not valid UTF-8 of 1 to %d bytes", name, maxNameLen))
	}
	if c.lifecycle && c.given&givenState != 0 {
		errs = append(errs, invalidf("WithLifecycle does not apply with WithState: the lifecycle is kept per user in memory, not in a shared state"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Activity{
		name:    name,
		unit:    period.Unit(c.period),
		loc:     c.loc,
		utc:     c.loc == time.UTC,
		horizon: int64(c.horizon),
		clock:   c.clock,
	}
	declared := c.given&givenCurrencies != 0
	a.cur = newCurrencies(units, declared)
	nCur := a.cur.slots()
	newState := func() {
		a.cur = newCurrencies(units, declared)
		a.periods = ring.New(c.horizon, func(_ int64, p *periodState) {
			p.money = make([]periodMoney, nCur)
			p.cells = make([]atomic.Pointer[cell], c.horizon)
			if c.lifecycle {
				p.life = new(lifeCounts)
			}
		})
		a.days = ring.New[sketch.Set](ActiveDays, nil)
		a.seen = newFirstSeen(c.maxUsers)
		if c.lifecycle {
			a.life = newLifeUsers(a.seen, a.unit)
		}
	}
	newState()
	a.bound.Store(c.clock().Unix() + int64(FutureTolerance/time.Second))

	a.nameAttr = activityKey.String(name)
	a.nameOpt = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(a.nameAttr))}
	for i, w := range []string{"1d", "7d", "30d"} {
		a.winOpts[i] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(a.nameAttr, windowKey.String(w)))}
	}

	m := c.provider.Meter(ScopeName)
	dropped, err := selfobs.New(m, "customer.activity")
	errs = append(errs[:0], err)
	igauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	fgauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	a.activeUsers = igauge(MetricActiveUsers, "{user}", "Distinct users active in the rolling window of 1, 7 or 30 days that ends today.")
	a.stickiness = fgauge(MetricActiveStickiness, "1", "Daily active users divided by 30-day active users.")
	a.periodUsers = igauge(MetricActivePeriodUsers, "{user}", "Distinct users active in the period.")
	a.cohortSize = igauge(MetricRetentionCohortSize, "{user}", "Distinct users of the cohort.")
	a.retUsers = igauge(MetricRetentionUsers, "{user}", "Distinct users of the cohort active in the period at the offset (mode on), or in it or later (mode on_or_after).")
	a.retRatio = fgauge(MetricRetentionRatio, "1", "Retained users of the cohort divided by its size.")
	a.revenue = fgauge(MetricRevenueAmount, moneyUnit, "Revenue in the period, net of refunds, in major units of the currency.")
	a.purchases = igauge(MetricRevenuePurchases, "{purchase}", "Purchases in the period.")
	a.refunds = igauge(MetricRevenueRefunds, "{refund}", "Refunds in the period.")
	a.paying = igauge(MetricRevenuePayingUsers, "{user}", "Distinct users who purchased in the period.")
	a.arpu = fgauge(MetricRevenueARPU, moneyUnit, "Revenue in the period divided by its active users.")
	a.arppu = fgauge(MetricRevenueARPPU, moneyUnit, "Revenue in the period divided by its paying users.")
	a.cohortRevenue = fgauge(MetricCohortRevenue, moneyUnit, "Revenue from the cohort in the period at the offset, net of refunds.")
	a.cohortPurchases = igauge(MetricCohortPurchases, "{purchase}", "Purchases by the cohort in the period at the offset.")
	a.ltv = fgauge(MetricCohortLTV, moneyUnit, "Cumulative revenue from the cohort up to the offset divided by the cohort size.")
	a.tracked, err = m.Int64ObservableUpDownCounter(MetricActivityTrackedUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Users whose first-seen cohort is held in memory."))
	errs = append(errs, err)
	instruments := []metric.Observable{a.activeUsers, a.stickiness, a.periodUsers,
		a.cohortSize, a.retUsers, a.retRatio, a.revenue, a.purchases, a.refunds, a.paying, a.arpu, a.arppu,
		a.cohortRevenue, a.cohortPurchases, a.ltv, a.tracked}
	observe := a.observe
	if c.lifecycle {
		errs = append(errs, a.buildLifecycle(m))
		instruments = append(instruments, a.lifecycle, a.activeDays)
		observe = a.observeLifecycle
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Registered before anything starts, so that its failure leaves nothing
	// to stop; it reports nothing until the state exists.
	reg, err := m.RegisterCallback(a.col.callback, instruments...)
	if err != nil {
		return nil, err
	}

	a.drops = activityDrops{
		emptyUser:       dropped.Reason("empty_user_id"),
		longUser:        dropped.Reason("long_user_id"),
		future:          dropped.Reason("future_event"),
		late:            dropped.Reason("late_event"),
		beforeCohort:    dropped.Reason("before_cohort"),
		unknownCurrency: dropped.Reason("unknown_currency"),
		invalidAmount:   dropped.Reason("invalid_amount"),
		userCap:         dropped.Reason("user_cap"),
		closed:          dropped.Reason("closed"),
	}
	// Both states check their sums (the shared one also those it has not
	// written yet). Only the shared state can be unavailable.
	a.drops.overflow = dropped.Reason("amount_overflow")
	if c.shared != nil {
		a.drops.unavailable = dropped.Reason("store_unavailable")
	}
	if !a.cur.declared {
		a.drops.currencyLimit = dropped.Reason("currency_limit")
	}
	if c.lifecycle {
		a.drops.lifecycleLate = dropped.Reason("lifecycle_late")
	}
	a.links = requestLinks{counter: dropped}
	// The goroutines start last: an error leaves nothing running.
	switch {
	case c.shared != nil:
		a.st, err = c.shared.NewActivity(shared.ActivityConfig{
			Name: name, Unit: a.unit, Location: a.loc, Horizon: c.horizon, Currencies: a.cur,
			Drops: shared.ActivityDrops{Unavailable: a.drops.unavailable, Overflow: a.drops.overflow,
				BeforeCohort: a.drops.beforeCohort, Late: a.drops.late},
			Resolved: a.seen.resolve,
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("customer: activity %q: %w: %w", name, err, ErrInvalidConfig), reg.Unregister())
		}
		a.seen.remote = true
	case c.snapPath != "":
		a.loadSnapshot(c.snapPath, newState)
		a.saver, err = snapshot.NewSaver(c.snapPath, activityStateVersion, a.appendState,
			snapshot.WithInterval(c.snapInterval))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig), reg.Unregister())
		}
	}
	a.col.start(observe)
	return a, nil
}

// Name returns the recorder's name.
func (a *Activity) Name() string {
	if a == nil {
		return ""
	}
	return a.name
}

// Period returns the recorder's period.
func (a *Activity) Period() Period {
	if a == nil {
		return 0
	}
	return Period(a.unit)
}

// Currencies returns the declared currencies or, without
// [WithCurrencies], those the recorder was given so far, in the order it
// first saw them.
func (a *Activity) Currencies() []string {
	if a == nil {
		return nil
	}
	return a.cur.codes()
}

// Scale returns the number of fractional digits in which amounts of
// currency are given, and false when the recorder does not take currency:
// one not declared, or without [WithCurrencies] one that is not an ISO
// 4217 code.
func (a *Activity) Scale(currency string) (int, bool) {
	if a == nil {
		return 0, false
	}
	u, ok := a.cur.unitOf(currency)
	return u.Scale(), ok
}

// ParseAmount converts a plain decimal such as "12.34" into an amount of
// currency at the recorder's scale, exactly: digits beyond the scale must
// be zeros; exponents, NaN, Inf, separators and symbols are errors. It
// does not allocate unless it fails.
func (a *Activity) ParseAmount(currency, text string) (int64, error) {
	if a == nil {
		return 0, invalidf("nil activity")
	}
	u, ok := a.cur.unitOf(currency)
	switch {
	case !ok && a.cur.declared:
		return 0, invalidf("currency %q is not declared", currency)
	case !ok:
		return 0, invalidf("currency %q is not an ISO 4217 code", currency)
	}
	return u.Parse(text)
}

// Event kinds.
const (
	kindActive   = shared.Active
	kindPurchase = shared.Purchase
	kindRefund   = shared.Refund
)

// Active records that user was active now, by the recorder's clock. See
// [Activity.ActiveAt].
func (a *Activity) Active(ctx context.Context, user string, signup time.Time) {
	if a == nil {
		return
	}
	a.record(ctx, a.clock(), user, signup, kindActive, "", 0)
}

// ActiveAt records that user was active at event time t. signup is the
// user's signup time, which sets the cohort; the zero time.Time means
// unknown: the cohort is then the first-seen one (see the package
// documentation).
//
// An empty or over-long user id, an event more than [FutureTolerance]
// ahead of the clock, one before 1970, one in a period older than the
// horizon, and one in a period before the user's cohort are dropped and
// counted on the kpikit.dropped counter with the reason. Made with the
// context of a request that package operational watches, an event that is
// not dropped links user to the request, so that the request counts its
// users (every recording method of Activity does). It does not allocate,
// except when it starts a period or a cohort cell, or tracks a new user
// without a signup time (with [WithLifecycle], any new user: the table of
// records grows now and then).
func (a *Activity) ActiveAt(ctx context.Context, t time.Time, user string, signup time.Time) {
	if a == nil {
		return
	}
	a.record(ctx, t, user, signup, kindActive, "", 0)
}

// Purchase records a purchase by user now, by the recorder's clock. See
// [Activity.PurchaseAt].
func (a *Activity) Purchase(ctx context.Context, user string, signup time.Time, currency string, amount int64) {
	if a == nil {
		return
	}
	a.record(ctx, a.clock(), user, signup, kindPurchase, currency, amount)
}

// PurchaseAt records a purchase of amount by user at event time t. The
// amount is in the currency's scale (see [WithScale]; cents of USD by
// default) and may be zero. A purchase is also activity: the user counts
// as active, as for [Activity.ActiveAt].
//
// Besides the drops of ActiveAt, a currency not declared with
// [WithCurrencies] (reason unknown_currency), a negative amount
// (invalid_amount) and an amount that would overflow an int64 total
// (amount_overflow) drop the event.
func (a *Activity) PurchaseAt(ctx context.Context, t time.Time, user string, signup time.Time, currency string, amount int64) {
	if a == nil {
		return
	}
	a.record(ctx, t, user, signup, kindPurchase, currency, amount)
}

// Refund records a refund to user now, by the recorder's clock. See
// [Activity.RefundAt].
func (a *Activity) Refund(ctx context.Context, user string, signup time.Time, currency string, amount int64) {
	if a == nil {
		return
	}
	a.record(ctx, a.clock(), user, signup, kindRefund, currency, amount)
}

// RefundAt records a refund of amount (positive, in the currency's scale)
// to user at event time t. It is taken off the revenue of the period of t
// and, when the user's cohort is known, off the cohort's revenue at that
// offset; it counts a refund, not a purchase, and is not activity. Bad
// input is dropped as for [Activity.PurchaseAt].
func (a *Activity) RefundAt(ctx context.Context, t time.Time, user string, signup time.Time, currency string, amount int64) {
	if a == nil {
		return
	}
	a.record(ctx, t, user, signup, kindRefund, currency, amount)
}

func (a *Activity) record(ctx context.Context, at time.Time, user string, signup time.Time, kind shared.Kind, currency string, amount int64) {
	if a.closed.Load() {
		a.drops.closed.Add(ctx, 1)
		return
	}
	switch {
	case user == "":
		a.drops.emptyUser.Add(ctx, 1)
		return
	case len(user) > MaxUserIDLen:
		a.drops.longUser.Add(ctx, 1)
		return
	}
	cur := -1
	if kind != kindActive {
		if cur = a.cur.lookup(currency); cur < 0 && !a.cur.takes(currency) {
			a.drops.unknownCurrency.Add(ctx, 1)
			return
		}
		if amount < 0 {
			a.drops.invalidAmount.Add(ctx, 1)
			return
		}
	}
	sec := at.Unix()
	if sec < 0 {
		a.drops.late.Add(ctx, 1)
		return
	}
	if sec > a.bound.Load() && !a.checkFuture(sec) {
		a.drops.future.Add(ctx, 1)
		return
	}
	d := a.dayOf(at, sec)
	q := a.periodOf(d)
	if q <= a.periods.Top()-a.horizon {
		a.drops.late.Add(ctx, 1)
		return
	}
	if cur < 0 && kind != kindActive {
		// A currency new to the recorder takes a slot only for an event
		// that passed the other checks: a dropped one takes none.
		if cur = a.cur.index(currency); cur < 0 {
			if cur == currencyLimit {
				a.drops.currencyLimit.Add(ctx, 1)
			} else {
				a.drops.unknownCurrency.Add(ctx, 1)
			}
			return
		}
	}
	h := sketch.Hash(user)
	var c int64
	known, member := true, true // member: insert into the cohort's members
	var capped bool
	var life lifeChange // with WithLifecycle, of an activity
	switch {
	case a.life != nil:
		// The user's record gives the first-seen cohort and, under the
		// same lock, takes an activity; its counters are added once the
		// event is accepted (lifeActivity). An activity that the ring
		// then refuses (the horizon passed it meanwhile) keeps its bit.
		c, known, member, capped, life = a.lifeCohort(h, q, d, signup, kind)
	case signup.IsZero():
		// A tracked user was inserted into the members when first seen.
		c, known, member, capped = a.seen.cohort(h, q, kind != kindRefund)
	default:
		c = a.periodOf(a.dayOf(signup, signup.Unix()))
	}
	if capped {
		a.drops.userCap.Add(ctx, 1)
	}
	if known && c > q {
		a.drops.beforeCohort.Add(ctx, 1)
		return
	}
	pe := a.periods.Get(q)
	if pe == nil {
		a.drops.late.Add(ctx, 1)
		return
	}
	if a.st != nil {
		// The shared state decides the cohort of a user recorded without a
		// signup time and not known here (pendingCohort is below every q).
		a.recordShared(ctx, h, q, c, d, known, signup.IsZero() && !capped && (c == pendingCohort || !known), kind, cur, amount, user)
		return
	}
	var ce *ring.Entry[periodState]
	var cl *cell
	if known {
		if c == q {
			ce = pe
		} else {
			ce = a.periods.Get(c) // nil when the cohort is beyond the horizon
		}
		if ce != nil {
			if cl = ce.V.cells[q-c].Load(); cl == nil { // ce.v.cell, inlined by hand
				cl = ce.V.newCell(q-c, a.cur.slots())
			}
			if member && kind != kindRefund {
				ce.V.members.Insert(h)
			}
		}
	}
	if kind != kindActive {
		delta := amount
		if kind == kindRefund {
			delta = -amount
		}
		pm := &pe.V.money[cur]
		if !pm.revenue.Add(delta) {
			a.drops.overflow.Add(ctx, 1)
			return
		}
		if cl != nil && !cl.money[cur].revenue.Add(delta) {
			pm.revenue.Add(-delta)
			a.drops.overflow.Add(ctx, 1)
			return
		}
		if kind == kindRefund {
			pm.refunds.Add(1)
		} else {
			pm.purchases.Add(1)
			pm.paying.Insert(h)
			if cl != nil {
				cl.money[cur].purchases.Add(1)
			}
		}
	}
	if kind != kindRefund { // a refund is not activity
		pe.V.active.Insert(h)
		if cl != nil {
			cl.users.Insert(h)
		}
		if de := a.days.Get(d); de != nil {
			de.V.Insert(h)
		}
		if a.life != nil {
			a.lifeActivity(ctx, pe, h, q, d, c, !signup.IsZero(), kind, life)
		}
	}
	// The event is accepted: link its user to the request, if any.
	if o := reqoutcome.From(ctx); o != nil {
		a.links.linkTo(ctx, o, (*activitySink)(a), user, -1)
	}
}

// recordShared hands a validated event to the shared state: to Defer when
// the state decides its cohort, else to Record. It is apart from record so
// that the memory path does not carry its frame.
func (a *Activity) recordShared(ctx context.Context, h uint64, q, c, d int64, known, deferred bool, kind shared.Kind, cur int, amount int64, user string) {
	e := shared.ActivityEvent{User: h, Period: q, Cohort: c, Day: d, Amount: amount, Currency: cur, Kind: kind, Known: known}
	if deferred {
		e.Cohort, e.Known = 0, false
		if !a.st.Defer(e) {
			a.drops.unavailable.Add(ctx, 1)
			return
		}
	} else if !a.st.Record(e) {
		a.drops.overflow.Add(ctx, 1)
		return
	}
	if o := reqoutcome.From(ctx); o != nil {
		a.links.linkTo(ctx, o, (*activitySink)(a), user, -1)
	}
}

// checkFuture reads the clock and reports whether an event at Unix second
// sec is within FutureTolerance of it. The bound is cached so that events
// up to the latest reading need no clock read.
func (a *Activity) checkFuture(sec int64) bool {
	b := a.clock().Unix() + int64(FutureTolerance/time.Second)
	for {
		old := a.bound.Load()
		if b <= old || a.bound.CompareAndSwap(old, b) {
			break
		}
	}
	return sec <= b
}

// dayOf returns the day index of t, whose Unix time is sec, in the
// recorder's location.
func (a *Activity) dayOf(t time.Time, sec int64) int64 {
	if a.utc {
		return period.DayOfUnix(sec)
	}
	return period.Day.Index(t, a.loc)
}

// periodOf returns the index of the period that contains day d.
func (a *Activity) periodOf(d int64) int64 { return a.unit.IndexOfDay(d) }

// Close stops recording and writes the state the recorder owns: the last
// snapshot with [WithSnapshot], the buffered writes with [WithState] (the
// store itself stays open: it belongs to the caller). It waits at most
// [CloseTimeout]; see [Activity.Shutdown]. The recorder then
// keeps reporting its last values, read once more by Close, so that the
// provider's final collection carries them whether the provider shuts down
// before or after Close. Recording after Close is allowed: the event is
// dropped and counted on kpikit.dropped with reason "closed". Close is
// safe to call more than once; later calls return nil.
func (a *Activity) Close() error {
	if a == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return a.Shutdown(ctx)
}

// Shutdown is [Activity.Close] with a deadline of the caller's: when ctx
// ends before the last snapshot is written, it returns ctx.Err(); with
// [WithState], the writes still buffered when ctx ends are dropped and
// counted with reason "store_unavailable". It returns by the deadline of
// ctx. It is safe to call more than once and together with Close; only the
// first call does anything.
func (a *Activity) Shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	var errs []error
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		if a.saver != nil {
			errs = append(errs, a.saver.Shutdown(ctx))
		}
		if a.st != nil {
			// The final reading below reads the shared state, which still
			// answers after Shutdown: write everything first.
			errs = append(errs, a.st.Shutdown(ctx))
		}
		errs = append(errs, a.col.freeze(ctx))
	})
	return errors.Join(errs...)
}

// Flush writes the state now: a snapshot with [WithSnapshot], or, with
// [WithState], every write buffered before the call (it waits until the
// store took them, or ctx ends). Collection reads the store and does not
// see buffered writes, so Flush gives read-your-writes, in tests for
// instance. Without a state option it does nothing. It returns an error
// after [Activity.Close].
func (a *Activity) Flush(ctx context.Context) error {
	switch {
	case a == nil:
		return nil
	case a.saver != nil:
		return a.saver.Save()
	case a.st != nil:
		return a.st.Flush(ctx)
	}
	return nil
}
