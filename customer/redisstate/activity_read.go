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
// PFCOUNT of unions of sets and MGET of money counters.

// readPeriod is what Read asks about one period index.
type readPeriod struct {
	index           int64
	k               *periodKeys
	active, members *redis.IntCmd
	paying          []*redis.IntCmd
	money           *redis.SliceCmd // revenue, purchases, refunds per currency
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
	var ps []readPeriod
	for i := top - a.periods.Len() + 1; i <= top; i++ {
		ke := a.periods.Get(i)
		if ke == nil {
			continue
		}
		k := &ke.V
		rp := readPeriod{index: i, k: k, active: pipe.PFCount(ctx, a.dayNames(k, i)...),
			members: pipe.PFCount(ctx, cellNames(k, top-i)...)}
		if nCur > 0 {
			names := make([]string, 0, 3*nCur)
			for i := range nCur {
				m := k.moneyFor(i)
				rp.paying = append(rp.paying, pipe.PFCount(ctx, m.paying.String()))
				names = append(names, m.revenue.String(), m.purchases.String(), m.refunds.String())
			}
			rp.money = pipe.MGet(ctx, names...)
		}
		ps = append(ps, rp)
	}
	end := max(q.Today, a.days.Top())
	window := func(n int64) *redis.IntCmd {
		names := make([]string, 0, n)
		for d := end - n + 1; d <= end; d++ {
			if e := a.days.Get(d); e != nil {
				names = append(names, e.V.k.String())
			}
		}
		return pipe.PFCount(ctx, names...)
	}
	dau, wau, mau := window(1), window(7), window(shared.ActiveDays)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstate: activity %q: reading Redis: %w", a.name, err)
	}

	// Second round trip: the cells of the cohorts that have members.
	cells := make([][]readCell, len(ps))
	pipe = a.client.Pipeline()
	for j := range ps {
		rp := &ps[j]
		if rp.members.Val() == 0 {
			continue
		}
		last := top - rp.index
		names := cellNames(rp.k, last)
		for k := int64(0); k <= last; k++ {
			ck := rp.k.cell(k)
			rc := readCell{on: pipe.PFCount(ctx, names[k]), onOrAfter: pipe.PFCount(ctx, names[k:]...)}
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
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstate: activity %q: reading Redis: %w", a.name, err)
		}
	} else {
		pipe.Discard()
	}

	var errs []error
	f := &shared.ActivityFigures{Periods: make([]shared.PeriodFigures, len(ps)),
		DAU: uint64(dau.Val()), WAU: uint64(wau.Val()), MAU: uint64(mau.Val())}
	for j := range ps {
		rp := &ps[j]
		p := &f.Periods[j]
		p.Index, p.Active, p.Members = rp.index, uint64(rp.active.Val()), uint64(rp.members.Val())
		vals, err := ints(rp.money)
		if err == nil && len(vals) >= 3*nCur {
			p.Money = make([]shared.Money, nCur)
			for i := range p.Money {
				p.Money[i] = shared.Money{Revenue: vals[3*i], Purchases: vals[3*i+1], Refunds: vals[3*i+2],
					Paying: uint64(rp.paying[i].Val())}
			}
		}
		errs = append(errs, err)
		if len(cells[j]) > 0 {
			p.Cells = make([]shared.CellFigures, len(cells[j]))
		}
		for k, rc := range cells[j] {
			c := &p.Cells[k]
			c.On, c.OnOrAfter = uint64(rc.on.Val()), uint64(rc.onOrAfter.Val())
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
	return f, errors.Join(errs...)
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

// dayNames returns the key names of the days of period index i.
func (a *activity) dayNames(k *periodKeys, i int64) []string {
	if k.days == nil {
		first := period.Day.Index(a.unit.Start(i, a.loc), a.loc)
		last := period.Day.Index(a.unit.Start(i+1, a.loc), a.loc) - 1
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
