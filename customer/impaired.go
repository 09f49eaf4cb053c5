package customer

import (
	"context"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	reqoutcome "github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file turns failed requests into funnel figures (see the package
// documentation, "Cost of failures"). A recording call made with the
// context of a request that package operational watches links the user
// to the request; when the request fails, the link's sink is told, and a
// funnel marks the user's attempt impaired at the step: in memory, or by
// telling its shared state, in order with the user's events. Per segment
// row it counts the impaired attempts per step and error type and the
// steps the impaired attempts reached, and at collection it estimates the
// attempts lost and the revenue at risk. The error-type table is the
// funnel's own: a shared state counts error types by name.

// Metric names of the cost of failures, reported by [Funnel].
const (
	MetricFunnelImpairedUsers     = "customer.funnel.impaired_users"
	MetricFunnelImpairedStepUsers = "customer.funnel.impaired_step_users"
	MetricFunnelLostUsers         = "customer.funnel.lost_users"
	MetricRevenueAtRisk           = "customer.revenue.at_risk"
)

// Limits of the error.type attribute of customer.funnel.impaired_users.
const (
	// MaxErrorTypes is the number of distinct error types a funnel
	// reports; later new ones fold into [OtherValue].
	MaxErrorTypes = 16
	// MaxErrorTypeLen is the longest error type, in bytes, that is kept;
	// a longer one folds into [OtherValue].
	MaxErrorTypeLen = 256
)

const errorTypeKey = attribute.Key("error.type")

// stepFurthest is the step of a link made by [Funnel.Link]: the furthest
// step the user's attempt has reached when the request fails.
const stepFurthest = -2

// The sinks of the recorders: the request outcome tells them of the
// failures of the requests their users were linked to. They are the
// recorders themselves under unexported types, so that building a link
// allocates nothing and the recorders grow no exported method.
type (
	funnelSink   Funnel
	goalSink     Goal
	activitySink Activity
)

// Failed marks the user's attempt impaired at the link's step.
func (s *funnelSink) Failed(l reqoutcome.Link, errorType string) {
	(*Funnel)(s).store.failed(l.User, l.Step, errorType)
}

// Failed does nothing: a goal's link only lets the request count its
// user.
func (*goalSink) Failed(reqoutcome.Link, string) {}

// Failed does nothing: an activity's link only lets the request count
// its user.
func (*activitySink) Failed(reqoutcome.Link, string) {}

// requestLinks is a recorder's side of request outcomes. Its reasons of
// kpikit.dropped, and a funnel's figures of failures, are created by the
// first recording call made under a request outcome (or a snapshot that
// holds such figures): a recorder never used under one reports none of
// them, rather than zeros that would say that nothing failed.
type requestLinks struct {
	counter    *selfobs.Counter
	errorTypes bool // the recorder counts error types: a funnel

	once   sync.Once
	active atomic.Bool
	// Set by start; read only after it.
	limit                  selfobs.Reason // link_limit
	typeLimit, typeInvalid selfobs.Reason // error_type_limit, invalid_error_type
}

// start creates the reasons, once, and makes the figures reported.
func (l *requestLinks) start() {
	l.once.Do(l.init)
}

func (l *requestLinks) init() {
	l.limit = l.counter.Reason("link_limit")
	if l.errorTypes {
		l.typeLimit = l.counter.Reason("error_type_limit")
		l.typeInvalid = l.counter.Reason("invalid_error_type")
	}
	l.active.Store(true)
}

// linkTo links user to the request of outcome o through sink with step
// (-1 for none); a link the request has no room for is counted as dropped
// with reason link_limit. It does not allocate. The recorders call it
// when reqoutcome.From finds an outcome in the context of an accepted
// event, checking that inline: without an outcome the cost is one context
// lookup.
func (l *requestLinks) linkTo(ctx context.Context, o *reqoutcome.Outcome, sink reqoutcome.Sink, user string, step int) {
	l.start()
	if !o.Link(reqoutcome.Link{Sink: sink, User: user, Step: step}) {
		l.limit.Add(ctx, 1)
	}
}

// failed marks the attempt of user impaired at step k by a request that
// failed with errType, once per attempt and step, and counts it: in
// customer.funnel.impaired_users, and, the first time the attempt is
// impaired, in customer.funnel.impaired_step_users for every step it
// reached (count adds the steps it reaches later). The attempt is the
// one the user holds, unless strict order ended it or it expired by the
// watermark. A store in a shared state tells it instead (failedShared).
// A closed store does nothing.
func (s *progressStore) failed(user string, k int, errType string) {
	im := s.imp
	if im == nil || k < stepFurthest || k == -1 || k >= s.steps || s.closed.Load() {
		return
	}
	if s.remote != nil {
		s.failedShared(user, k, errType)
		return
	}
	sh := &s.shards[maphash.String(s.seed, user)%numShards]
	sh.mu.Lock()
	a := sh.users[user]
	if a == nil || a.ended || s.wm.Load()-a.start >= s.window || a.mask == 0 {
		sh.mu.Unlock()
		return
	}
	if k == stepFurthest {
		k = bits.Len32(a.mask) - 1
	}
	var marks uint32
	if a.impaired {
		marks = sh.impaired[a]
	}
	bit := uint32(1) << k
	if marks&bit != 0 {
		sh.mu.Unlock()
		return
	}
	first := !a.impaired
	if sh.impaired == nil {
		sh.impaired = make(map[*attempt]uint32)
	}
	sh.impaired[a] = marks | bit
	a.impaired = true
	r, reached := a.row, a.mask
	sh.mu.Unlock()
	if first {
		for m := reached; m != 0; m &= m - 1 {
			r.impaired[bits.TrailingZeros32(m)].Add(1)
		}
	}
	im.add(r, k, errType)
}

// failedShared tells the shared state that the attempt of user failed at
// step k with errType, at this replica's watermark: the state applies the
// rules of failed to the attempt it holds, after the user's events
// recorded before. The error type is resolved here, and a fold counted,
// once per failure told, whether or not it impairs an attempt.
func (s *progressStore) failedShared(user string, k int, errType string) {
	i := s.imp.index(errType)
	s.remote.Impair(sketch.Hash(user), s.wm.Load(), k, int(i))
}

// impairments holds a funnel's impaired attempts per segment row, step and
// error type, and the error types it has seen.
type impairments struct {
	rows  *rowTable
	steps []string
	links *requestLinks

	mu     sync.Mutex
	types  map[string]uint8 // error type to its index in names
	names  []string         // OtherValue, then the error types in the order first seen
	counts map[impairKey]*impairCount
	list   []*impairCount // in creation order
}

type impairKey struct {
	row  *row
	step uint8
	typ  uint8
}

// impairCount is one series of customer.funnel.impaired_users.
type impairCount struct {
	key impairKey
	n   int64 // guarded by impairments.mu
	opt []metric.ObserveOption
}

func newImpairments(rows *rowTable, steps []string, links *requestLinks) *impairments {
	return &impairments{
		rows:   rows,
		steps:  steps,
		links:  links,
		types:  map[string]uint8{OtherValue: 0},
		names:  []string{OtherValue},
		counts: make(map[impairKey]*impairCount),
	}
}

// errorType returns the index of error type t, taking a new one while
// fewer than MaxErrorTypes are taken. One that is empty, not valid UTF-8
// or longer than MaxErrorTypeLen folds into OtherValue (foldInvalid), and
// so does a new one when none is left (foldOverflow). im.mu is held.
func (im *impairments) errorType(t string) (uint8, fold) {
	if i, ok := im.types[t]; ok {
		return i, foldNone
	}
	switch {
	case t == "" || len(t) > MaxErrorTypeLen || !utf8.ValidString(t):
		return 0, foldInvalid
	case len(im.names)-1 >= MaxErrorTypes:
		return 0, foldOverflow
	}
	i := uint8(len(im.names))
	t = strings.Clone(t)
	im.names = append(im.names, t)
	im.types[t] = i
	return i, foldNone
}

// add counts one attempt of row r impaired at step k with error type t.
func (im *impairments) add(r *row, k int, t string) {
	im.mu.Lock()
	i, f := im.errorType(t)
	im.series(r, k, i).n++
	im.mu.Unlock()
	im.countFold(f)
}

// index is the index of error type t, taking it if new, and counts a
// fold.
func (im *impairments) index(t string) uint8 {
	im.mu.Lock()
	i, f := im.errorType(t)
	im.mu.Unlock()
	im.countFold(f)
	return i
}

func (im *impairments) countFold(f fold) {
	switch f {
	case foldInvalid:
		im.links.typeInvalid.Add(context.Background(), 1)
	case foldOverflow:
		im.links.typeLimit.Add(context.Background(), 1)
	}
}

// name is the error type of index i, for the shared state.
func (im *impairments) name(i int) string {
	im.mu.Lock()
	defer im.mu.Unlock()
	if i >= 0 && i < len(im.names) {
		return im.names[i]
	}
	return OtherValue
}

// series returns the series of row r, step k and error type i, creating
// it with its attribute set. im.mu is held.
func (im *impairments) series(r *row, k int, i uint8) *impairCount {
	key := impairKey{row: r, step: uint8(k), typ: i}
	c := im.counts[key]
	if c == nil {
		kv := append(im.rows.attrs(r.key, 3), stepKey.String(im.steps[k]), stepIndexKey.Int(k+1), errorTypeKey.String(im.names[i]))
		c = &impairCount{key: key, opt: []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kv...))}}
		im.counts[key] = c
		im.list = append(im.list, c)
	}
	return c
}

// observe reports customer.funnel.impaired_users.
func (im *impairments) observe(o metric.Observer, inst metric.Int64ObservableCounter) {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, c := range im.list {
		o.ObserveInt64(inst, c.n, c.opt...)
	}
}

// observeShared reports customer.funnel.impaired_users from the counts of
// a shared state, which are by error type name: a name is taken into the
// table as a failure's would be, and one it has no room for (the table
// filled up with other names than other replicas') folds into OtherValue,
// uncounted, as the fold happens at reading.
func (im *impairments) observeShared(o metric.Observer, inst metric.Int64ObservableCounter, rows []*row, counts map[*row]*shared.ProgressCounts) {
	im.mu.Lock()
	defer im.mu.Unlock()
	sums := make(map[*impairCount]int64)
	for _, r := range rows {
		for t, byStep := range counts[r].Impaired {
			i, _ := im.errorType(t)
			for k := range im.steps {
				if n := byStep[k]; n != 0 {
					sums[im.series(r, k, i)] += n
				}
			}
		}
	}
	for _, c := range im.list {
		if n, ok := sums[c]; ok {
			o.ObserveInt64(inst, n, c.opt...)
		}
	}
}

// lostUsers estimates the attempts of one segment row that failed
// requests kept from converting, from the attempts that reached each step
// (users) and the impaired ones among them (impaired), for a funnel of n
// steps: the impaired attempts times the conversion of the attempts never
// impaired less that of the impaired ones, conversion being the funnel's
// own from the first step to the last. It is 0 without an impaired
// attempt, clamped at 0 when the impaired attempts converted better, and
// false (not reported) when no attempt that reached the first step is
// clean: there is nothing to compare with.
func lostUsers(users, impaired *[MaxSteps]int64, n int) (float64, bool) {
	i0, iLast := impaired[0], impaired[n-1]
	if i0 <= 0 {
		return 0, true
	}
	// Read concurrently, a count of impaired attempts can be ahead of
	// the users count it is part of: clamp the differences.
	c0, cLast := users[0]-i0, max(users[n-1]-iLast, 0)
	if c0 <= 0 {
		return 0, false
	}
	clean := float64(cLast) / float64(c0)
	imp := float64(iLast) / float64(i0)
	return max(float64(i0)*(clean-imp), 0), true
}

// observeImpaired reports the impaired attempts per step of row r and its
// lost attempts, and returns the latter (0 when not reported).
func (f *Funnel) observeImpaired(o metric.Observer, r *row, users, impaired *[MaxSteps]int64) float64 {
	n := len(f.steps)
	for k := range n {
		o.ObserveInt64(f.impairedSteps, impaired[k], r.opts.observe[k:k+1]...)
	}
	lost, ok := lostUsers(users, impaired, n)
	if !ok {
		return 0
	}
	base := len(r.opts.observe) - 1
	o.ObserveFloat64(f.lost, lost, r.opts.observe[base:]...)
	return lost
}

// observeAtRisk reports customer.revenue.at_risk: lost attempts times the
// ARPPU of every currency with paying users in the current period of the
// activity of WithRevenueFrom. It runs under f.col.mu.
func (f *Funnel) observeAtRisk(o metric.Observer, lost float64) {
	if f.revenue == nil {
		return
	}
	f.revenue.currentARPPU(func(currency string, arppu float64) {
		opt := f.riskOpts[currency]
		if opt == nil {
			if f.riskOpts == nil {
				f.riskOpts = make(map[string][]metric.ObserveOption)
			}
			opt = observeOpt(funnelKey.String(f.name), currencyKey.String(currency))
			f.riskOpts[currency] = opt
		}
		o.ObserveFloat64(f.atRisk, lost*arppu, opt...)
	})
}
