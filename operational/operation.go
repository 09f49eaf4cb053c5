package operational

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/slo"
)

// Metric names of the operation recorder and the error counter.
const (
	MetricOperationDuration = "kpikit.operation.duration"
	MetricErrors            = "kpikit.errors"
)

const (
	componentOperation = "operational.operation"
	componentErrors    = "operational.errors"
)

// Operation records the duration and outcome of one kind of unit of work
// (a query, a job, an outbound call) on the kpikit.operation.duration
// histogram, with operation.name set to its name and error.type set on
// failure (see [ErrorType]). Create one per kind of work at start-up with
// [NewOperation]; it is safe for concurrent use. A nil *Operation records
// nothing.
type Operation struct {
	h    metric.Float64Histogram
	name string
	sets errorSets
	sloSet
	affected affected
}

// NewOperation returns the recorder of the operation called name, which must
// be non-empty valid UTF-8, at most 256 bytes long and fixed (never an id). The options
// that apply are [WithMeterProvider], [WithAttributes], [WithValueLimit]
// and [WithSLOs]. Several Operations share one histogram, told apart by
// operation.name.
func NewOperation(name string, opts ...Option) (*Operation, error) {
	c, err := newConfig(kindOperation, opts)
	if err == nil {
		err = checkName(name)
	}
	if err == nil {
		err = checkSLOs(c.slos, slo.Operation(name), fmt.Sprintf("slo.OperationAvailability or slo.OperationLatency of operation %q", name))
	}
	if err != nil {
		return nil, err
	}
	meter := c.mp.Meter(ScopeName)
	h, err := meter.Float64Histogram(MetricOperationDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of operations, by name and error type."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	dropped, derr := selfobs.New(meter, componentOperation)
	o := &Operation{h: orNopFloat64Histogram(h), name: name}
	o.sets.init(name, c, dropped)
	aerr := o.affected.init(meter, keyOperation, c.attrs, dropped)
	return o, errors.Join(err, derr, o.sloSet.init(meter, c.slos), aerr)
}

func checkName(name string) error {
	if name == "" || !recordable(name) {
		return fmt.Errorf("%w: operation name %q", ErrInvalidOption, name)
	}
	return nil
}

// Timer is one running operation, returned by [Operation.Start]. It is a
// value; copying it is cheap.
type Timer struct {
	o     *Operation
	ctx   context.Context
	start time.Time
	out   *opContext // StartContext's
}

// opContext is the context StartContext returns, holding the operation's
// outcome, and what counts the users of its failure.
type opContext struct {
	outcome.Context
	ended atomic.Bool // End was called: a second End tells nobody
	fail  failure
}

// Start starts timing one operation. End the returned Timer with the
// operation's error:
//
//	t := op.Start(ctx)
//	err := doWork(ctx)
//	t.End(err)
func (o *Operation) Start(ctx context.Context) Timer {
	if o == nil {
		return Timer{}
	}
	return Timer{o: o, ctx: ctx, start: time.Now()}
}

// StartContext is [Operation.Start] for an operation that customer
// recorders are called within: the returned context, derived from ctx,
// holds the operation's outcome, so that a customer recorder called with
// it (Funnel.Step, Goal.Convert, …) links its user to the operation. When
// End is given an error other than the caller's cancellation (or the
// operation was slower than the threshold of one of its
// [slo.OperationLatency] SLOs), the users linked are told of the failure,
// with its error.type, and counted on [MetricAffectedUsers]. An operation
// within a request handled by a [Middleware] passes its links on to the
// request's outcome too. It allocates the context, once per operation.
func (o *Operation) StartContext(ctx context.Context) (context.Context, Timer) {
	if o == nil {
		return ctx, Timer{}
	}
	c := new(opContext)
	c.Set(ctx)
	return &c.Context, Timer{o: o, ctx: ctx, start: time.Now(), out: c}
}

// End records the time since Start, classifying err (nil is a success). A
// zero Timer records nothing.
func (t Timer) End(err error) {
	if t.o == nil {
		return
	}
	now := time.Now()
	failed, slow, errType := t.o.record(t.ctx, now, now.Sub(t.start), err, t.out != nil)
	if t.out != nil && !t.out.ended.Swap(true) {
		switch {
		case failed:
		case slow:
			errType = ErrorTypeSlow
		default:
			errType = ""
		}
		t.o.affected.finish(t.ctx, &t.out.Outcome, &t.out.fail, t.o.name, errType, now)
	}
}

// Record records an operation that took d and ended with err (nil is a
// success), for callers that measured the duration themselves.
func (o *Operation) Record(ctx context.Context, d time.Duration, err error) {
	if o == nil {
		return
	}
	var end time.Time
	if o.trackers != nil {
		end = time.Now()
	}
	o.record(ctx, end, d, err, false)
}

// record records an operation that ended at end (needed by SLOs only).
// When it has SLOs, or judge is set, it reports whether the operation
// failed (an error other than the caller's cancellation) and, when it did
// not, whether a latency SLO found it too slow; with an error, errType is
// the error.type recorded, folded as the histogram folds it. The error is
// classified once, and not at all when nothing needs it (the histogram
// disabled, no SLO, no judging).
func (o *Operation) record(ctx context.Context, end time.Time, d time.Duration, err error, judge bool) (failed, slow bool, errType string) {
	var opts []metric.RecordOption
	switch {
	case err == nil:
		opts = o.sets.ok
	case judge || o.trackers != nil || o.h.Enabled(ctx):
		kind, ns := o.sets.lookup(ctx, err)
		// The caller's cancellation is not a failure: error.type
		// context_canceled, as the generated rules read it.
		failed = kind != kindCanceled
		if kind == kindNamed {
			opts, errType = ns.rec, ns.name
		} else {
			opts, errType = o.sets.kinds[kind], kindNames[kind]
		}
	}
	for _, t := range o.trackers {
		good := t.Good(failed, d)
		t.Add(end.UnixNano(), good)
		slow = slow || !good && !failed
	}
	if opts != nil {
		o.h.Record(ctx, d.Seconds(), opts...)
	}
	return failed, slow, errType
}

// ErrorCounter counts failures that have no duration on the kpikit.errors
// counter, with operation.name set to its name and error.type classified as
// [ErrorType] does. Create one per kind of failure at start-up with
// [NewErrorCounter]; it is safe for concurrent use. A nil *ErrorCounter
// counts nothing.
type ErrorCounter struct {
	c    metric.Int64Counter
	sets errorSets
}

// NewErrorCounter returns the counter of errors of the operation called
// name, which must be non-empty valid UTF-8, at most 256 bytes long and fixed. The
// options that apply are [WithMeterProvider], [WithAttributes] and
// [WithValueLimit].
func NewErrorCounter(name string, opts ...Option) (*ErrorCounter, error) {
	c, err := newConfig(kindErrorCounter, opts)
	if err == nil {
		err = checkName(name)
	}
	if err != nil {
		return nil, err
	}
	meter := c.mp.Meter(ScopeName)
	ctr, err := meter.Int64Counter(MetricErrors,
		metric.WithUnit("{error}"),
		metric.WithDescription("Errors, by operation name and error type."))
	dropped, derr := selfobs.New(meter, componentErrors)
	e := &ErrorCounter{c: orNopInt64Counter(ctr)}
	e.sets.init(name, c, dropped)
	return e, errors.Join(err, derr)
}

// Add counts err once. A nil err counts nothing.
func (e *ErrorCounter) Add(ctx context.Context, err error) {
	if e == nil || err == nil || !e.c.Enabled(ctx) {
		return
	}
	e.c.Add(ctx, 1, e.sets.forErrorAdd(ctx, err)...)
}

// errorSets holds the prebuilt attribute sets of one named recorder: the
// success set, one per built-in error kind, and a capped cache of the types
// errors name themselves.
type errorSets struct {
	ok       []metric.RecordOption
	kinds    [kindNamed][]metric.RecordOption
	kindsAdd [kindNamed][]metric.AddOption
	named    cowMap[string, namedSet]
	base     []attribute.KeyValue
	limit    int
	overflow selfobs.Reason
}

type namedSet struct {
	name string
	rec  []metric.RecordOption
	add  []metric.AddOption
}

func (s *errorSets) init(name string, c config, dropped *selfobs.Counter) {
	s.base = append(append(make([]attribute.KeyValue, 0, len(c.attrs)+2), c.attrs...), keyOperation.String(name))
	s.limit = c.valueLimit
	if dropped != nil {
		s.overflow = dropped.Reason(reasonErrorTypeLimit)
	}
	s.ok = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(s.base...))}
	for k := range s.kinds {
		s.kinds[k], s.kindsAdd[k] = s.build(kindNames[k])
	}
}

func (s *errorSets) build(errType string) ([]metric.RecordOption, []metric.AddOption) {
	kvs := append(append(make([]attribute.KeyValue, 0, len(s.base)+1), s.base...), keyErrorType.String(errType))
	opt := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return []metric.RecordOption{opt}, []metric.AddOption{opt}
}

func (s *errorSets) lookup(ctx context.Context, err error) (int, namedSet) {
	kind, name := classify(err)
	if kind != kindNamed {
		return kind, namedSet{}
	}
	if ns, ok := s.named.load(name); ok {
		return kindNamed, ns
	}
	if recordable(name) {
		ns, ok := s.named.loadOrCreate(name, s.limit, func() namedSet {
			name := strings.Clone(name)
			rec, add := s.build(name)
			return namedSet{name: name, rec: rec, add: add}
		})
		if ok {
			return kindNamed, ns
		}
	}
	s.overflow.Add(ctx, 1)
	return kindOther, namedSet{}
}

func (s *errorSets) forErrorAdd(ctx context.Context, err error) []metric.AddOption {
	kind, ns := s.lookup(ctx, err)
	if kind == kindNamed {
		return ns.add
	}
	return s.kindsAdd[kind]
}
