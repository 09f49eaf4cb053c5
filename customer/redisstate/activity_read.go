package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file reads the figures of an activity: two pipelined round trips,
// PFCOUNT of unions of sets, GET of their companions (activity_sparse.go)
// and MGET of money counters.

// readPeriod is what Read asks about one period index.
type readPeriod struct {
	index           int64
	k               *periodKeys
	days            []string // key names of the period's days
	cells           []string // key names of the cohort's cells
	active, members *redis.IntCmd
	paying          []*redis.IntCmd
	money           *redis.SliceCmd // revenue, purchases, refunds per currency
	// The estimates of the union of the companions of the cells k to
	// the last, and whether they can count it.
	ooa   []uint64
	ooaOK []bool
}

// readCell is what Read asks about one cohort at one offset.
type readCell struct {
	on, onOrAfter *redis.IntCmd
	money         *redis.SliceCmd // revenue, purchases per currency
}

// Read implements shared.Activity: the periods of the horizon that ends
// at q.Top, as every replica sees them.
func (a *activity) Read(ctx context.Context, q shared.ActivityQuery) (*shared.ActivityFigures, error) {
	a.readMu.Lock()
	defer a.readMu.Unlock()
	ctx, cancel := redisstore.Bound(ctx)
	defer cancel()
	a.forget()
	if err := a.discoverCurrencies(ctx); err != nil {
		return nil, err
	}
	nCur := a.cur.Len()
	top := q.Top
	pipe := a.client.Pipeline()
	comp := newCompanions(a)
	var ps []readPeriod
	for i := top - a.periods.Len() + 1; i <= top; i++ {
		ke := a.periods.Get(i)
		if ke == nil {
			continue
		}
		k := &ke.V
		rp := readPeriod{index: i, k: k, days: a.dayNames(k, i), cells: cellNames(k, top-i)}
		rp.active, rp.members = pipe.PFCount(ctx, rp.days...), pipe.PFCount(ctx, rp.cells...)
		if !k.activeLarge.Load() {
			first := a.firstDay(i)
			for j, name := range rp.days {
				comp.get(ctx, pipe, name, a.daySent(first+int64(j)))
			}
		}
		for off, name := range rp.cells {
			comp.get(ctx, pipe, name, &k.cell(int64(off)).sent)
		}
		if nCur > 0 {
			names := make([]string, 0, 3*nCur)
			for i := range nCur {
				m := k.moneyFor(i)
				rp.paying = append(rp.paying, pipe.PFCount(ctx, m.paying.String()))
				comp.get(ctx, pipe, m.paying.String(), &m.sent)
				names = append(names, m.revenue.String(), m.purchases.String(), m.refunds.String())
			}
			rp.money = pipe.MGet(ctx, names...)
		}
		ps = append(ps, rp)
	}
	// The rolling windows: the days end-n+1 to end, newest first.
	end := max(q.Today, a.days.Top())
	var window []string
	var windowDays []int64
	for d := end; d > end-shared.ActiveDays; d-- {
		if e := a.days.Get(d); e != nil {
			window, windowDays = append(window, e.V.k.String()), append(windowDays, d)
			comp.get(ctx, pipe, e.V.k.String(), &e.V.sent)
		}
	}
	// windowLen is the number of days of window among the last n.
	windowLen := func(n int64) int {
		k := 0
		for k < len(windowDays) && windowDays[k] > end-n {
			k++
		}
		return k
	}
	windowCount := func(n int64) *redis.IntCmd { return pipe.PFCount(ctx, window[:windowLen(n)]...) }
	dau, wau, mau := windowCount(1), windowCount(7), windowCount(shared.ActiveDays)
	if err := execRead(ctx, pipe); err != nil {
		return nil, fmt.Errorf("redisstate: activity %q: reading Redis: %w", a.name, err)
	}

	// The members of a cohort are the union of its cells; the second
	// round trip reads the cells of the cohorts that have members.
	cells := make([][]readCell, len(ps))
	members := make([]uint64, len(ps))
	pipe = a.client.Pipeline()
	for j := range ps {
		rp := &ps[j]
		rp.ooa, rp.ooaOK = make([]uint64, len(rp.cells)), make([]bool, len(rp.cells))
		u := union{c: comp}
		for k := len(rp.cells) - 1; k >= 0; k-- {
			u.add(rp.cells[k])
			rp.ooa[k], rp.ooaOK[k] = u.estimate()
		}
		if len(rp.cells) > 0 {
			members[j] = comp.figure(rp.ooa[0], rp.ooaOK[0], rp.members.Val())
		}
		if members[j] == 0 {
			continue
		}
		last := top - rp.index
		for k := int64(0); k <= last; k++ {
			ck := rp.k.cell(k)
			rc := readCell{on: pipe.PFCount(ctx, rp.cells[k]), onOrAfter: pipe.PFCount(ctx, rp.cells[k:]...)}
			if nCur > 0 {
				mn := make([]string, 0, 2*nCur)
				for i := range nCur {
					m := ck.moneyFor(a, i)
					mn = append(mn, m.revenue.String(), m.purchases.String())
				}
				rc.money = pipe.MGet(ctx, mn...)
			}
			cells[j] = append(cells[j], rc)
		}
	}
	if len(pipe.Cmds()) > 0 {
		if err := execRead(ctx, pipe); err != nil {
			return nil, fmt.Errorf("redisstate: activity %q: reading Redis: %w", a.name, err)
		}
	} else {
		pipe.Discard()
	}

	var errs []error
	f := &shared.ActivityFigures{Periods: make([]shared.PeriodFigures, len(ps))}
	u := union{c: comp}
	n := 0
	for _, win := range []struct {
		days int64
		pf   *redis.IntCmd
		dst  *uint64
	}{{1, dau, &f.DAU}, {7, wau, &f.WAU}, {shared.ActiveDays, mau, &f.MAU}} {
		for ; n < windowLen(win.days); n++ {
			u.add(window[n])
		}
		est, ok := u.estimate()
		*win.dst = comp.figure(est, ok, win.pf.Val())
	}
	for j := range ps {
		rp := &ps[j]
		p := &f.Periods[j]
		p.Index, p.Members = rp.index, members[j]
		p.Active = comp.count(rp.active.Val(), rp.days...)
		if rp.active.Val() >= largeUnion {
			rp.k.activeLarge.Store(true)
		}
		vals, err := ints(rp.money)
		if err == nil && len(vals) >= 3*nCur {
			p.Money = make([]shared.Money, nCur)
			for i := range p.Money {
				p.Money[i] = shared.Money{Revenue: vals[3*i], Purchases: vals[3*i+1], Refunds: vals[3*i+2],
					Paying: comp.count(rp.paying[i].Val(), rp.k.moneyFor(i).paying.String())}
			}
		}
		errs = append(errs, err)
		if len(cells[j]) > 0 {
			p.Cells = make([]shared.CellFigures, len(cells[j]))
		}
		for k, rc := range cells[j] {
			c := &p.Cells[k]
			c.On = comp.count(rc.on.Val(), rp.cells[k])
			c.OnOrAfter = comp.figure(rp.ooa[k], rp.ooaOK[k], rc.onOrAfter.Val())
			vals, err := ints(rc.money)
			if err != nil || len(vals) < 2*nCur {
				errs = append(errs, err)
				continue
			}
			c.Money = make([]shared.Money, nCur)
			for i := range c.Money {
				c.Money[i] = shared.Money{Revenue: vals[2*i], Purchases: vals[2*i+1]}
			}
		}
	}
	return f, errors.Join(append(errs, comp.errs...)...)
}

// execRead runs the commands of a read. A companion's GET may fail on its
// own (absent, or another type): its companion reports it.
func execRead(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && (c.Name() != "get" || !redisstore.Permanent(e) && !errors.Is(e, redis.Nil)) {
			return e
		}
	}
	return nil
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
			return nil, fmt.Errorf("redisstate: Redis key %q holds %q, not an integer", c.Args()[i+1], s)
		}
		out[i] = n
	}
	return out, nil
}

// discoverCurrencies gives a slot to every currency that another replica
// took (see buildMoney), so that every replica reports the same
// currencies. It is one MGET, without declared currencies only.
func (a *activity) discoverCurrencies(ctx context.Context) error {
	if a.cur.Declared() || a.cur.Len() >= a.cur.Slots() {
		return nil
	}
	vals, err := a.client.MGet(ctx, a.curKeys...).Result()
	if err != nil {
		return fmt.Errorf("redisstate: activity %q: reading Redis: %w", a.name, err)
	}
	for i, v := range vals {
		if v != nil && i < len(a.codes) {
			a.cur.Take(a.codes[i])
		}
	}
	return nil
}

// firstDay returns the index of the first day of period index i.
func (a *activity) firstDay(i int64) int64 { return period.Day.Index(a.unit.Start(i, a.loc), a.loc) }

// daySent returns what this replica sent to the key of day d, or nil.
func (a *activity) daySent(d int64) *sentSet {
	if e := a.days.Lookup(d); e != nil {
		return &e.V.sent
	}
	return nil
}

// dayNames returns the key names of the days of period index i.
func (a *activity) dayNames(k *periodKeys, i int64) []string {
	if k.days == nil {
		first := a.firstDay(i)
		last := a.firstDay(i+1) - 1
		for d := first; d <= last; d++ {
			k.days = append(k.days, a.store.Key(a.dayName(d)).String())
		}
	}
	return k.days
}

// cellNames returns the key names of the cells 0 to last of k's cohort,
// creating their keys.
func cellNames(k *periodKeys, last int64) []string {
	names := make([]string, last+1)
	for off := range names {
		names[off] = k.cell(int64(off)).users.String()
	}
	return names
}
