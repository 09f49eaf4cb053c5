package operational

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/sketch"
)

// MetricAffectedUsers is the number of distinct users who hit a failure,
// per route (a [Middleware]) or operation (an [Operation] timed with
// [Operation.StartContext]), error.type and UTC day (attribute period,
// "2006-01-02"), over the last [AffectedDays] days. A user is known to the
// recorder when a customer recorder was called with the request's context
// (customer's Funnel.Step, Goal.Convert, Activity.Purchase, …); the id
// itself is never an attribute, only counted in a set: exact up to 1,536
// users, near-exact (0.024%) up to about 7,000, then a HyperLogLog of 0.81%
// standard error.
const MetricAffectedUsers = "kpikit.affected_users"

// ErrorTypeSlow is the error.type customer recorders are told of for a
// request that succeeded but took longer than the threshold of an
// [slo.HTTPLatency] SLO that selects it; the request itself is recorded
// without error.type.
const ErrorTypeSlow = "slo_latency"

// AffectedDays is the number of UTC days, today's included, whose affected
// users are reported.
const AffectedDays = 7

const (
	errPanicType = "panic"
	// maxAffectedSets bounds the sets of one recorder; a failure that
	// would start another is counted on kpikit.dropped (reason
	// "affected_limit") and its users are not counted.
	maxAffectedSets   = 256
	reasonAffected    = "affected_limit"
	keyPeriod         = attribute.Key("period")
	secondsPerDay     = 24 * 60 * 60
	affectedDayFormat = time.DateOnly
)

type affectedKey struct {
	name, errType string
	day           int64
}

type affectedSet struct {
	users *sketch.Set
	opts  []metric.ObserveOption
}

// affected counts the distinct users who hit each failure of a recorder.
type affected struct {
	key   attribute.Key // http.route or operation.name
	base  []attribute.KeyValue
	limit selfobs.Reason

	mu   sync.Mutex
	sets map[affectedKey]*affectedSet
}

func (a *affected) init(meter metric.Meter, key attribute.Key, base []attribute.KeyValue, dropped *selfobs.Counter) error {
	a.key, a.base = key, base
	if dropped != nil {
		a.limit = dropped.Reason(reasonAffected)
	}
	// Every Middleware and Operation of a provider reports the same
	// instrument: the SDK runs only the callbacks given when it was first
	// created, so each recorder registers its own.
	g, err := meter.Int64ObservableGauge(MetricAffectedUsers,
		metric.WithUnit("{user}"),
		metric.WithDescription("Distinct users who hit a failure, per route or operation, error type and day."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		a.observe(o, g)
		return nil
	}, g)
	return err
}

// failure counts the users linked to one failed request or operation,
// those linked after it ended included. It lives in the allocation the
// request or operation makes anyway, so that a failure allocates nothing.
type failure struct {
	a             *affected
	ctx           context.Context
	name, errType string
	day           int64
}

// Add counts user.
func (f *failure) Add(user string) { f.a.add(f.ctx, f.name, f.errType, f.day, user) }

// finish ends out: when errType is not empty, as a failure whose linked
// users are counted, through fail, for name (a route or an operation) on
// the day of at.
func (a *affected) finish(ctx context.Context, out *outcome.Outcome, fail *failure, name, errType string, at time.Time) {
	if errType == "" {
		out.Finish(false, "", nil)
		return
	}
	*fail = failure{a: a, ctx: ctx, name: name, errType: errType, day: at.Unix() / secondsPerDay}
	out.Finish(true, errType, fail)
}

func (a *affected) add(ctx context.Context, name, errType string, day int64, user string) {
	k := affectedKey{name: name, errType: errType, day: day}
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.sets[k]
	if set == nil {
		a.evictLocked(day)
		if len(a.sets) >= maxAffectedSets {
			a.limit.Add(ctx, 1)
			return
		}
		kvs := append(a.base[:len(a.base):len(a.base)],
			keyErrorType.String(errType),
			keyPeriod.String(time.Unix(day*secondsPerDay, 0).UTC().Format(affectedDayFormat)))
		if name != "" {
			kvs = append(kvs, a.key.String(name))
		}
		k.name, k.errType = strings.Clone(name), strings.Clone(errType)
		set = &affectedSet{users: sketch.New(), opts: []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}}
		if a.sets == nil {
			a.sets = map[affectedKey]*affectedSet{}
		}
		a.sets[k] = set
	}
	set.users.Insert(sketch.Hash(user))
}

// evictLocked drops the sets of days before the last AffectedDays up to
// today.
func (a *affected) evictLocked(today int64) {
	for k := range a.sets {
		if k.day <= today-AffectedDays {
			delete(a.sets, k)
		}
	}
}

func (a *affected) observe(o metric.Observer, g metric.Int64ObservableGauge) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evictLocked(time.Now().Unix() / secondsPerDay)
	for _, s := range a.sets {
		o.ObserveInt64(g, int64(s.users.Estimate()), s.opts...)
	}
}
