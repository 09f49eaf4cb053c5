package customer

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/money"
	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/snapshot"
	"github.com/kpikit/kpikit/slo"
)

// ErrInvalidConfig is wrapped by every error that a constructor returns for
// a bad argument or option. Errors of the MeterProvider creating or
// registering the instruments do not wrap it. Either way the constructor
// returns no recorder and leaves nothing running.
var ErrInvalidConfig = errors.New("invalid configuration")

// Defaults and limits of the configuration.
const (
	// DefaultWindow is the conversion window when [WithWindow] is not given.
	DefaultWindow = 14 * 24 * time.Hour
	// MaxWindow is the longest conversion window.
	MaxWindow = 5 * 366 * 24 * time.Hour
	// DefaultMaxUsers is the cap on tracked users when [WithMaxUsers] is not
	// given.
	DefaultMaxUsers = 1_000_000
	// DefaultSegmentValueLimit is the number of distinct values a segment
	// dimension takes before further values fold into [OtherValue].
	DefaultSegmentValueLimit = 50
	// MaxSteps is the most steps a funnel can have.
	MaxSteps = 32
	// MaxSegments is the most segment dimensions a recorder can declare.
	MaxSegments = 8
	// MaxSegmentValueLen is the longest segment value, in bytes, that is
	// kept; a longer one folds into [OtherValue].
	MaxSegmentValueLen = 128
	// MaxUserIDLen is the longest user id, in bytes, that is accepted; an
	// event with a longer one is dropped.
	MaxUserIDLen = 256
	// FutureTolerance is how far ahead of the clock an event time may be.
	// A later event is dropped.
	FutureTolerance = time.Hour
	// DefaultPeriod is the period of an [Activity] when [WithPeriod] is not
	// given.
	DefaultPeriod = Week
	// DefaultHorizon is the number of periods an [Activity] keeps when
	// [WithHorizon] is not given.
	DefaultHorizon = 12
	// MaxHorizon is the largest horizon: a year of days.
	MaxHorizon = 366
	// MaxCurrencies is the most currencies an [Activity] can declare, or
	// take without [WithCurrencies].
	MaxCurrencies = 16
)

// DefaultTimeToConvertBuckets are the histogram bucket boundaries, in
// seconds, of the time-to-convert histograms: one second to thirty days.
var DefaultTimeToConvertBuckets = []float64{
	1, 10, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
	86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
}

// Order says which events of a user advance a funnel.
type Order uint8

const (
	// Sequential counts a step only once every earlier step was reached in
	// the same attempt; events of other steps may come in between and are
	// ignored. It is the default.
	Sequential Order = iota
	// Any counts each step the first time it is reached in an attempt,
	// whatever the order. A later step can then have more users than an
	// earlier one.
	Any
	// Strict counts a step only when it comes right after the previous one;
	// any other step of the funnel (a repeat of the current step aside)
	// ends the attempt, and the user counts again only once the window has
	// expired.
	Strict
)

// String returns "sequential", "any" or "strict".
func (o Order) String() string {
	switch o {
	case Sequential:
		return "sequential"
	case Any:
		return "any"
	case Strict:
		return "strict"
	}
	return fmt.Sprintf("Order(%d)", uint8(o))
}

// Option configures [NewFunnel], [NewGoal] and [NewActivity]. Each option
// says which recorders it applies to; a constructor given an option that
// does not apply to it returns an error wrapping [ErrInvalidConfig].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// config is what the options set; newConfig fills in the defaults.
type config struct {
	provider   metric.MeterProvider
	window     time.Duration
	order      Order
	orderSet   bool
	segments   []string
	valueLimit int
	maxUsers   int
	buckets    []float64
	clock      func() time.Time

	// Activity only.
	period     Period
	horizon    int
	loc        *time.Location
	currencies []string
	scale      int

	// State (activity only, for now).
	snapPath     string
	snapInterval time.Duration
	shared       shared.Backend // WithState

	// Goal only.
	slos []slo.SLO

	// Activity only.
	lifecycle bool // WithLifecycle

	// Funnel only.
	revenueFrom *Activity
	exclusions  []exclusion // WithExclusion

	given optionSet // options that were given, for recorder-aware checks
	errs  []error   // of options whose value cannot work, such as a nil client
}

// fail records an error of an option's value.
func (c config) fail(err error) config {
	c.errs = append(c.errs[:len(c.errs):len(c.errs)], err)
	return c
}

// optionSet records which recorder-specific options were given.
type optionSet uint32

const (
	givenWindow optionSet = 1 << iota
	givenOrder
	givenSegments
	givenValueLimit
	givenBuckets
	givenPeriod
	givenHorizon
	givenLocation
	givenCurrencies
	givenScale
	givenSnapshot
	givenState
	givenMaxUsers
	givenSLOs
	givenRevenueFrom
	givenLifecycle
	givenExclusion

	// funnelOnly are the options of funnels and goals only.
	funnelOnly = givenWindow | givenOrder | givenSegments | givenValueLimit | givenBuckets
	// activityOnly are the options of [NewActivity] only.
	activityOnly = givenCurrencies | givenScale | givenLifecycle
	// periodOptions are the options of activities and funnels.
	periodOptions = givenPeriod | givenHorizon | givenLocation
	// goalOnly are the options of [NewGoal] only.
	goalOnly = givenSLOs
	// funnelOnlyNotGoal are the options of [NewFunnel] only.
	funnelOnlyNotGoal = givenRevenueFrom | givenExclusion
)

var optionNames = []struct {
	bit  optionSet
	name string
}{
	{givenWindow, "WithWindow"}, {givenOrder, "WithOrder"}, {givenSegments, "WithSegments"},
	{givenValueLimit, "WithSegmentValueLimit"}, {givenBuckets, "WithTimeToConvertBuckets"},
	{givenPeriod, "WithPeriod"}, {givenHorizon, "WithHorizon"}, {givenLocation, "WithLocation"},
	{givenCurrencies, "WithCurrencies"}, {givenScale, "WithScale"},
	{givenSnapshot, "WithSnapshot"}, {givenState, "WithState"},
	{givenSLOs, "WithSLOs"}, {givenRevenueFrom, "WithRevenueFrom"},
	{givenLifecycle, "WithLifecycle"}, {givenExclusion, "WithExclusion"},
}

// misplaced returns an error naming every option of set that was given to
// a recorder it does not apply to.
func (c config) misplaced(set optionSet, recorder string) error {
	var errs []error
	for _, o := range optionNames {
		if c.given&set&o.bit != 0 {
			errs = append(errs, invalidf("%s does not apply to %s", o.name, recorder))
		}
	}
	return errors.Join(errs...)
}

// WithMeterProvider sets the MeterProvider the recorder reports to. Without
// it, or given nil, the global provider at construction time is used.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.provider = mp
		}
		return c
	})
}

// WithWindow applies to [NewFunnel] and [NewGoal]. It sets the conversion window, measured from the event that
// starts an attempt (default [DefaultWindow]). It must be positive and at
// most [MaxWindow].
func WithWindow(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.window = d
		c.given |= givenWindow
		return c
	})
}

// WithOrder sets the ordering mode of a funnel (default [Sequential]). It
// applies to [NewFunnel] only: a goal is always sequential.
func WithOrder(o Order) Option {
	return optionFunc(func(c config) config {
		c.order = o
		c.orderSet = true
		c.given |= givenOrder
		return c
	})
}

// WithSegments applies to [NewFunnel] and [NewGoal]. It declares the segment dimensions, such as "device" or "plan".
// Each becomes a metric attribute of that name; recording calls give the
// values in the same order. At most [MaxSegments] dimensions; names must be
// unique, valid UTF-8, and not one of the attribute names the recorder uses
// itself (see the package documentation).
func WithSegments(dimensions ...string) Option {
	dims := append([]string(nil), dimensions...)
	return optionFunc(func(c config) config {
		c.segments = dims
		c.given |= givenSegments
		return c
	})
}

// WithSegmentValueLimit applies to [NewFunnel] and [NewGoal]. It sets how many distinct values each segment dimension
// takes (default [DefaultSegmentValueLimit]); later new values fold into
// [OtherValue] and are counted as dropped with reason "segment_overflow".
// It must be between 1 and 65000.
func WithSegmentValueLimit(n int) Option {
	return optionFunc(func(c config) config {
		c.valueLimit = n
		c.given |= givenValueLimit
		return c
	})
}

// WithMaxUsers caps the number of users whose progress is held in memory
// (default [DefaultMaxUsers]). When the cap is reached and no expired
// attempt can be reclaimed, events that would start a new attempt are
// dropped and counted with reason "user_cap". It must be positive. A
// funnel or goal in Redis holds no progress in memory: there it is an
// error.
//
// For an [Activity] it caps the users whose first-seen cohort is held;
// once it is reached, events of new users given without a signup time
// still count in the per-period figures, but not in any cohort, and are
// counted with reason "user_cap". With [WithState] it caps the first-seen
// cohorts the replica holds, to the same effect.
func WithMaxUsers(n int) Option {
	return optionFunc(func(c config) config {
		c.maxUsers = n
		c.given |= givenMaxUsers
		return c
	})
}

// WithTimeToConvertBuckets applies to [NewFunnel] and [NewGoal]. It sets the bucket boundaries, in seconds, of the
// time-to-convert histogram (default [DefaultTimeToConvertBuckets]). They
// must be finite and strictly increasing.
func WithTimeToConvertBuckets(bounds ...float64) Option {
	b := append([]float64(nil), bounds...)
	return optionFunc(func(c config) config {
		c.buckets = b
		c.given |= givenBuckets
		return c
	})
}

// WithClock sets the clock that the recording calls without an event time
// use, and that bounds event times from the future (default time.Now). A
// nil clock is ignored. It applies to every recorder.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c config) config {
		if now != nil {
			c.clock = now
		}
		return c
	})
}

// WithSLOs applies to [NewGoal]. It declares service-level objectives on
// the goal's conversion: each SLO's SLI must be [slo.GoalConversion] whose
// Goal is the goal's name. An attempt (a user's first exposure within a
// goal window) is an event and an attempt that converted is a good one:
// the counts of customer.goal.exposed_users and
// customer.goal.converted_users, summed over the segments. The SLOs are
// validated as [slo.ValidateAll] does; an SLO that cannot work, one of
// another SLI or another goal, or two SLOs with one name, are errors
// wrapping [ErrInvalidConfig] that name the SLO and the bad value. Calls
// accumulate. The goal then reports the slo.* metrics of each SLO (see
// package slo) and returns their status from [Goal.SLOStatus].
func WithSLOs(slos ...slo.SLO) Option {
	s := append([]slo.SLO(nil), slos...)
	return optionFunc(func(c config) config {
		c.slos = append(c.slos[:len(c.slos):len(c.slos)], s...)
		c.given |= givenSLOs
		return c
	})
}

// WithRevenueFrom applies to [NewFunnel]. It names the activity that
// records the revenue of the funnel's users: the funnel then reports
// customer.revenue.at_risk, its lost users times the ARPPU of the
// activity's current period, per currency (see the package
// documentation, "Cost of failures"). A nil activity is an error.
func WithRevenueFrom(a *Activity) Option {
	return optionFunc(func(c config) config {
		c.revenueFrom = a
		c.given |= givenRevenueFrom
		return c
	})
}

// baseConfig sets the defaults of every recorder and applies opts.
func baseConfig(opts []Option) config {
	c := config{
		window:     DefaultWindow,
		valueLimit: DefaultSegmentValueLimit,
		maxUsers:   DefaultMaxUsers,
		buckets:    DefaultTimeToConvertBuckets,
		clock:      time.Now,
		period:     DefaultPeriod,
		horizon:    DefaultHorizon,
		loc:        time.UTC,
		scale:      -1,
	}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetMeterProvider()
	}
	return c
}

// checkSnapshot validates the options of WithSnapshot.
func (c config) checkSnapshot() error {
	if c.given&givenSnapshot == 0 {
		return nil
	}
	var errs []error
	if c.snapPath == "" {
		errs = append(errs, invalidf("snapshot path is empty"))
	} else if err := snapshot.CheckPath(c.snapPath); err != nil {
		errs = append(errs, fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig))
	}
	if c.snapInterval < 0 {
		errs = append(errs, invalidf("snapshot interval %v is negative", c.snapInterval))
	}
	if c.given&givenState != 0 {
		errs = append(errs, invalidf("WithSnapshot and WithState exclude each other"))
	}
	return errors.Join(errs...)
}

// newConfig sets the defaults of a funnel or goal, applies opts and
// validates the result.
func newConfig(opts []Option) (config, error) {
	c := baseConfig(opts)
	errs := append([]error{c.misplaced(activityOnly, "funnels and goals"), c.checkSnapshot()}, c.errs...)
	if c.shared != nil && c.given&givenMaxUsers != 0 {
		errs = append(errs, invalidf("WithMaxUsers(%d) does not apply with WithState: the progress is held in the shared state, where no user cap applies", c.maxUsers))
	}
	if c.window <= 0 || c.window > MaxWindow {
		errs = append(errs, invalidf("window %v must be positive and at most %v", c.window, MaxWindow))
	}
	if c.order > Strict {
		errs = append(errs, invalidf("unknown order %v", c.order))
	}
	if c.valueLimit < 1 || c.valueLimit > maxValueLimit {
		errs = append(errs, invalidf("segment value limit %d must be between 1 and %d", c.valueLimit, maxValueLimit))
	}
	if c.maxUsers < 1 {
		errs = append(errs, invalidf("max users %d must be positive", c.maxUsers))
	}
	if err := checkSegments(c.segments); err != nil {
		errs = append(errs, err)
	}
	if err := checkBuckets(c.buckets); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

const maxValueLimit = 65000

// reservedKeys are the attribute names the recorders use themselves.
var reservedKeys = map[string]bool{
	string(funnelKey):    true,
	string(stepKey):      true,
	string(stepIndexKey): true,
	string(basisKey):     true,
	string(goalKey):      true,
	string(errorTypeKey): true,
}

func checkSegments(dims []string) error {
	if len(dims) > MaxSegments {
		return invalidf("%d segment dimensions %q, at most %d", len(dims), dims, MaxSegments)
	}
	seen := make(map[string]bool, len(dims))
	for _, d := range dims {
		switch {
		case d == "":
			return invalidf("empty segment dimension name in %q", dims)
		case !validName(d):
			return invalidf("segment dimension %q is not valid UTF-8 of at most %d bytes", d, maxNameLen)
		case reservedKeys[d]:
			return invalidf("segment dimension %q is an attribute the recorder sets itself", d)
		case seen[d]:
			return invalidf("duplicate segment dimension %q", d)
		}
		seen[d] = true
	}
	return nil
}

func checkBuckets(b []float64) error {
	if len(b) == 0 {
		return invalidf("no time-to-convert bucket boundaries")
	}
	for i, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalidf("time-to-convert bucket boundary %v is not finite", v)
		}
		if i > 0 && v <= b[i-1] {
			return invalidf("time-to-convert bucket boundaries %v are not strictly increasing at %v", b, v)
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("customer: "+format+": %w", append(args, ErrInvalidConfig)...)
}

// Period is the calendar period of an [Activity]: the unit of its cohorts,
// of its per-period figures and of its horizon.
type Period uint8

const (
	// Day is a calendar day in the recorder's location; labels such as
	// "2009-01-06".
	Day Period = Period(period.Day)
	// Week is an ISO 8601 week, Monday to Sunday; labels such as "2009-W02".
	Week Period = Period(period.Week)
	// Month is a calendar month; labels such as "2009-01".
	Month Period = Period(period.Month)
)

// String returns "day", "week" or "month".
func (p Period) String() string { return period.Unit(p).String() }

// ParsePeriod returns the period named "day", "week" or "month".
func ParsePeriod(s string) (Period, error) {
	u, err := period.Parse(s)
	if err != nil {
		return 0, invalidf("unknown period %q, want day, week or month", s)
	}
	return Period(u), nil
}

// WithPeriod applies to [NewActivity] and [NewFunnel]. For an activity it
// sets the period of cohorts and per-period figures (default
// [DefaultPeriod], ISO weeks); given to a funnel it turns on the figures
// by entry period (see the package documentation, "Funnels by entry
// period").
func WithPeriod(p Period) Option {
	return optionFunc(func(c config) config {
		c.period = p
		c.given |= givenPeriod
		return c
	})
}

// WithHorizon applies to [NewActivity], and to [NewFunnel] with
// [WithPeriod] (the entry periods reported). It sets how many periods are kept
// (default [DefaultHorizon]): the cohorts of the latest n periods, each with
// offsets 0 to n-1, and the per-period figures of the latest n periods.
// Events in older periods are dropped with reason "late_event". It must be
// between 1 and [MaxHorizon].
func WithHorizon(n int) Option {
	return optionFunc(func(c config) config {
		c.horizon = n
		c.given |= givenHorizon
		return c
	})
}

// WithLocation applies to [NewActivity], and to [NewFunnel] with
// [WithPeriod]. It sets the time zone whose
// calendar defines days, weeks and months (default UTC). A nil location is
// ignored.
func WithLocation(loc *time.Location) Option {
	return optionFunc(func(c config) config {
		if loc != nil {
			c.loc = loc
			c.given |= givenLocation
		}
		return c
	})
}

// WithCurrencies applies to [NewActivity]. It declares the ISO 4217
// currencies that purchases and refunds may use, such as "USD" and "EUR":
// exactly three upper-case letters of a listed currency, at most
// [MaxCurrencies], no duplicates; a purchase or refund in another is
// dropped with reason "unknown_currency". Without it the recorder takes
// every ISO 4217 currency at its minor unit (2 digits for USD, 0 for JPY,
// 3 for KWD): a currency is reported from its first purchase or refund
// on, up to [MaxCurrencies] currencies; one more is dropped with reason
// "currency_limit", a code that is not ISO 4217 with "unknown_currency".
func WithCurrencies(codes ...string) Option {
	cs := append([]string(nil), codes...)
	return optionFunc(func(c config) config {
		c.currencies = cs
		c.given |= givenCurrencies
		return c
	})
}

// WithScale applies to [NewActivity]. It sets the number of fractional
// digits in which amounts of every declared currency are given: an amount
// of 133125 at scale 4 is 13.3125 major units. By default each currency
// uses its minor unit (2 for USD: amounts in cents); a finer scale suits
// sub-cent usage pricing. It must be at least every declared currency's
// minor-unit digits and at most 18, and needs [WithCurrencies].
func WithScale(n int) Option {
	return optionFunc(func(c config) config {
		c.scale = n
		c.given |= givenScale
		return c
	})
}

// newActivityConfig sets the defaults of an activity recorder, applies
// opts, validates the result and returns the money unit of each currency.
func newActivityConfig(opts []Option) (config, []money.Unit, error) {
	c := baseConfig(opts)
	errs := []error{c.misplaced(funnelOnly|goalOnly|funnelOnlyNotGoal, "NewActivity")}
	if !period.Unit(c.period).Valid() {
		errs = append(errs, invalidf("unknown period %v", c.period))
	}
	if c.horizon < 1 || c.horizon > MaxHorizon {
		errs = append(errs, invalidf("horizon %d must be between 1 and %d periods", c.horizon, MaxHorizon))
	}
	if c.maxUsers < 1 {
		errs = append(errs, invalidf("max users %d must be positive", c.maxUsers))
	}
	if len(c.currencies) > MaxCurrencies {
		errs = append(errs, invalidf("%d currencies %q, at most %d", len(c.currencies), c.currencies, MaxCurrencies))
	}
	errs = append(errs, c.checkSnapshot())
	errs = append(errs, c.errs...)
	if c.given&givenScale != 0 && len(c.currencies) == 0 {
		errs = append(errs, invalidf("scale %d given without currencies", c.scale))
	}
	var units []money.Unit
	seen := map[string]bool{}
	for _, code := range c.currencies {
		if seen[code] {
			errs = append(errs, invalidf("duplicate currency %q", code))
			continue
		}
		seen[code] = true
		var mo []money.Option
		if c.given&givenScale != 0 {
			mo = append(mo, money.WithScale(c.scale))
		}
		u, err := money.NewUnit(code, mo...)
		if err != nil {
			errs = append(errs, fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig))
			continue
		}
		units = append(units, u)
	}
	return c, units, errors.Join(errs...)
}

// WithLifecycle applies to [NewActivity]. It keeps, for each user under
// the user cap ([WithMaxUsers]), the periods and days the user was active,
// and reports lifecycle (new, returning, resurrecting and dormant users
// per period) and the stickiness distribution (users active on exactly 1,
// 2, … of the last 7 and 30 days). See the package documentation,
// "Lifecycle and stickiness".
func WithLifecycle() Option {
	return optionFunc(func(c config) config {
		c.lifecycle = true
		c.given |= givenLifecycle
		return c
	})
}

// exclusion is one WithExclusion: an attempt in which event happens after
// step from was reached and before step to was reached leaves the funnel.
type exclusion struct {
	event    string
	from, to string
}

// WithExclusion applies to [NewFunnel]. It declares event, recorded with
// [Funnel.Step] like a step, as an exclusion between steps from and to
// (names of the funnel's steps, from before to): an attempt in which
// event happens once from was reached and before to was reached leaves
// the funnel, as PostHog's exclusion steps define it. See the package
// documentation, "Funnels by entry period". It may be given more than
// once.
func WithExclusion(event, from, to string) Option {
	return optionFunc(func(c config) config {
		c.exclusions = append(c.exclusions[:len(c.exclusions):len(c.exclusions)], exclusion{event, from, to})
		c.given |= givenExclusion
		return c
	})
}
