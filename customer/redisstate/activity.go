package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bojanz/currency"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/kpikit/kpikit/internal/money"
	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file keeps the state of an activity recorder in Redis. Recording
// buffers PFADD and the fingerprints of the keys' companions in a
// redisstore.Store (one entry per event) and adds money to pending sums
// that the activity's goroutine writes itself with moneyScript
// (activity_money.go); the goroutine also resolves the first-seen cohorts
// of deferred events (resolveDeferred). Collection reads PFCOUNT, the
// companions and MGET (activity_read.go, activity_sparse.go).
//
// Each event writes as few keys as the figures allow: the day's set of
// active users, the set of its cohort at its offset and, for a purchase,
// the period's set of paying users and the money counters. The active
// users of a period are the union of its days, and the members of a cohort
// are the union of its cells (every event of a member lands in one of
// them), so neither has a key of its own. Every key of an activity carries
// the hash tag {a:<name>}.

// activity is the Redis state of one activity recorder.
type activity struct {
	name    string
	unit    period.Unit
	loc     *time.Location
	drops   shared.ActivityDrops
	resolve func(user uint64, cohort int64)

	store   *redisstore.Store
	client  redis.UniversalClient
	base    string // "{a:" + activity name + "}:", the hash tag of every key of the activity
	cur     shared.Currencies
	keysMu  sync.Mutex             // serialises building money keys
	curKeys []string               // without declared currencies: the key of every ISO 4217 currency, for discovery
	codes   []string               // the currencies of curKeys
	periods *ring.Ring[periodKeys] // alongside the recorder's periods
	days    *ring.Ring[dayKeys]    // the horizon's days, not only ActiveDays
	ttl     time.Duration          // of the first-seen and money keys
	// unwritten is the store's dropped and rejected writes when the
	// mirrors were last checked (forgetIfUnwritten).
	unwritten atomic.Uint64
	closed    atomic.Bool // Shutdown began
	readMu    sync.Mutex  // serialises Read, which builds key names
	// Companions that Reads found corrupt, and unions whose companions
	// disagreed with PFCOUNT (activity_sparse.go): both counted by PFCOUNT.
	corrupt, disagreed atomic.Int64

	// Events of users whose first-seen cohort is not known yet, resolved
	// by resolveDeferred.
	qmu      sync.Mutex
	queue    []shared.ActivityEvent // guarded by qmu
	qclosed  bool                   // no more events are queued; guarded by qmu
	resolveM ctxMutex               // serializes resolveDeferred
	work     []shared.ActivityEvent // guarded by resolveM: taken, not yet resolved
	spare    []shared.ActivityEvent // guarded by resolveM
	failures int                    // consecutive failed resolutions; guarded by resolveM

	inflight int // deferred events taken into work and not yet applied; guarded by qmu

	stop, done   chan struct{}   // of the goroutine that moves pending money
	runCtx       context.Context // of the goroutine's round trips; cancelled at shutdown
	cancelRun    context.CancelFunc
	moneyMu      ctxMutex    // serialises money hand-overs
	money        moneyWriter // guarded by moneyMu
	shutdownOnce sync.Once

	// finMu serialises applying the result of a round trip (resolved
	// cohorts, acknowledged money) with giveUp, which counts what is not
	// applied as dropped and sets abandoned: a result that comes after it
	// is not applied, so that no event counts twice.
	finMu     sync.Mutex
	abandoned bool // guarded by finMu
}

// errShutDown is the error of a round trip whose result came after
// Shutdown gave up on it.
var errShutDown = errors.New("redisstate: the activity's state is shut down")

var _ shared.Activity = (*activity)(nil)

// ctxMutex is a mutex whose lock gives up when a context ends: a Flush or
// Shutdown never waits past its deadline for the goroutine's round trip.
// The zero value is not usable: make it with newCtxMutex.
type ctxMutex chan struct{}

func newCtxMutex() ctxMutex { return make(ctxMutex, 1) }

// lock reports whether it took the lock before ctx ended.
func (m ctxMutex) lock(ctx context.Context) bool {
	select {
	case m <- struct{}{}:
		return true
	default:
	}
	select {
	case m <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (m ctxMutex) unlock() { <-m }

// maxDeferred bounds the events waiting for their cohort: new events
// beyond it are refused, and the oldest of those kept across failed
// resolutions are dropped as store_unavailable.
const maxDeferred = 1 << 16

// sentSet remembers, for one HyperLogLog key, what the writes handed to
// the store set in it (a redisstore.HLLMirror, made at the key's first
// write), so that an event that would change nothing in Redis adds
// nothing to the buffer: a user written before, or any user whose
// register holds as much already. Almost every event of a busy key is
// such an event. forget resets the mirrors at each Read, and at a Flush
// after the store dropped writes, so that a write the store had to drop
// during an outage is written again at the next event that needs it after
// the next collection.
//
// The same goes for the key's companion (redisstore.SparseSuffix), the
// fingerprints of its users: prints is the sparse set of those handed
// over, and a user whose fingerprint it adds is sent. When it turns dense
// (this replica alone sent about 7,000 users to the key), the companion is
// marked full once and no more fingerprints are sent; forget drops prints
// with the mirror. When a Read finds the companion full (full), none are
// sent again, nor is the companion read again. The PFADDs of a key whose
// companion is full, as far as this replica knows, are plain PFADDs
// (redisstore.Event.PFAddFull); the others go with the fingerprints.
type sentSet struct {
	m      atomic.Pointer[redisstore.HLLMirror]
	prints atomic.Pointer[sentPrints]
	full   atomic.Bool // a Read found the companion full
	marked atomic.Bool // prints.marked, here to spare the hot path a load of prints
}

// sentPrints are the fingerprints handed over for one companion.
type sentPrints struct {
	set    *sketch.Set // sparse until about 7,000
	marked atomic.Bool // the companion was marked full
}

// fresh reports whether PFADD of a member with register reg and value rho
// would change the key, as far as the writes handed over so far tell, and
// then counts it as handed over.
func (s *sentSet) fresh(reg int, rho uint8) bool {
	m := s.m.Load()
	if m == nil {
		if !s.m.CompareAndSwap(nil, new(redisstore.HLLMirror)) {
			return s.fresh(reg, rho)
		}
		m = s.m.Load()
	}
	return m.Raise(reg, rho)
}

// write adds to ev what user h needs in key k: PFADD when fresh, and the
// addition of its fingerprint to the companion, or the mark that the
// companion is full, when the fingerprints handed over tell so. The PFADD
// of a key whose companion is full skips the companion's script.
func (s *sentSet) write(ev *redisstore.Event, k redisstore.Key, h uint64, reg int, rho uint8) {
	var p *sentPrints
	full := s.full.Load() || s.marked.Load()
	if !full {
		if p = s.prints.Load(); p == nil {
			s.prints.CompareAndSwap(nil, &sentPrints{set: sketch.NewSparse()})
			p = s.prints.Load()
		}
		full = p.marked.Load()
	}
	if s.fresh(reg, rho) {
		if full {
			ev.PFAddFull(k, h)
		} else {
			ev.PFAdd(k, h)
		}
	}
	if full || p.set.Insert(h) != sketch.Added {
		return
	}
	if p.set.Sparse() {
		f, frho := sketch.Fingerprint(h)
		ev.SparseAdd(k, f, frho)
	} else if p.marked.CompareAndSwap(false, true) {
		s.marked.Store(true)
		ev.SparseFull(k)
	}
}

func (s *sentSet) reset() {
	if m := s.m.Load(); m != nil {
		m.Reset()
	}
	if s.prints.Load() != nil {
		s.prints.Store(nil)
	}
	s.marked.Store(false)
}

// dayKeys is the key of the active users of one day.
type dayKeys struct {
	k    redisstore.Key
	sent sentSet
}

// forget resets the mirror of every key of the activity's live periods
// and days.
func (a *activity) forget() {
	a.days.Each(a.days.Top(), func(e *ring.Entry[dayKeys]) { e.V.sent.reset() })
	a.periods.Each(a.periods.Top(), func(e *ring.Entry[periodKeys]) {
		for i := range e.V.cells {
			if c := e.V.cells[i].Load(); c != nil {
				c.sent.reset()
			}
		}
		for i := range e.V.money {
			e.V.money[i].sent.reset()
		}
	})
}

// periodKeys are the Redis keys of one period index: its money per
// currency and, built at collection, the names of its days.
type periodKeys struct {
	a     *activity
	label string
	money []moneyKeys                // by currency slot, built on first use
	cells []atomic.Pointer[cellKeys] // of the cohort, by offset
	dirty atomic.Bool                // money pending in the period or in a cell of its cohort
	days  []string                   // full key names of the period's days; collection only
	// activeLarge: a Read found the union of the period's days too large
	// for companions to count (largeUnion), and reads them no more.
	activeLarge atomic.Bool
}

type moneyKeys struct {
	ready                       atomic.Bool // the keys are built
	revenue, purchases, refunds redisstore.Key
	paying                      redisstore.Key
	sent                        sentSet // of paying
	pending                     pendingMoney
}

// pendingMoney is money recorded and not yet handed to Redis: the
// recording path adds to it and the activity's goroutine moves it to
// Redis as one INCRBY per key, every flush interval. The revenue sum is
// checked: an amount that would overflow it is refused, never wrapped
// into an INCRBY that Redis would accept.
type pendingMoney struct {
	revenue            money.Total
	purchases, refunds atomic.Int64
}

// cellKeys are the Redis keys of one cohort at one offset.
type cellKeys struct {
	name  string // of the cell, the prefix of its keys
	users redisstore.Key
	sent  sentSet         // of users
	money []cellMoneyKeys // by currency slot, built on first use
}

type cellMoneyKeys struct {
	ready              atomic.Bool // the keys are built
	revenue, purchases redisstore.Key
	pending            pendingMoney // refunds unused
}

// periodDays returns the longest period of unit, in days.
func periodDays(unit period.Unit) int {
	switch unit {
	case period.Week:
		return 7
	case period.Month:
		return 31
	}
	return 1
}

// stateTTL returns the expiry of the keys of an activity: the horizon plus
// a period, and at least the active-user windows.
func stateTTL(unit period.Unit, horizon int) time.Duration {
	return time.Duration((horizon+1)*periodDays(unit)+shared.ActiveDays+1) * 24 * time.Hour
}

// checkActivity returns an error naming each field of cfg that cannot
// work.
func checkActivity(cfg shared.ActivityConfig) error {
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("redisstate: activity without a name"))
	}
	if !cfg.Unit.Valid() {
		errs = append(errs, fmt.Errorf("redisstate: activity %q: unknown period unit %d", cfg.Name, cfg.Unit))
	}
	if cfg.Horizon < 1 {
		errs = append(errs, fmt.Errorf("redisstate: activity %q: horizon %d is not positive", cfg.Name, cfg.Horizon))
	}
	if cfg.Location == nil {
		errs = append(errs, fmt.Errorf("redisstate: activity %q: nil location", cfg.Name))
	}
	if cfg.Currencies == nil {
		errs = append(errs, fmt.Errorf("redisstate: activity %q: nil currencies", cfg.Name))
	}
	if cfg.Resolved == nil {
		errs = append(errs, fmt.Errorf("redisstate: activity %q: nil Resolved", cfg.Name))
	}
	return errors.Join(errs...)
}

// NewActivity implements shared.Backend: it returns the Redis state of
// the activity cfg describes, whose goroutines run until its Shutdown. It
// does not contact Redis. A nil *Store is an error.
func (s *Store) NewActivity(cfg shared.ActivityConfig) (shared.Activity, error) {
	if s == nil {
		return nil, errors.New("redisstate: nil *Store: make it with New")
	}
	if err := checkActivity(cfg); err != nil {
		return nil, err
	}
	ttl := stateTTL(cfg.Unit, cfg.Horizon)
	store, err := redisstore.New(redisstore.WithClient(s.client), redisstore.WithKeyPrefix(s.prefix),
		redisstore.WithBufferSize(s.bufferSize), redisstore.WithTTL(ttl),
		redisstore.WithDropCounter(cfg.Drops.Unavailable))
	if err != nil {
		return nil, fmt.Errorf("redisstate: activity %q: %w", cfg.Name, err)
	}
	a := &activity{name: cfg.Name, unit: cfg.Unit, loc: cfg.Location, drops: cfg.Drops, resolve: cfg.Resolved,
		store: store, client: s.client, base: "{a:" + cfg.Name + "}:", cur: cfg.Currencies,
		ttl: ttl, stop: make(chan struct{}), done: make(chan struct{})}
	a.runCtx, a.cancelRun = context.WithCancel(context.Background())
	a.resolveM, a.moneyMu = newCtxMutex(), newCtxMutex()
	a.money = newMoneyWriter(a)
	if !a.cur.Declared() {
		for _, code := range currency.GetCurrencyCodes() {
			a.codes = append(a.codes, code)
			a.curKeys = append(a.curKeys, a.currencyKey(code).String())
		}
	}
	a.periods = ring.New(cfg.Horizon, func(i int64, k *periodKeys) {
		a.initPeriod(k, a.unit.Label(a.unit.Start(i, a.loc), a.loc), cfg.Horizon)
	})
	a.days = ring.New(max(shared.ActiveDays, (cfg.Horizon+1)*periodDays(cfg.Unit)), func(d int64, k *dayKeys) {
		k.k = a.store.SparseKey(a.dayName(d))
	})
	go a.run(redisstore.DefaultFlushInterval)
	return a, nil
}

// dayName is the key name, without prefix, of the active users of day d.
func (a *activity) dayName(d int64) string {
	return a.base + "day:" + period.Day.Label(period.Day.Start(d, a.loc), a.loc)
}

// currencyKey is the key that says that the activity took code: without
// declared currencies, a replica learns there which currencies the others
// took.
func (a *activity) currencyKey(code string) redisstore.Key {
	return a.store.Key(a.base + "currency:" + code)
}

func (a *activity) initPeriod(k *periodKeys, label string, horizon int) {
	k.a, k.label = a, label
	k.cells = make([]atomic.Pointer[cellKeys], horizon)
	k.money = make([]moneyKeys, a.cur.Slots())
}

// moneyFor returns the money keys of currency slot i, building them on
// first use.
func (k *periodKeys) moneyFor(i int) *moneyKeys {
	m := &k.money[i]
	if m.ready.Load() {
		return m
	}
	a := k.a
	a.keysMu.Lock()
	defer a.keysMu.Unlock()
	if !m.ready.Load() {
		c := a.cur.Code(i)
		m.revenue = a.store.Key(a.base + "revenue:" + k.label + ":" + c)
		m.purchases = a.store.Key(a.base + "purchases:" + k.label + ":" + c)
		m.refunds = a.store.Key(a.base + "refunds:" + k.label + ":" + c)
		m.paying = a.store.SparseKey(a.base + "paying:" + k.label + ":" + c)
		m.ready.Store(true)
	}
	return m
}

// cell returns the keys of the cohort of k at offset off, creating them
// if needed.
func (k *periodKeys) cell(off int64) *cellKeys {
	if c := k.cells[off].Load(); c != nil {
		return c
	}
	a := k.a
	cohort := a.base + "cohort:" + k.label + ":" + strconv.FormatInt(off, 10)
	c := &cellKeys{name: cohort, users: a.store.SparseKey(cohort + ":users"), money: make([]cellMoneyKeys, a.cur.Slots())}
	if k.cells[off].CompareAndSwap(nil, c) {
		return c
	}
	return k.cells[off].Load()
}

// moneyFor returns the money keys of currency slot i of the cell, building
// them on first use.
func (c *cellKeys) moneyFor(a *activity, i int) *cellMoneyKeys {
	m := &c.money[i]
	if m.ready.Load() {
		return m
	}
	a.keysMu.Lock()
	defer a.keysMu.Unlock()
	if !m.ready.Load() {
		code := a.cur.Code(i)
		m.revenue = a.store.Key(c.name + ":revenue:" + code)
		m.purchases = a.store.Key(c.name + ":purchases:" + code)
		m.ready.Store(true)
	}
	return m
}

// Record implements shared.Activity. A refund touches only money; a
// purchase adds money, a purchase and a paying user; every event but a
// refund is activity, in its day and, when the cohort is known and within
// the horizon, in the cohort's cell.
func (a *activity) Record(e shared.ActivityEvent) bool {
	pe := a.periods.Get(e.Period)
	if pe == nil {
		return true
	}
	var ce *ring.Entry[periodKeys]
	var cl *cellKeys
	if e.Known {
		if e.Cohort == e.Period {
			ce = pe
		} else {
			ce = a.periods.Get(e.Cohort)
		}
		if ce != nil {
			cl = ce.V.cell(e.Period - e.Cohort)
		}
	}
	var mk *moneyKeys
	if e.Kind != shared.Active {
		mk = pe.V.moneyFor(e.Currency)
		var cm *cellMoneyKeys
		if cl != nil {
			cm = cl.moneyFor(a, e.Currency)
		}
		delta := e.Amount
		if e.Kind == shared.Refund {
			delta = -e.Amount
		}
		if !mk.pending.revenue.Add(delta) {
			return false
		}
		if cm != nil && !cm.pending.revenue.Add(delta) {
			mk.pending.revenue.Add(-delta)
			return false
		}
		if e.Kind == shared.Refund {
			mk.pending.refunds.Add(1)
		} else {
			mk.pending.purchases.Add(1)
		}
		if cm != nil && e.Kind == shared.Purchase {
			cm.pending.purchases.Add(1)
		}
		markDirty(&pe.V)
		if ce != nil {
			markDirty(&ce.V)
		}
		if e.Kind == shared.Refund {
			return true
		}
	}
	// Only what would change a set in Redis is buffered.
	var ev redisstore.Event
	reg, rho := redisstore.HLLPos(e.User)
	if mk != nil {
		mk.sent.write(&ev, mk.paying, e.User, reg, rho)
	}
	if cl != nil {
		cl.sent.write(&ev, cl.users, e.User, reg, rho)
	}
	if de := a.days.Get(e.Day); de != nil {
		de.V.sent.write(&ev, de.V.k, e.User, reg, rho)
	}
	a.store.Push(&ev)
	return true
}

func markDirty(k *periodKeys) {
	if !k.dirty.Load() {
		k.dirty.Store(true)
	}
}

// run resolves deferred first-seen cohorts and hands the pending money to
// Redis every interval until stop; a failed hand-over is retried with
// backoff (see moneyWriter).
func (a *activity) run(interval time.Duration) {
	defer close(a.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		if a.runCtx.Err() != nil {
			return
		}
		_ = a.resolveDeferred(a.runCtx, false)
		a.moneyMu.lock(context.Background())
		if w := &a.money; !time.Now().Before(w.next) {
			switch err := a.writeMoney(a.runCtx, w); {
			case errors.Is(err, errShutDown):
			case err != nil:
				w.failed(err)
			default:
				w.succeeded()
			}
		}
		a.moneyMu.unlock()
	}
}

// Defer implements shared.Activity: it queues e until its user's cohort
// is resolved in Redis.
func (a *activity) Defer(e shared.ActivityEvent) bool {
	a.qmu.Lock()
	ok := !a.qclosed && len(a.queue) < maxDeferred
	if ok {
		a.queue = append(a.queue, e)
	}
	a.qmu.Unlock()
	return ok
}

// resolveDeferred resolves the first-seen cohorts of the deferred events
// in one pipelined round trip and records the events with them. For an
// event that may create the cohort, SET first:<user> <its period> NX GET
// returns the cohort some replica wrote first, or nil when this event's
// period became it; for a refund, GET returns the cohort or nil (no
// cohort). Both are safe to retry. The cohorts go to the recorder
// (Resolved), so that the user's later events there take the direct path.
// A failure keeps the events for the next call, except at shutdown
// (final), which drops them as store_unavailable. An event whose command
// Redis refused for good (a key of another type) takes its own period as
// cohort.
func (a *activity) resolveDeferred(ctx context.Context, final bool) error {
	if !a.resolveM.lock(ctx) {
		return ctx.Err()
	}
	defer a.resolveM.unlock()
	// queue, work and spare never share an array: the recording path
	// appends to queue while work is resolved.
	a.qmu.Lock()
	switch {
	case len(a.queue) == 0:
	case a.work == nil:
		a.work, a.queue, a.spare = a.queue, a.spare[:0], nil
	default:
		a.work = append(a.work, a.queue...)
		a.queue = a.queue[:0]
	}
	n := len(a.work) - maxDeferred // kept across failures
	if n > 0 {
		a.work = append(a.work[:0], a.work[n:]...)
	}
	a.inflight = len(a.work)
	a.qmu.Unlock()
	if n > 0 {
		a.drops.Unavailable.Add(context.Background(), int64(n))
	}
	work := a.work
	if len(work) == 0 {
		return nil
	}
	ctx, cancel := redisstore.BoundWrite(ctx)
	defer cancel()
	pipe := a.client.Pipeline()
	cmds := make([]*redis.Cmd, len(work))
	ttl := strconv.FormatInt(max(a.ttl.Milliseconds(), 1), 10)
	for i := range work {
		e := &work[i]
		key := a.store.Key(a.base + "first:" + redisstore.Member(e.User)).String()
		if e.Kind == shared.Refund {
			cmds[i] = pipe.Do(ctx, "GET", key)
		} else {
			cmds[i] = pipe.Do(ctx, "SET", key, e.Period, "NX", "GET", "PX", ttl)
		}
	}
	_, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		for _, c := range cmds {
			if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) && !redisstore.Permanent(e) {
				return a.resolveFailed(fmt.Errorf("redisstate: activity %q: resolving first-seen cohorts: %w", a.name, e), final)
			}
		}
		otel.Handle(fmt.Errorf("redisstate: activity %q: resolving first-seen cohorts: %w", a.name, err))
	}
	a.finMu.Lock()
	defer a.finMu.Unlock()
	if a.abandoned {
		return errShutDown // giveUp counted the events
	}
	a.failures = 0
	bg := context.Background()
	for i := range work {
		e := work[i]
		e.Cohort, e.Known = e.Period, e.Kind != shared.Refund
		if v, err := cmds[i].Text(); err == nil {
			if n, perr := strconv.ParseInt(v, 10, 64); perr == nil {
				e.Cohort, e.Known = n, true
			}
		}
		if e.Known {
			a.resolve(e.User, e.Cohort)
			if e.Cohort > e.Period {
				a.drops.BeforeCohort.Add(bg, 1)
				continue
			}
		}
		if a.periods.Get(e.Period) == nil {
			a.drops.Late.Add(bg, 1)
			continue
		}
		if !a.Record(e) {
			a.drops.Overflow.Add(bg, 1)
		}
	}
	clear(work)
	a.spare, a.work = work[:0], nil
	a.qmu.Lock()
	a.inflight = 0
	a.qmu.Unlock()
	return nil
}

// resolveFailed keeps the deferred events for the next resolution, or
// drops them when final, and reports err on the 1st, 2nd, 4th …
// consecutive failure.
func (a *activity) resolveFailed(err error, final bool) error {
	a.failures++
	if a.failures&(a.failures-1) == 0 {
		otel.Handle(err)
	}
	if final {
		a.drops.Unavailable.Add(context.Background(), int64(len(a.work)))
		a.work = nil
		a.qmu.Lock()
		a.inflight = 0
		a.qmu.Unlock()
	}
	return err
}

// giveUp counts as store_unavailable what is not written: the deferred
// events still queued or in a resolution, and the purchases and refunds
// whose money Redis has not acknowledged (a hand-over whose reply comes
// later counts as not written, though Redis may have applied it). It
// refuses new deferred events and waits for no round trip: the goroutine
// discards the result of the one in flight.
func (a *activity) giveUp() error {
	a.finMu.Lock()
	defer a.finMu.Unlock()
	if a.abandoned {
		return nil
	}
	a.abandoned = true
	a.qmu.Lock()
	deferred := len(a.queue) + a.inflight
	a.queue, a.qclosed, a.inflight = nil, true, 0
	a.qmu.Unlock()
	money := a.takePending()
	if n := int64(deferred) + money; n > 0 {
		a.drops.Unavailable.Add(context.Background(), n)
	}
	if money > 0 {
		return fmt.Errorf("redisstate: activity %q: %d purchases and refunds not written to Redis", a.name, money)
	}
	return nil
}

// Flush implements shared.Activity. After Shutdown it only waits for the
// store, which then reports what it could not write.
func (a *activity) Flush(ctx context.Context) error {
	var err error
	if !a.closed.Load() {
		err = errors.Join(a.resolveDeferred(ctx, false), a.flushMoney(ctx))
	}
	err = errors.Join(err, a.store.Flush(ctx))
	a.forgetIfUnwritten()
	return err
}

// forgetIfUnwritten forgets what was handed to the store when the store
// dropped or Redis rejected writes since the last time: else every write
// handed over is in Redis, or still buffered.
func (a *activity) forgetIfUnwritten() {
	st := a.store.Stats()
	if n := st.Dropped + st.Rejected; n != a.unwritten.Load() {
		a.unwritten.Store(n)
		a.forget()
	}
}

// Shutdown implements shared.Activity. It stops the goroutine, resolves
// the deferred cohorts and writes the pending money and the buffered sets
// until ctx ends; what is left then is counted as store_unavailable (see
// giveUp). It returns when ctx ends at the latest: a round trip of the
// goroutine or of the store's flusher in flight then is left to end by
// its own deadline (redisstore.WriteTimeout, which the client honours:
// New requires it), and its result is discarded.
func (a *activity) Shutdown(ctx context.Context) error {
	var errs []error
	a.shutdownOnce.Do(func() {
		a.closed.Store(true)
		close(a.stop)
		select {
		case <-a.done:
			errs = append(errs, a.resolveDeferred(ctx, true))
			if ctx.Err() == nil {
				errs = append(errs, a.flushMoney(ctx))
			}
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		a.cancelRun()
		errs = append(errs, a.store.Shutdown(ctx), a.giveUp())
	})
	return errors.Join(errs...)
}
