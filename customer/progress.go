package customer

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file holds the per-user progress state shared by funnels and goals.
//
// The rules of what one accepted event does to one user's attempt are two
// pure functions: place (by the event's time: join the attempt, start a
// new one, or nothing) and advance (by the step and the order: which step
// is reached). progressStore only checks events against the clock and the
// watermark, keeps attempts in memory, sharded by a hash of the user id,
// and reclaims expired ones. A shared state (WithState) applies the same
// rules, as a table computed from advance, to the attempts it holds.

// attempt is one user's progress through a funnel within one window.
type attempt struct {
	start    int64  // event time of the step that started it, Unix ns
	row      *row   // the segment combination, fixed at the start
	mask     uint32 // bit i: step i reached
	ended    bool   // strict order broke the attempt; it waits for expiry
	impaired bool   // a failed request impaired it: shard.impaired holds the steps
}

// periodAttempt is an attempt with the user's entries by period
// (funnel_period.go). A store with figures by period allocates every
// attempt as one (newAttempt), so that the attempts of other funnels and
// goals take no room for entries.
type periodAttempt struct {
	attempt
	per []int64
}

// entries returns the entries of a, an attempt of a store with figures by
// period: a points to the attempt field, at offset 0, of a periodAttempt.
func (a *attempt) entries() *[]int64 {
	return &(*periodAttempt)(unsafe.Pointer(a)).per
}

// newAttempt allocates an attempt, with room for entries when the store
// keeps figures by period.
func (s *progressStore) newAttempt() *attempt {
	if s.pf != nil {
		return &new(periodAttempt).attempt
	}
	return new(attempt)
}

// outcome is what one event did.
type outcome struct {
	reached   int  // step newly reached, or -1
	completed bool // every step is now reached
	counted   bool // the event belongs to an attempt (for event totals)
}

// placement is what an accepted event does, by its time, to its user's
// attempt.
type placement uint8

const (
	ignored placement = iota // no attempt to join, and it cannot start one
	joins                    // it belongs to the user's attempt
	starts                   // it starts a new attempt
)

// place applies the time rules to an accepted event of step k at time at
// (Unix ns) for a user whose attempt is a (nil: none), and returns the
// event's effective time. An event earlier than the attempt's start counts
// as if at the start, however much earlier: only the clock and the
// watermark refuse an event for its time. The event joins the attempt when
// its effective time is less than window after the start (the window is
// [start, start+window)); otherwise the attempt has expired, and the event
// starts a new attempt if step k can start one, and is ignored if not.
func place(a *attempt, at, window int64, k int, order Order) (int64, placement) {
	if a != nil {
		at = max(at, a.start)
		if at-a.start < window {
			return at, joins
		}
	}
	if startsAttempt(k, order) {
		return at, starts
	}
	return at, ignored
}

// advance applies step k of a funnel with n steps to an active attempt.
func advance(a *attempt, k, n int, order Order) outcome {
	bit := uint32(1) << k
	full := uint32(1)<<n - 1
	if a.ended {
		return outcome{reached: -1}
	}
	switch order {
	case Any:
		if a.mask&bit != 0 {
			return outcome{reached: -1, counted: true}
		}
		a.mask |= bit
		return outcome{reached: k, completed: a.mask == full, counted: true}
	case Strict:
		next := reachedCount(a.mask)
		switch k {
		case next:
		case next - 1:
			return outcome{reached: -1, counted: true}
		default:
			a.ended = true
			return outcome{reached: -1}
		}
	default: // Sequential
		next := reachedCount(a.mask)
		if k < next {
			return outcome{reached: -1, counted: true}
		}
		if k > next {
			return outcome{reached: -1}
		}
	}
	a.mask |= bit
	return outcome{reached: k, completed: a.mask == full, counted: true}
}

// reachedCount is the number of leading steps reached: the index of the
// next step in sequential and strict order.
func reachedCount(mask uint32) int {
	n := 0
	for mask&1 != 0 {
		n++
		mask >>= 1
	}
	return n
}

// startsAttempt says whether step k can start an attempt.
func startsAttempt(k int, order Order) bool {
	return k == 0 || order == Any
}

const numShards = 64

// shard holds the attempts of the users whose id hashes to it.
type shard struct {
	mu        sync.Mutex
	users     map[string]*attempt
	rows      map[comboKey]*row // cache of rowTable lookups
	nextSweep int64             // watermark at which to sweep next
	swept     int64             // watermark of the last sweep
	// impaired holds, for each attempt with impaired set, the steps at
	// which failed requests impaired it (bit i: step i); nil until the
	// first. Kept aside so that the attempts no failure touched, nearly
	// all of them, take no more memory.
	impaired map[*attempt]uint32
	_        [64]byte
}

// drops are the prebuilt dropped-event reasons of one recorder. A reason
// the recorder cannot count, given its options, is left at the zero
// value: it is not reported, so that every reason reported at 0 is one
// that could move.
type drops struct {
	emptyUser, longUser, unknownStep, future, late, userCap, overflow, invalid selfobs.Reason
	unavailable, closed                                                        selfobs.Reason
}

// newDrops builds the reasons of a funnel (named steps: unknown_step) or a
// goal with configuration cfg: segment_overflow needs segments, user_cap
// the memory state, store_unavailable a shared state.
func newDrops(c *selfobs.Counter, cfg config, namedSteps bool) drops {
	d := drops{
		emptyUser: c.Reason("empty_user_id"),
		longUser:  c.Reason("long_user_id"),
		future:    c.Reason("future_event"),
		late:      c.Reason("late_event"),
		invalid:   c.Reason("invalid_segment"),
		closed:    c.Reason("closed"),
	}
	if namedSteps {
		d.unknownStep = c.Reason("unknown_step")
	}
	if len(cfg.segments) > 0 {
		d.overflow = c.Reason("segment_overflow")
	}
	if cfg.shared != nil {
		d.unavailable = c.Reason("store_unavailable")
	} else {
		d.userCap = c.Reason("user_cap")
	}
	return d
}

// progressStore keeps attempts in memory.
type progressStore struct {
	steps    int
	order    Order
	events   bool // count events per step (goals)
	window   int64
	maxUsers int64
	clock    func() time.Time
	rows     *rowTable
	drops    drops
	ttc      metric.Float64Histogram
	remote   shared.Progress // non-nil: progress kept in a shared state
	imp      *impairments    // non-nil: a funnel, which counts impaired attempts (error types only in a shared state)
	pf       *periodFunnel   // non-nil: a funnel's figures by entry period (WithPeriod)

	idMu sync.Mutex
	byID map[string]*row // rows by their id in the shared state; guarded by idMu

	closed  atomic.Bool
	seed    maphash.Seed
	gran    int64 // watermark granularity
	_       [64]byte
	wm      atomic.Int64 // watermark: latest event time seen, capped at the clock
	_       [56]byte
	tracked atomic.Int64
	_       [56]byte
	shards  [numShards]shard

	reclaimMu   sync.Mutex
	lastReclaim int64 // watermark of the last reclaim; guarded by reclaimMu
}

func newProgressStore(c config, steps int, rows *rowTable, d drops, ttc metric.Float64Histogram) *progressStore {
	s := &progressStore{
		steps:    steps,
		order:    c.order,
		window:   int64(c.window),
		maxUsers: int64(c.maxUsers),
		clock:    c.clock,
		rows:     rows,
		drops:    d,
		ttc:      ttc,
		seed:     maphash.MakeSeed(),
		gran:     min(max(int64(c.window)/1024, 1), int64(time.Second)),
	}
	for i := range s.shards {
		s.shards[i].users = make(map[string]*attempt)
		s.shards[i].rows = make(map[comboKey]*row)
	}
	rows.ids = c.shared != nil
	return s
}

// Event times are Unix ns in [0, maxTime]: events before 1970 are dropped
// as late, events after maxTime as future (the clock never gets there), so
// that no difference of two times or a window overflows.
const maxTime = 1 << 62

// unixNano converts t, clamped to [-1, maxTime].
func unixNano(t time.Time) int64 {
	switch s := t.Unix(); {
	case s < 0:
		return -1
	case s >= maxTime/int64(time.Second):
		return maxTime
	}
	return t.UnixNano()
}

// admit drops an event of a closed recorder or whose user id is unusable.
func (s *progressStore) admit(ctx context.Context, user string) bool {
	switch {
	case s.closed.Load():
		s.drops.closed.Add(ctx, 1)
		return false
	case user == "":
		s.drops.emptyUser.Add(ctx, 1)
		return false
	case len(user) > MaxUserIDLen:
		s.drops.longUser.Add(ctx, 1)
		return false
	}
	return true
}

// record applies step k at event time at (Unix ns) for user. now is the
// clock's reading in Unix ns. It reports whether the event was accepted:
// false when it was dropped (and counted).
func (s *progressStore) record(ctx context.Context, now, at int64, user string, k int, segs []string) bool {
	switch {
	case s.closed.Load(): // closed since admit
		s.drops.closed.Add(ctx, 1)
		return false
	case at > now+int64(FutureTolerance):
		s.drops.future.Add(ctx, 1)
		return false
	case at < 0:
		s.drops.late.Add(ctx, 1)
		return false
	}
	if s.remote != nil {
		return s.pushShared(ctx, now, at, user, k, segs)
	}
	var st status
	if k < s.steps {
		_, st = s.apply(ctx, now, at, user, k, segs, true)
	} else {
		st = s.exclude(ctx, now, at, user, k-s.steps)
	}
	switch st {
	case stLate:
		s.drops.late.Add(ctx, 1)
	case stCap:
		s.drops.userCap.Add(ctx, 1)
	}
	return st == stOK
}

type status uint8

const (
	stOK status = iota
	stLate
	stCap
)

// admitTime checks event time at against the watermark, which it
// advances to min(at, now) when that is a granule later, and returns the
// watermark; ok is false for an event older than the window allows.
func (s *progressStore) admitTime(now, at int64) (wm int64, ok bool) {
	wm = s.wm.Load()
	if at < wm-s.window {
		return wm, false
	}
	if w := min(at, now); w > wm+s.gran {
		wm = s.advanceWatermark(w)
	}
	return wm, true
}

// lockUser locks the shard of user, sweeping it when the watermark wm
// is due, and returns it; nil, and nothing locked, when an event at at
// is late for a sweep with a later watermark that ran since admitTime.
func (s *progressStore) lockUser(user string, wm, at int64) *shard {
	sh := &s.shards[maphash.String(s.seed, user)%numShards]
	sh.mu.Lock()
	if wm >= sh.nextSweep {
		s.sweep(sh, wm)
	}
	if at < sh.swept-s.window {
		sh.mu.Unlock()
		return nil
	}
	return sh
}

func (s *progressStore) apply(ctx context.Context, now, at int64, user string, k int, segs []string, mayReclaim bool) (outcome, status) {
	wm, ok := s.admitTime(now, at)
	if !ok {
		return outcome{reached: -1}, stLate
	}
	sh := s.lockUser(user, wm, at)
	if sh == nil {
		return outcome{reached: -1}, stLate
	}
	a := sh.users[user]
	eventAt := at
	at, p := place(a, at, s.window, k, s.order)
	if p != starts && a != nil && s.pf != nil {
		s.pf.apply(ctx, a, wm, eventAt, k, -1, func() *row { return s.rowFor(ctx, sh, segs) })
	}
	switch p {
	case joins:
		r := a.row
		o := advance(a, k, s.steps, s.order)
		elapsed := at - a.start
		impaired := a.impaired
		sh.mu.Unlock()
		s.count(ctx, r, k, o, elapsed, impaired)
		return o, stOK
	case ignored:
		// An expired attempt stays until swept: a late event may still
		// belong to it.
		sh.mu.Unlock()
		return outcome{reached: -1}, stOK
	}
	// The event starts an attempt.
	if a == nil {
		if s.tracked.Add(1) > s.maxUsers {
			s.tracked.Add(-1)
			sh.mu.Unlock()
			if mayReclaim && s.reclaim() {
				return s.apply(ctx, now, at, user, k, segs, false)
			}
			return outcome{reached: -1}, stCap
		}
		a = s.newAttempt()
		sh.users[strings.Clone(user)] = a
	}
	r := s.rowFor(ctx, sh, segs)
	if a.impaired {
		delete(sh.impaired, a)
	}
	*a = attempt{start: at, row: r}
	if s.pf != nil {
		s.pf.apply(ctx, a, wm, eventAt, k, -1, func() *row { return r })
	}
	o := advance(a, k, s.steps, s.order)
	sh.mu.Unlock()
	s.count(ctx, r, k, o, 0, false)
	return o, stOK
}

// exclude applies exclusion x at event time at to user's entries by
// period; a user not tracked has none.
func (s *progressStore) exclude(ctx context.Context, now, at int64, user string, x int) status {
	wm, ok := s.admitTime(now, at)
	if !ok {
		return stLate
	}
	sh := s.lockUser(user, wm, at)
	if sh == nil {
		return stLate
	}
	defer sh.mu.Unlock()
	if a := sh.users[user]; a != nil {
		s.pf.apply(ctx, a, wm, at, -1, x, nil)
	}
	return stOK
}

// rowFor resolves segment values to their row, through the shard's cache.
// sh.mu is held.
func (s *progressStore) rowFor(ctx context.Context, sh *shard, segs []string) *row {
	k, invalid, overflow := s.rows.key(segs)
	if invalid > 0 {
		s.drops.invalid.Add(ctx, invalid)
	}
	if overflow > 0 {
		s.drops.overflow.Add(ctx, overflow)
	}
	r := sh.rows[k]
	if r == nil {
		r = s.rows.get(k)
		sh.rows[k] = r
	}
	return r
}

// count adds what the event did to its row; impaired says the attempt
// was impaired before the event.
func (s *progressStore) count(ctx context.Context, r *row, k int, o outcome, elapsed int64, impaired bool) {
	if o.counted && s.events {
		r.events[k].Add(1)
	}
	if o.reached >= 0 {
		r.users[o.reached].Add(1)
		if impaired {
			r.impaired[o.reached].Add(1)
		}
	}
	if o.completed && s.ttc != nil {
		s.ttc.Record(ctx, time.Duration(elapsed).Seconds(), r.opts.record...)
	}
}

// advanceWatermark raises the watermark to w unless it is already later,
// and returns the watermark. It is called at most once per granule of
// event time, so that concurrent recording does not fight over it.
func (s *progressStore) advanceWatermark(w int64) int64 {
	for {
		old := s.wm.Load()
		if w <= old || s.wm.CompareAndSwap(old, w) {
			return max(w, old)
		}
	}
}

// sweep deletes the attempts of sh that expired a full window before wm:
// no event that is still accepted (at or after wm - window) can belong to
// them. sh.mu is held.
func (s *progressStore) sweep(sh *shard, wm int64) {
	if wm <= sh.swept {
		return
	}
	sh.swept = wm
	cut := wm - 2*s.window
	var qc int64
	if s.pf != nil {
		qc = s.pf.periodOf(max(cut, 0))
	}
	var n int64
	for u, a := range sh.users {
		// Entries are pruned whether or not the attempt expired: a user
		// active for months keeps only those a late event can reach.
		noEntries := s.pf == nil || s.pf.prune(a, qc)
		if a.start <= cut && noEntries {
			if a.impaired {
				delete(sh.impaired, a)
			}
			delete(sh.users, u)
			n++
		}
	}
	if n > 0 {
		s.tracked.Add(-n)
	}
	sh.nextSweep = wm + max(s.window/16, 1)
}

// reclaim sweeps every shard, when the cap is hit. It runs at most once
// per 1/64 of the window of event time, and only one caller at a time; it
// reports whether it freed anything.
func (s *progressStore) reclaim() bool {
	if !s.reclaimMu.TryLock() {
		return false
	}
	defer s.reclaimMu.Unlock()
	wm := s.wm.Load()
	if wm-s.lastReclaim < max(s.window/64, 1) {
		return false
	}
	s.lastReclaim = wm
	before := s.tracked.Load()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.sweep(sh, wm)
		sh.mu.Unlock()
	}
	return s.tracked.Load() < before
}
