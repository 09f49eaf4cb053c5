package redisstate

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/ring"
)

// Money is never dropped for want of Redis. Recording adds to the pending
// sums of pendingMoney (constant memory per period, cohort cell and
// currency); the activity's goroutine writes them itself, not through the
// store's drop-oldest buffer, and subtracts from the pending sums only
// what Redis acknowledged. A failed write keeps them and is retried with
// backoff. The only loss is at Shutdown, when its deadline passes with
// money not acknowledged: those purchases and refunds are counted on
// kpikit.dropped with reason store_unavailable (a write whose reply was
// lost at the deadline counts as not written, though Redis may have
// applied it).
//
// moneyScript applies one hand-over exactly once per (activity instance,
// sequence), also when its reply was lost and it is sent again. KEYS[1] is
// the instance's guard, which keeps the last applied sequence and what it
// refused; ARGV[1] the sequence, ARGV[2] the guard's expiry in seconds,
// ARGV[3] the counters' expiry in milliseconds, ARGV[4] the number of
// groups. Each group is a count n, then n increments for the next n keys:
// revenue first, then purchases (and refunds). A group whose revenue
// INCRBY Redis refuses (it would overflow, or the key holds something
// else) is not applied at all; the reply lists such groups as pairs
// (group, 1 for overflow or 2 for another error). The keys after the
// groups are the currency markers, set to 1. Every key is in KEYS and
// shares the activity's hash tag, so the script runs in one slot.
const moneyScript = `
local g = redis.call('GET', KEYS[1])
if g then
  local last, rest = string.match(g, '^(%d+):?(.*)$')
  if last and tonumber(ARGV[1]) <= tonumber(last) then
    local out = {}
    if ARGV[1] == last then
      for x in string.gmatch(rest, '[^,]+') do out[#out + 1] = tonumber(x) end
    end
    return out
  end
end
local ttl = ARGV[3]
local k, a = 2, 5
local refused = {}
for i = 1, tonumber(ARGV[4]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local r = redis.pcall('INCRBY', KEYS[k], ARGV[a])
  if type(r) == 'table' and r.err then
    refused[#refused + 1] = i
    if string.find(r.err, 'overflow') then refused[#refused + 1] = 1 else refused[#refused + 1] = 2 end
  else
    redis.call('PEXPIRE', KEYS[k], ttl)
    for j = 1, n - 1 do
      redis.pcall('INCRBY', KEYS[k + j], ARGV[a + j])
      redis.call('PEXPIRE', KEYS[k + j], ttl)
    end
  end
  k = k + n
  a = a + n
end
for j = k, #KEYS do redis.call('SET', KEYS[j], '1', 'PX', ttl) end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. table.concat(refused, ','), 'EX', ARGV[2])
return refused
`

var moneyRedisScript = redis.NewScript(moneyScript)

// moneyGuardTTL is how long the guard of an instance outlives its last
// hand-over: a write retried after a longer outage may apply twice.
const moneyGuardTTL = 7 * 24 * time.Hour

// moneyGroup is the pending money of one period or cell in one currency,
// as a hand-over took it.
type moneyGroup struct {
	p          *pendingMoney
	rev, n, r  int64
	cell       bool
	periodSlot int // cells: the index of the group of the same period and currency in the batch, or -1
}

// moneyBatch is one hand-over: built from the pending sums, written until
// Redis acknowledges it, then subtracted from them.
type moneyBatch struct {
	seq    uint64
	groups []moneyGroup
	keys   []string
	args   []any
}

// moneyWriter is the state of the goroutine's money hand-overs.
type moneyWriter struct {
	guard    string // the guard key of this instance
	seq      uint64
	batch    moneyBatch // pending acknowledgement when len(groups) > 0
	failures int
	next     time.Time // no attempt before
	backoff  redisstore.Backoff
}

func newMoneyWriter(a *activity) moneyWriter {
	var id [8]byte
	_, _ = crand.Read(id[:])
	return moneyWriter{guard: a.store.Key(a.base + "applied:" + hex.EncodeToString(id[:])).String(),
		backoff: redisstore.Backoff{Max: redisstore.DefaultMaxBackoff}}
}

// buildMoney takes the pending money of every dirty period and of its
// cohort's cells into w.batch; it reports false when there is none.
func (a *activity) buildMoney(w *moneyWriter) bool {
	b := &w.batch
	b.groups, b.keys, b.args = b.groups[:0], b.keys[:0], b.args[:0]
	n := a.cur.Len()
	moved := make([]bool, n)
	at := make(map[*pendingMoney]int) // period groups
	var dirty []*ring.Entry[periodKeys]
	a.periods.Each(a.periods.Top(), func(e *ring.Entry[periodKeys]) {
		k := &e.V
		if !k.dirty.Load() {
			return
		}
		k.dirty.Store(false)
		dirty = append(dirty, e)
		for i := range n {
			m := &k.money[i]
			if !m.ready.Load() {
				continue
			}
			rev, np, nr := m.pending.revenue.Load(), m.pending.purchases.Load(), m.pending.refunds.Load()
			if rev == 0 && np == 0 && nr == 0 {
				continue
			}
			at[&m.pending] = len(b.groups)
			b.groups = append(b.groups, moneyGroup{p: &m.pending, rev: rev, n: np, r: nr, periodSlot: -1})
			b.keys = append(b.keys, m.revenue.String(), m.purchases.String(), m.refunds.String())
			b.args = append(b.args, 3, rev, np, nr)
			moved[i] = true
		}
	})
	for _, e := range dirty {
		k := &e.V
		for j := range k.cells {
			cl := k.cells[j].Load()
			if cl == nil {
				continue
			}
			for i := range n {
				m := &cl.money[i]
				if !m.ready.Load() {
					continue
				}
				rev, np := m.pending.revenue.Load(), m.pending.purchases.Load()
				if rev == 0 && np == 0 {
					continue
				}
				// The cell's events are those of period index+j: find its group.
				slot := -1
				if pe := a.periods.Lookup(e.Index + int64(j)); pe != nil {
					if s, ok := at[&pe.V.money[i].pending]; ok {
						slot = s
					}
				}
				b.groups = append(b.groups, moneyGroup{p: &m.pending, rev: rev, n: np, cell: true, periodSlot: slot})
				b.keys = append(b.keys, m.revenue.String(), m.purchases.String())
				b.args = append(b.args, 2, rev, np)
				moved[i] = true
			}
		}
	}
	if len(b.groups) == 0 {
		return false
	}
	if !a.cur.Declared() {
		// Tell the other replicas which currencies hold money, for as long
		// as the money keys live.
		for i := range n {
			if moved[i] {
				b.keys = append(b.keys, a.currencyKey(a.cur.Code(i)).String())
			}
		}
	}
	w.seq++
	b.seq = w.seq
	return true
}

// writeMoney makes one attempt at the pending hand-over, building one
// when none waits, within ctx bounded by redisstore.WriteTimeout. It
// returns nil when nothing is left to write.
func (a *activity) writeMoney(ctx context.Context, w *moneyWriter) error {
	b := &w.batch
	if len(b.groups) == 0 && !a.buildMoney(w) {
		return nil
	}
	ctx, cancel := redisstore.BoundWrite(ctx)
	defer cancel()
	args := make([]any, 0, 4+len(b.args))
	args = append(args, b.seq, int64(moneyGuardTTL/time.Second), max(a.ttl.Milliseconds(), 1), len(b.groups))
	args = append(args, b.args...)
	keys := make([]string, 0, 1+len(b.keys))
	keys = append(keys, w.guard)
	keys = append(keys, b.keys...)
	refused, err := moneyRedisScript.Run(ctx, a.client, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("redisstate: activity %q: writing money: %w", a.name, err)
	}
	a.finMu.Lock()
	defer a.finMu.Unlock()
	if a.abandoned {
		return errShutDown // giveUp counted the batch
	}
	a.settleMoney(w, refused)
	return nil
}

// settleMoney subtracts the acknowledged batch from the pending sums; a
// refused group is dropped and its events counted (amount_overflow, or
// store_unavailable for another refusal). A refused cell counts its
// purchases only when its period's group was applied: otherwise they are
// counted with that group.
func (a *activity) settleMoney(w *moneyWriter, refused []int64) {
	b := &w.batch
	bg := context.Background()
	var overflow, other int64
	bad := make(map[int]int64, len(refused)/2)
	for i := 0; i+1 < len(refused); i += 2 {
		bad[int(refused[i])-1] = refused[i+1]
	}
	for i := range b.groups {
		g := &b.groups[i]
		g.p.sub(g.rev, g.n, g.r)
		code, ok := bad[i]
		if !ok {
			continue
		}
		events := g.n + g.r
		if g.cell {
			if _, periodBad := bad[g.periodSlot]; periodBad {
				events = 0
			}
		}
		if code == 1 {
			overflow += events
		} else {
			other += events
		}
	}
	if overflow > 0 {
		a.drops.Overflow.Add(bg, overflow)
	}
	if other > 0 {
		a.drops.Unavailable.Add(bg, other)
	}
	if len(bad) > 0 {
		otel.Handle(fmt.Errorf("redisstate: activity %q: Redis refused %d money increments (overflow or a key of another type); %d events dropped as amount_overflow, %d as store_unavailable",
			a.name, len(bad), overflow, other))
	}
	clear(b.groups)
	b.groups = b.groups[:0]
}

// sub subtracts an acknowledged hand-over from the pending sums; what was
// recorded meanwhile stays.
func (p *pendingMoney) sub(rev, n, r int64) {
	if rev != 0 && !p.revenue.Add(-rev) {
		// -rev does not fit (rev is MinInt64), or what was recorded
		// after the hand-over sums beyond int64 (amounts near its
		// limit): subtract in two halves, the second refused only in the
		// latter case.
		half := rev / 2
		if !p.revenue.Add(-half) || !p.revenue.Add(-(rev - half)) {
			otel.Handle(errors.New("redisstate: money recorded during a hand-over to Redis does not fit in int64; the pending sum keeps part of the hand-over"))
		}
	}
	if n != 0 {
		p.purchases.Add(-n)
	}
	if r != 0 {
		p.refunds.Add(-r)
	}
}

// failed reports a failed hand-over on the 1st, 2nd, 4th …
// consecutive failure and sets the backoff.
func (w *moneyWriter) failed(err error) {
	w.failures++
	if w.failures&(w.failures-1) == 0 {
		otel.Handle(err)
	}
	w.next = time.Now().Add(w.backoff.Next())
}

func (w *moneyWriter) succeeded() {
	w.failures, w.next = 0, time.Time{}
	w.backoff.Reset()
}

// takePending empties the pending money and returns the purchases and
// refunds it held: recorded and not acknowledged by Redis.
func (a *activity) takePending() int64 {
	var n int64
	nCur := a.cur.Len()
	a.periods.Each(a.periods.Top(), func(e *ring.Entry[periodKeys]) {
		for i := range nCur {
			if m := &e.V.money[i]; m.ready.Load() {
				m.pending.revenue.Swap(0)
				n += m.pending.purchases.Swap(0) + m.pending.refunds.Swap(0)
			}
		}
		for j := range e.V.cells {
			if cl := e.V.cells[j].Load(); cl != nil {
				for i := range nCur {
					cl.money[i].pending.revenue.Swap(0)
					cl.money[i].pending.purchases.Swap(0)
				}
			}
		}
	})
	return n
}

// flushMoney writes what is pending until it is all acknowledged or ctx
// ends; it holds the writer's lock, so that it and the goroutine never
// write at once.
func (a *activity) flushMoney(ctx context.Context) error {
	if !a.moneyMu.lock(ctx) {
		return ctx.Err()
	}
	defer a.moneyMu.unlock()
	w := &a.money
	for {
		err := a.writeMoney(ctx, w)
		if errors.Is(err, errShutDown) {
			return err
		}
		if err == nil {
			w.succeeded()
			if len(w.batch.groups) == 0 && !a.anyDirty() {
				return nil
			}
			continue
		}
		w.failed(err)
		if ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(time.Until(w.next))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		}
	}
}

// anyDirty reports whether a period has money not taken into a hand-over.
func (a *activity) anyDirty() bool {
	dirty := false
	a.periods.Each(a.periods.Top(), func(e *ring.Entry[periodKeys]) {
		dirty = dirty || e.V.dirty.Load()
	})
	return dirty
}
