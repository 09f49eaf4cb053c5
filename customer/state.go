package customer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bojanz/currency"
	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/money"
	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/sketch"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// This file is the state boundary of an Activity. The state lives in one
// of three places, chosen at construction:
//
//   - memory (a.rs == nil, a.saver == nil): the rings of activity.go;
//   - memory and a snapshot file (a.saver != nil): the same rings, written
//     by appendState and read back by restoreState;
//   - Redis (a.rs != nil): the rings hold the Redis keys of each period,
//     cell and day and the money not yet handed over; recording buffers
//     PFADD in a redisstore.Store (one entry per event), runRemote writes
//     the money itself with moneyScript (state_redis_money.go) and
//     resolves the first-seen cohorts of deferred events
//     (resolveDeferred), and collection reads PFCOUNT and MGET.

// CloseTimeout bounds how long [Activity.Close] waits for the last
// snapshot or for buffered writes to reach Redis; use [Activity.Shutdown]
// to choose the deadline.
const CloseTimeout = 5 * time.Second

// activityStateVersion is the payload version of activity snapshots.
const activityStateVersion = 1

// remote is the Redis side of an Activity.
//
// Each event writes as few keys as the figures allow: the day's set of
// active users, the set of its cohort at its offset and, for a purchase,
// the period's set of paying users and the money counters. The active
// users of a period are the union of its days, and the members of a cohort
// are the union of its cells (every event of a member lands in one of
// them), so neither has a key of its own.
type remote struct {
	store   *redisstore.Store
	client  redis.UniversalClient
	base    string // "{a:" + activity name + "}:", the hash tag of every key of the activity
	loc     *time.Location
	cur     *currencies
	keysMu  sync.Mutex        // serialises building money keys
	curKeys []string          // without WithCurrencies: the key of every ISO 4217 currency, for discovery
	periods *ring[periodKeys] // alongside Activity.periods
	days    *ring[hkey]       // the horizon's days, not only ActiveDays
	sent    *sentCache
	ttl     time.Duration // of the first-seen keys

	// Events of users whose first-seen cohort is not known here yet,
	// resolved by resolveDeferred.
	qmu      sync.Mutex
	queue    []pendingEvent // guarded by qmu
	resolveM ctxMutex       // serializes resolveDeferred
	work     []pendingEvent // guarded by resolveM: taken, not yet resolved
	spare    []pendingEvent // guarded by resolveM
	failures int            // consecutive failed resolutions; guarded by resolveM

	stop, done chan struct{}   // of the goroutine that moves pending money
	runCtx     context.Context // of the goroutine's round trips; cancelled at shutdown
	cancelRun  context.CancelFunc
	moneyMu    ctxMutex    // serialises money hand-overs
	money      moneyWriter // guarded by moneyMu

	current currentMoney // of the current period, as the latest collection read it
}

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

// pendingEvent is a validated event whose user's cohort Redis decides.
type pendingEvent struct {
	h            uint64
	q, d, amount int64
	kind         uint8
	cur          int16
}

// maxDeferred bounds the events waiting for their cohort: new events
// beyond it are dropped as store_unavailable, and so are the oldest of
// those kept across failed resolutions.
const maxDeferred = 1 << 16

// hkey is a Redis key with a hash of its name for the sent cache.
type hkey struct {
	k redisstore.Key
	h uint64
}

func (rs *remote) key(name string) hkey {
	k := rs.store.Key(name)
	return hkey{k: k, h: xxhash.Sum64String(k.String())}
}

// sentCacheSize is the number of (key, user) pairs the sent cache holds
// (2 MiB), in buckets of sentCacheWays.
const (
	sentCacheSize = 1 << 18
	sentCacheWays = 4
)

// sentCache remembers which (key, user) pairs were handed to the store
// recently, so that a user active again adds nothing to the buffer: a
// four-way set-associative table of tagged pair hashes, read and written
// with atomic operations. A collision evicts a pair, which is then written
// again (PFADD is idempotent). Bumping the generation forgets every pair:
// it happens at each collection and Flush, so that a write the store had
// to drop during an outage is written again at the user's next event
// after the next collection.
type sentCache struct {
	gen   atomic.Uint64
	slots [sentCacheSize]atomic.Uint64
}

// fresh reports whether the pair (key hash kh, user hash h) is not in the
// cache, and adds it: to an empty way of its bucket, else to one chosen by
// the pair's hash.
func (c *sentCache) fresh(kh, h uint64) bool {
	d := kh*0x9e3779b97f4a7c15 ^ h
	v := (d ^ c.gen.Load()*0xbf58476d1ce4e5b9) | 1
	b := c.slots[d&(sentCacheSize-sentCacheWays) : d&(sentCacheSize-sentCacheWays)+sentCacheWays]
	empty := -1
	for w := range b {
		switch x := b[w].Load(); {
		case x == v:
			return false
		case x == 0 && empty < 0:
			empty = w
		}
	}
	if empty < 0 {
		empty = int(d>>40) & (sentCacheWays - 1)
	}
	b[empty].Store(v)
	return true
}

func (c *sentCache) forget() { c.gen.Add(1) }

// periodKeys are the Redis keys of one period index: its money per
// currency and, built at collection, the names of its days.
type periodKeys struct {
	rs    *remote
	label string
	money []moneyKeys                // by currency slot, built on first use
	cells []atomic.Pointer[cellKeys] // of the cohort, by offset
	dirty atomic.Bool                // money pending in the period or in a cell of its cohort
	days  []string                   // full key names of the period's days; collection only
}

type moneyKeys struct {
	ready                       atomic.Bool // the keys are built
	revenue, purchases, refunds redisstore.Key
	paying                      hkey
	pending                     pendingMoney
}

// pendingMoney is money recorded and not yet handed to the store: the
// recording path adds to it and the remote's goroutine moves it to the
// store as one INCRBY per key, every flush interval. The revenue sum is
// checked: an amount that would overflow it is refused, as in memory,
// never wrapped into an INCRBY that Redis would accept.
type pendingMoney struct {
	revenue            money.Total
	purchases, refunds atomic.Int64
}

// cellKeys are the Redis keys of one cohort at one offset.
type cellKeys struct {
	name  string // of the cell, the prefix of its keys
	users hkey
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
	return time.Duration((horizon+1)*periodDays(unit)+ActiveDays+1) * 24 * time.Hour
}

func newRemote(name string, unit period.Unit, loc *time.Location, horizon int, cur *currencies, opts []redisstore.Option, drop redisstore.Option) (*remote, error) {
	ro := append([]redisstore.Option{redisstore.WithTTL(stateTTL(unit, horizon)), drop}, opts...)
	if err := redisstore.Check(ro...); err != nil {
		return nil, fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig)
	}
	store, err := redisstore.New(ro...)
	if err != nil {
		return nil, fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig)
	}
	if p := store.Prefix(); strings.ContainsAny(p, "{}") {
		_ = store.Shutdown(context.Background())
		return nil, fmt.Errorf("customer: Redis key prefix %q has a brace: the activity's keys carry the hash tag {a:<name>}: %w", p, ErrInvalidConfig)
	}
	rs := &remote{store: store, client: store.Client(), base: "{a:" + name + "}:", loc: loc, cur: cur,
		sent: new(sentCache), ttl: stateTTL(unit, horizon), stop: make(chan struct{}), done: make(chan struct{})}
	rs.runCtx, rs.cancelRun = context.WithCancel(context.Background())
	rs.resolveM, rs.moneyMu = newCtxMutex(), newCtxMutex()
	rs.money = newMoneyWriter(rs)
	if !cur.declared {
		for _, code := range currency.GetCurrencyCodes() {
			rs.curKeys = append(rs.curKeys, rs.currencyKey(code).String())
		}
	}
	rs.periods = newRing(horizon, func(i int64, k *periodKeys) {
		rs.initPeriod(k, unit.Label(unit.Start(i, loc), loc), horizon)
	})
	rs.days = newRing(max(ActiveDays, (horizon+1)*periodDays(unit)), func(d int64, k *hkey) {
		*k = rs.key(rs.dayName(d))
	})
	return rs, nil
}

// dayName is the key name, without prefix, of the active users of day d.
func (rs *remote) dayName(d int64) string {
	return rs.base + "day:" + period.Day.Label(period.Day.Start(d, rs.loc), rs.loc)
}

// currencyKey is the key that says that the activity took code: without
// WithCurrencies, a replica learns there which currencies the others took.
func (rs *remote) currencyKey(code string) redisstore.Key {
	return rs.store.Key(rs.base + "currency:" + code)
}

func (rs *remote) initPeriod(k *periodKeys, label string, horizon int) {
	k.rs, k.label = rs, label
	k.cells = make([]atomic.Pointer[cellKeys], horizon)
	k.money = make([]moneyKeys, rs.cur.slots())
}

// moneyFor returns the money keys of currency slot i, building them on
// first use.
func (k *periodKeys) moneyFor(i int) *moneyKeys {
	m := &k.money[i]
	if m.ready.Load() {
		return m
	}
	rs := k.rs
	rs.keysMu.Lock()
	defer rs.keysMu.Unlock()
	if !m.ready.Load() {
		c := rs.cur.unit(i).Currency()
		m.revenue = rs.store.Key(rs.base + "revenue:" + k.label + ":" + c)
		m.purchases = rs.store.Key(rs.base + "purchases:" + k.label + ":" + c)
		m.refunds = rs.store.Key(rs.base + "refunds:" + k.label + ":" + c)
		m.paying = rs.key(rs.base + "paying:" + k.label + ":" + c)
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
	rs := k.rs
	cohort := rs.base + "cohort:" + k.label + ":" + strconv.FormatInt(off, 10)
	c := &cellKeys{name: cohort, users: rs.key(cohort + ":users"), money: make([]cellMoneyKeys, rs.cur.slots())}
	if k.cells[off].CompareAndSwap(nil, c) {
		return c
	}
	return k.cells[off].Load()
}

// moneyFor returns the money keys of currency slot i of the cell, building
// them on first use.
func (c *cellKeys) moneyFor(rs *remote, i int) *cellMoneyKeys {
	m := &c.money[i]
	if m.ready.Load() {
		return m
	}
	rs.keysMu.Lock()
	defer rs.keysMu.Unlock()
	if !m.ready.Load() {
		code := rs.cur.unit(i).Currency()
		m.revenue = rs.store.Key(c.name + ":revenue:" + code)
		m.purchases = rs.store.Key(c.name + ":purchases:" + code)
		m.ready.Store(true)
	}
	return m
}

// recordRemote buffers one validated event in period q for Redis; c is the
// user's cohort when known. It mirrors the memory path of record: a refund
// touches only money; a purchase adds money, a purchase and a paying user;
// every event but a refund is activity, in its day and, when the cohort is
// known and within the horizon, in the cohort's cell.
//
// It reports false, having recorded nothing, when the amount would overflow
// a pending sum (the caller counts amount_overflow).
func (a *Activity) recordRemote(q, c int64, known bool, d int64, h uint64, kind uint8, cur int, amount int64) bool {
	rs := a.rs
	s := rs.store
	pe := rs.periods.get(q)
	if pe == nil {
		return true
	}
	var ce *entry[periodKeys]
	var cl *cellKeys
	if known {
		if c == q {
			ce = pe
		} else {
			ce = rs.periods.get(c)
		}
		if ce != nil {
			cl = ce.v.cell(q - c)
		}
	}
	var keys [3]redisstore.Key
	ks := keys[:0]
	sent := rs.sent
	if kind != kindActive {
		mk := pe.v.moneyFor(cur)
		var cm *cellMoneyKeys
		if cl != nil {
			cm = cl.moneyFor(rs, cur)
		}
		delta := amount
		if kind == kindRefund {
			delta = -amount
		}
		if !mk.pending.revenue.Add(delta) {
			return false
		}
		if cm != nil && !cm.pending.revenue.Add(delta) {
			mk.pending.revenue.Add(-delta)
			return false
		}
		if kind == kindRefund {
			mk.pending.refunds.Add(1)
		} else {
			mk.pending.purchases.Add(1)
		}
		if cm != nil && kind == kindPurchase {
			cm.pending.purchases.Add(1)
		}
		markDirty(&pe.v)
		if ce != nil {
			markDirty(&ce.v)
		}
		if kind == kindRefund {
			return true
		}
		if sent.fresh(mk.paying.h, h) {
			ks = append(ks, mk.paying.k)
		}
	}
	if cl != nil && sent.fresh(cl.users.h, h) {
		ks = append(ks, cl.users.k)
	}
	if de := rs.days.get(d); de != nil && sent.fresh(de.v.h, h) {
		ks = append(ks, de.v.k)
	}
	if len(ks) > 0 {
		s.PFAddEach(h, ks...)
	}
	return true
}

func markDirty(k *periodKeys) {
	if !k.dirty.Load() {
		k.dirty.Store(true)
	}
}

// runRemote resolves deferred first-seen cohorts and hands the pending
// money to Redis every interval until stop; a failed hand-over is retried
// with backoff (see moneyWriter).
func (a *Activity) runRemote(interval time.Duration) {
	rs := a.rs
	defer close(rs.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-rs.stop:
			return
		case <-t.C:
		}
		_ = a.resolveDeferred(rs.runCtx, false)
		rs.moneyMu.lock(context.Background())
		if w := &rs.money; !time.Now().Before(w.next) {
			if err := a.writeMoney(rs.runCtx, w); err != nil {
				w.failed(err)
			} else {
				w.succeeded()
			}
		}
		rs.moneyMu.unlock()
	}
}

// deferEvent queues e until its user's cohort is resolved in Redis; when
// the queue is full (Redis unreachable) e is dropped and counted on drop,
// and deferEvent reports false.
func (rs *remote) deferEvent(e pendingEvent, drop selfobs.Reason) bool {
	rs.qmu.Lock()
	full := len(rs.queue) >= maxDeferred
	if !full {
		rs.queue = append(rs.queue, e)
	}
	rs.qmu.Unlock()
	if full {
		drop.Add(context.Background(), 1)
	}
	return !full
}

// resolveDeferred resolves the first-seen cohorts of the deferred events
// in one pipelined round trip and records the events with them. For an
// event that may create the cohort, SET first:<user> <its period> NX GET
// returns the cohort some replica wrote first, or nil when this event's
// period became it; for a refund, GET returns the cohort or nil (no
// cohort). Both are safe to retry. The cohorts go to the local first-seen
// map, so that the user's later events here take the direct path. A
// failure keeps the events for the next call, except at shutdown (final),
// which drops them as store_unavailable. An event whose command Redis
// refused for good (a key of another type) takes its own period as cohort.
func (a *Activity) resolveDeferred(ctx context.Context, final bool) error {
	rs := a.rs
	if !rs.resolveM.lock(ctx) {
		return ctx.Err()
	}
	defer rs.resolveM.unlock()
	// queue, work and spare never share an array: the recording path
	// appends to queue while work is resolved.
	rs.qmu.Lock()
	switch {
	case len(rs.queue) == 0:
	case rs.work == nil:
		rs.work, rs.queue, rs.spare = rs.queue, rs.spare[:0], nil
	default:
		rs.work = append(rs.work, rs.queue...)
		rs.queue = rs.queue[:0]
	}
	rs.qmu.Unlock()
	if n := len(rs.work) - maxDeferred; n > 0 { // kept across failures
		a.drops.unavailable.Add(context.Background(), int64(n))
		rs.work = append(rs.work[:0], rs.work[n:]...)
	}
	work := rs.work
	if len(work) == 0 {
		return nil
	}
	ctx, cancel := redisstore.BoundWrite(ctx)
	defer cancel()
	pipe := rs.client.Pipeline()
	cmds := make([]*redis.Cmd, len(work))
	ttl := strconv.FormatInt(max(rs.ttl.Milliseconds(), 1), 10)
	for i := range work {
		e := &work[i]
		key := rs.store.Key(rs.base + "first:" + redisstore.Member(e.h)).String()
		if e.kind == kindRefund {
			cmds[i] = pipe.Do(ctx, "GET", key)
		} else {
			cmds[i] = pipe.Do(ctx, "SET", key, e.q, "NX", "GET", "PX", ttl)
		}
	}
	_, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		for _, c := range cmds {
			if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) && !redisstore.Permanent(e) {
				return rs.resolveFailed(a, fmt.Errorf("customer: activity %q: resolving first-seen cohorts in Redis: %w", a.name, e), final)
			}
		}
		otel.Handle(fmt.Errorf("customer: activity %q: resolving first-seen cohorts in Redis: %w", a.name, err))
	}
	rs.failures = 0
	bg := context.Background()
	for i := range work {
		e := &work[i]
		h := e.h
		c, known := e.q, e.kind != kindRefund
		if v, err := cmds[i].Text(); err == nil {
			if n, perr := strconv.ParseInt(v, 10, 64); perr == nil {
				c, known = n, true
			}
		}
		if known {
			a.seen.resolve(h, c)
			if c > e.q {
				a.drops.beforeCohort.Add(bg, 1)
				continue
			}
		}
		if rs.periods.get(e.q) == nil {
			a.drops.late.Add(bg, 1)
			continue
		}
		if !a.recordRemote(e.q, c, known, e.d, h, e.kind, int(e.cur), e.amount) {
			a.drops.overflow.Add(bg, 1)
		}
	}
	clear(work)
	rs.spare, rs.work = work[:0], nil
	return nil
}

// resolveFailed keeps the deferred events for the next resolution, or
// drops them when final, and reports err on the 1st, 2nd, 4th …
// consecutive failure.
func (rs *remote) resolveFailed(a *Activity, err error, final bool) error {
	rs.failures++
	if rs.failures&(rs.failures-1) == 0 {
		otel.Handle(err)
	}
	if final {
		a.drops.unavailable.Add(context.Background(), int64(len(rs.work)))
		rs.work = nil
	}
	return err
}

// dropDeferred counts the events still waiting for their cohort as
// dropped; after the goroutine stopped.
func (rs *remote) dropDeferred(a *Activity) {
	rs.resolveM.lock(context.Background())
	rs.qmu.Lock()
	n := len(rs.queue) + len(rs.work)
	rs.queue, rs.work = nil, nil
	rs.qmu.Unlock()
	rs.resolveM.unlock()
	if n > 0 {
		a.drops.unavailable.Add(context.Background(), int64(n))
	}
}

// resolve replaces the pending cohort of h with c, or records c for a user
// not tracked here, within the cap.
func (f *firstSeen) resolve(h uint64, c int64) {
	sh := &f.shards[h>>58]
	sh.mu.Lock()
	switch v, ok := sh.m[h]; {
	case ok && v == pendingCohort:
		sh.m[h] = c
	case !ok && f.n.Add(1) <= f.max:
		sh.m[h] = c
	case !ok:
		f.n.Add(-1)
	}
	sh.mu.Unlock()
}

// discoverCurrencies gives a slot to every currency that another replica
// took (see movePending), so that every replica reports the same
// currencies. It is one MGET, without WithCurrencies only.
func (a *Activity) discoverCurrencies(ctx context.Context) error {
	rs := a.rs
	if rs.cur.declared || rs.cur.len() == MaxCurrencies {
		return nil
	}
	vals, err := rs.client.MGet(ctx, rs.curKeys...).Result()
	if err != nil {
		return fmt.Errorf("customer: activity %q: reading Redis: %w", a.name, err)
	}
	codes := currency.GetCurrencyCodes()
	for i, v := range vals {
		if v != nil && i < len(codes) {
			rs.cur.index(codes[i])
		}
	}
	return nil
}

// dayNames returns the key names of the days of period index i.
func (a *Activity) dayNames(k *periodKeys, i int64) []string {
	if k.days == nil {
		first := period.Day.Index(a.unit.Start(i, a.loc), a.loc)
		last := period.Day.Index(a.unit.Start(i+1, a.loc), a.loc) - 1
		for d := first; d <= last; d++ {
			k.days = append(k.days, a.rs.store.Key(a.rs.dayName(d)).String())
		}
	}
	return k.days
}

// cellNames returns the key names of the cells 0 to last of k's cohort,
// creating their keys.
func cellNames(k *periodKeys, last int64) []string {
	names := make([]string, last+1)
	for off := range names {
		names[off] = k.cell(int64(off)).users.k.String()
	}
	return names
}

// remotePeriod is what collection reads about one period index.
type remotePeriod struct {
	e               *entry[periodState]
	k               *periodKeys
	active, members *redis.IntCmd
	paying          []*redis.IntCmd
	money           *redis.SliceCmd // revenue, purchases, refunds per currency
}

// remoteCell is what collection reads about one cohort at one offset.
type remoteCell struct {
	on, onOrAfter *redis.IntCmd
	money         *redis.SliceCmd // revenue, purchases per currency
}

// observeRemote reports the figures of an Activity kept in Redis: the
// periods of the horizon that ends at the clock's period (or the newest
// period with an event, when later), as every replica sees them.
func (a *Activity) observeRemote(ctx context.Context, o metric.Observer) error {
	ctx, cancel := redisstore.Bound(ctx)
	defer cancel()
	a.rs.sent.forget()
	if err := a.discoverCurrencies(ctx); err != nil {
		return err
	}
	nCur := a.rs.cur.len()
	now := a.clock()
	today := a.dayOf(now, now.Unix())
	top := max(a.periods.top.Load(), a.periodOf(today))
	pipe := a.rs.client.Pipeline()
	var ps []remotePeriod
	for i := top - a.horizon + 1; i <= top; i++ {
		e, ke := a.periods.get(i), a.rs.periods.get(i)
		if e == nil || ke == nil {
			continue
		}
		k := &ke.v
		rp := remotePeriod{e: e, k: k, active: pipe.PFCount(ctx, a.dayNames(k, i)...),
			members: pipe.PFCount(ctx, cellNames(k, top-i)...)}
		if nCur > 0 {
			names := make([]string, 0, 3*nCur)
			for i := range nCur {
				m := k.moneyFor(i)
				rp.paying = append(rp.paying, pipe.PFCount(ctx, m.paying.k.String()))
				names = append(names, m.revenue.String(), m.purchases.String(), m.refunds.String())
			}
			rp.money = pipe.MGet(ctx, names...)
		}
		ps = append(ps, rp)
	}
	end := max(today, a.rs.days.top.Load())
	window := func(n int64) *redis.IntCmd {
		names := make([]string, 0, n)
		for d := end - n + 1; d <= end; d++ {
			if e := a.rs.days.get(d); e != nil {
				names = append(names, e.v.k.String())
			}
		}
		return pipe.PFCount(ctx, names...)
	}
	dau, wau, mau := window(1), window(7), window(ActiveDays)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("customer: activity %q: reading Redis: %w", a.name, err)
	}

	// Second round trip: the cells of the cohorts that have members.
	cells := make([][]remoteCell, len(ps))
	pipe = a.rs.client.Pipeline()
	for j := range ps {
		rp := &ps[j]
		if rp.members.Val() == 0 {
			continue
		}
		last := top - rp.e.index
		names := cellNames(rp.k, last)
		for k := int64(0); k <= last; k++ {
			ck := rp.k.cell(k)
			rc := remoteCell{on: pipe.PFCount(ctx, names[k]), onOrAfter: pipe.PFCount(ctx, names[k:]...)}
			if nCur > 0 {
				mn := make([]string, 0, 2*nCur)
				for i := range nCur {
					m := ck.moneyFor(a.rs, i)
					mn = append(mn, m.revenue.String(), m.purchases.String())
				}
				rc.money = pipe.MGet(ctx, mn...)
			}
			cells[j] = append(cells[j], rc)
		}
	}
	if len(pipe.Cmds()) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("customer: activity %q: reading Redis: %w", a.name, err)
		}
	} else {
		pipe.Discard()
	}

	var errs []error
	current := false // the current period's money was read
	for j := range ps {
		rp := &ps[j]
		last := top - rp.e.index
		v := a.view(rp.e, last)
		vals, err := ints(rp.money)
		errs = append(errs, err)
		a.reportRemotePeriod(o, rp, v, vals)
		if nCur := len(rp.paying); rp.e.index == top && err == nil && len(vals) >= 3*nCur {
			a.rs.current.set(nCur, func(i int) int64 { return vals[3*i] }, func(i int) uint64 { return uint64(rp.paying[i].Val()) })
			current = true
		}
		if len(cells[j]) > 0 {
			errs = append(errs, a.reportRemoteCohort(o, uint64(rp.members.Val()), cells[j], v, nCur))
		}
	}
	if !current {
		a.rs.current.set(0, nil, nil)
	}
	if mv := uint64(mau.Val()); mv > 0 {
		dv := uint64(dau.Val())
		o.ObserveInt64(a.activeUsers, int64(dv), a.winOpts[0]...)
		o.ObserveInt64(a.activeUsers, wau.Val(), a.winOpts[1]...)
		o.ObserveInt64(a.activeUsers, int64(mv), a.winOpts[2]...)
		o.ObserveFloat64(a.stickiness, ratio(dv, mv), a.nameOpt...)
	}
	return errors.Join(errs...)
}

// ints returns the integers of an MGET, 0 for a missing key.
func ints(c *redis.SliceCmd) ([]int64, error) {
	if c == nil {
		return nil, nil
	}
	out := make([]int64, len(c.Val()))
	for i, v := range c.Val() {
		s, ok := v.(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("customer: Redis key %q holds %q, not an integer", c.Args()[i+1], s)
		}
		out[i] = n
	}
	return out, nil
}

// reportRemotePeriod reports one period as observePeriod does.
func (a *Activity) reportRemotePeriod(o metric.Observer, rp *remotePeriod, v *periodView, vals []int64) {
	active := uint64(rp.active.Val())
	any := active > 0 || rp.members.Val() > 0
	for _, x := range vals {
		any = any || x != 0
	}
	if !any {
		return
	}
	o.ObserveInt64(a.periodUsers, int64(active), v.period...)
	nCur := len(rp.paying) // the currencies read
	if len(vals) < 3*nCur {
		return
	}
	for i := range nCur {
		revUnits, n, r := vals[3*i], vals[3*i+1], vals[3*i+2]
		if n == 0 && r == 0 && active == 0 {
			continue
		}
		a.observeMoney(o, v.money[i], a.cur.unit(i), revUnits, n, r, uint64(rp.paying[i].Val()), active)
	}
}

// reportRemoteCohort reports one cohort as observeCohort does, for the
// first nCur currencies.
func (a *Activity) reportRemoteCohort(o metric.Observer, size uint64, cells []remoteCell, v *periodView, nCur int) error {
	o.ObserveInt64(a.cohortSize, int64(size), v.cohort...)
	var cum [MaxCurrencies]int64
	var overflow [MaxCurrencies]bool
	var errs []error
	for k, rc := range cells {
		ov := &v.offsets[k]
		on, ooa := uint64(rc.on.Val()), uint64(rc.onOrAfter.Val())
		a.observeRetention(o, ov, on, ooa, size)
		vals, err := ints(rc.money)
		if err != nil || len(vals) < 2*nCur {
			errs = append(errs, err)
			continue
		}
		for i := range nCur {
			a.observeCohortMoney(o, ov.money[i], a.cur.unit(i), vals[2*i], vals[2*i+1], size, &cum[i], &overflow[i])
		}
	}
	return errors.Join(errs...)
}

// Snapshot payload (activityStateVersion 1), all integers as varints:
//
//	name, period unit, horizon, currencies (code, scale)...
//	first-seen: count, (hash as 8 bytes, cohort)...
//	periods: count, (index, active, members,
//	    per currency (revenue, purchases, refunds, paying),
//	    cells: count, (offset, users, per currency (revenue, purchases))...)...
//	days: count, (index, set)...
//
// A set is a length and the bytes of sketch.Set.AppendBinary.

// appendState appends the activity's state to b. It runs while recording
// goes on: each set and total is read atomically, the whole is not.
func (a *Activity) appendState(b []byte) ([]byte, error) {
	nCur := a.cur.len() // a currency taken after this is not in the snapshot
	b = a.appendHeader(b, nCur)
	b = a.seen.appendTo(b)
	top := a.periods.top.Load()
	var periods []*entry[periodState]
	a.periods.each(top, func(e *entry[periodState]) { periods = append(periods, e) })
	b = binary.AppendUvarint(b, uint64(len(periods)))
	var err error
	for _, e := range periods {
		b = binary.AppendVarint(b, e.index)
		if b, err = appendSet(b, &e.v.active); err != nil {
			return nil, err
		}
		if b, err = appendSet(b, &e.v.members); err != nil {
			return nil, err
		}
		for i := range nCur {
			pm := &e.v.money[i]
			b = binary.AppendVarint(b, pm.revenue.Load())
			b = binary.AppendVarint(b, pm.purchases.Load())
			b = binary.AppendVarint(b, pm.refunds.Load())
			if b, err = appendSet(b, &pm.paying); err != nil {
				return nil, err
			}
		}
		var cells []int64
		for k := range e.v.cells {
			if e.v.cells[k].Load() != nil {
				cells = append(cells, int64(k))
			}
		}
		b = binary.AppendUvarint(b, uint64(len(cells)))
		for _, k := range cells {
			cl := e.v.cells[k].Load()
			b = binary.AppendVarint(b, k)
			if b, err = appendSet(b, &cl.users); err != nil {
				return nil, err
			}
			for i := range nCur {
				b = binary.AppendVarint(b, cl.money[i].revenue.Load())
				b = binary.AppendVarint(b, cl.money[i].purchases.Load())
			}
		}
	}
	var days []*entry[sketch.Set]
	a.days.each(a.days.top.Load(), func(e *entry[sketch.Set]) { days = append(days, e) })
	b = binary.AppendUvarint(b, uint64(len(days)))
	for _, e := range days {
		b = binary.AppendVarint(b, e.index)
		if b, err = appendSet(b, &e.v); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// appendHeader appends what identifies the activity's state: name,
// period, horizon, and the currencies of the first nCur slots with their
// scales.
func (a *Activity) appendHeader(b []byte, nCur int) []byte {
	b = a.appendIdentity(b)
	b = binary.AppendUvarint(b, uint64(nCur))
	for i := range nCur {
		u := a.cur.unit(i)
		b = appendString(b, u.Currency())
		b = binary.AppendUvarint(b, uint64(u.Scale()))
	}
	return b
}

func (a *Activity) appendIdentity(b []byte) []byte {
	b = appendString(b, a.name)
	b = binary.AppendUvarint(b, uint64(a.unit))
	return binary.AppendUvarint(b, uint64(a.horizon))
}

// restoreCurrencies reads the currencies of a snapshot header. With
// WithCurrencies they must be the declared ones; without, each must be an
// ISO 4217 currency at its minor unit, and takes the next slot.
func (a *Activity) restoreCurrencies(d *decoder) (int, error) {
	errOther := errors.New("written by an activity with other currencies")
	n := d.uvarint()
	if d.err != nil {
		return 0, d.err
	}
	if n > MaxCurrencies || a.cur.declared && n != uint64(a.cur.len()) {
		return 0, errOther
	}
	for i := range int(n) {
		code, scale := d.string(), d.uvarint()
		if d.err != nil {
			return 0, d.err
		}
		if a.cur.declared {
			if u := a.cur.unit(i); u.Currency() != code || uint64(u.Scale()) != scale {
				return 0, errOther
			}
			continue
		}
		if u, ok := a.cur.unitOf(code); !ok || uint64(u.Scale()) != scale || a.cur.index(code) != i {
			return 0, errOther
		}
	}
	return int(n), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSet(b []byte, s *sketch.Set) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := s.AppendBinary(b)
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b, nil
}

// appendTo appends the first-seen cohorts.
func (f *firstSeen) appendTo(b []byte) []byte {
	var pairs []int64 // hash, cohort
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		for h, c := range sh.m {
			pairs = append(pairs, int64(h), c)
		}
		sh.mu.Unlock()
	}
	b = binary.AppendUvarint(b, uint64(len(pairs)/2))
	for i := 0; i < len(pairs); i += 2 {
		b = binary.LittleEndian.AppendUint64(b, uint64(pairs[i]))
		b = binary.AppendVarint(b, pairs[i+1])
	}
	return b
}

// decoder reads a snapshot payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("payload ends early")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

// count reads a count of items of at least min bytes each, bounded by
// what is left.
func (d *decoder) count(min uint64) uint64 {
	n := d.uvarint()
	if d.err == nil && n*min > uint64(len(d.b)) {
		d.err = errShort
		return 0
	}
	return n
}

func (d *decoder) set(s *sketch.Set) {
	if d.err != nil {
		return
	}
	data := d.bytes(uint64(binary.LittleEndian.Uint32(d.bytes(4))))
	if d.err == nil {
		if err := s.UnmarshalBinary(data); err != nil {
			d.err = err
		}
	}
}

// restoreState loads a snapshot payload into an empty activity.
func (a *Activity) restoreState(p []byte) error {
	want := a.appendIdentity(nil)
	if len(p) < len(want) || string(p[:len(want)]) != string(want) {
		return errors.New("written by an activity with another name, period or horizon")
	}
	d := &decoder{b: p[len(want):]}
	nCur, err := a.restoreCurrencies(d)
	if err != nil {
		return err
	}
	for n := d.count(9); n > 0 && d.err == nil; n-- {
		h := binary.LittleEndian.Uint64(d.bytes(8))
		c := d.varint()
		if d.err == nil {
			a.seen.restore(h, c)
		}
	}
	for n := d.count(3); n > 0 && d.err == nil; n-- {
		e := a.periods.get(d.varint())
		if d.err != nil {
			break
		}
		if e == nil {
			return errors.New("periods out of order")
		}
		d.set(&e.v.active)
		d.set(&e.v.members)
		for i := range nCur {
			pm := &e.v.money[i]
			pm.revenue.Store(d.varint())
			pm.purchases.Store(d.varint())
			pm.refunds.Store(d.varint())
			d.set(&pm.paying)
		}
		for m := d.count(2); m > 0 && d.err == nil; m-- {
			k := d.varint()
			if d.err == nil && (k < 0 || k >= a.horizon) {
				return fmt.Errorf("cohort offset %d out of range", k)
			}
			cl := e.v.cell(k, a.cur.slots())
			d.set(&cl.users)
			for i := range nCur {
				cl.money[i].revenue.Store(d.varint())
				cl.money[i].purchases.Store(d.varint())
			}
		}
	}
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		e := a.days.get(d.varint())
		if d.err != nil {
			break
		}
		if e == nil {
			return errors.New("days out of order")
		}
		d.set(&e.v)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	return d.err
}

// restore records c as the cohort of h, within the cap.
func (f *firstSeen) restore(h uint64, c int64) {
	sh := &f.shards[h>>58]
	sh.mu.Lock()
	if _, ok := sh.m[h]; !ok && f.n.Load() < f.max {
		sh.m[h] = c
		f.n.Add(1)
	}
	sh.mu.Unlock()
}

// loadSnapshot restores the snapshot at path, if any. A file that
// snapshot.Load accepts but that does not decode is moved aside and
// reported, and the activity starts empty; it reports whether state was
// restored.
func (a *Activity) loadSnapshot(path string, reset func()) bool {
	p := snapshot.Load(path, activityStateVersion)
	if p == nil {
		return false
	}
	err := a.restoreState(p)
	if err == nil {
		return true
	}
	reset()
	moveAsideReport(path, fmt.Sprintf("activity %q", a.name), err)
	return false
}
