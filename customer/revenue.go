package customer

import (
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/money"
	"github.com/kpikit/kpikit/internal/ring"
)

// This file reports the per-period figures of an Activity: active users,
// and per currency revenue, purchases, refunds, paying users, ARPU and
// ARPPU; the ARPPU of the current period also prices a funnel's lost
// users (WithRevenueFrom). Amounts are kept as exact int64 totals in the currency's scale
// and turned into float64 major units only here.

// observePeriod reports the period of e.
func (a *Activity) observePeriod(o metric.Observer, e *ring.Entry[periodState], v *periodView) {
	active := e.V.active.Estimate()
	o.ObserveInt64(a.periodUsers, int64(active), v.period...)
	for i := range v.money {
		rev, n, r, paying := moneyOf(e, i)
		if n == 0 && r == 0 && active == 0 {
			continue
		}
		a.observeMoney(o, v.money[i], a.cur.unit(i), rev, n, r, paying, active)
	}
}

// moneyOf returns the money of the period of e in currency slot i:
// revenue (in the currency's scale), purchases, refunds and paying users.
func moneyOf(e *ring.Entry[periodState], i int) (revUnits, n, r int64, paying uint64) {
	pm := &e.V.money[i]
	return pm.revenue.Load(), pm.purchases.Load(), pm.refunds.Load(), pm.paying.Estimate()
}

// arppu returns the average revenue per paying user, in major units of u,
// of revUnits (in u's scale) over paying users; false when there are none.
func arppu(u money.Unit, revUnits int64, paying uint64) (float64, bool) {
	if paying == 0 {
		return 0, false
	}
	return u.Float(revUnits) / float64(paying), true
}

// currentARPPU calls fn with the ARPPU of each currency that has paying
// users in the current period: the period of the clock, or the newest
// period with an event when later. A currency without paying users in it
// yet (a period that just began) takes the ARPPU of the newest kept
// period that has some, so that the price of a lost conversion does not
// fall to nothing at each period's start. With a shared state it is the
// ARPPU the recorder's latest collection read. It is safe to call
// concurrently with recording and with the recorder's collection.
func (a *Activity) currentARPPU(fn func(currency string, arppu float64)) {
	if a.st != nil {
		a.current.each(a.cur, fn)
		return
	}
	now := a.clock()
	cur := max(a.periodOf(a.dayOf(now, now.Unix())), a.periods.Top())
	for i := range a.cur.len() {
		u := a.cur.unit(i)
		for p := cur; p > cur-a.horizon; p-- {
			e := a.periods.Lookup(p)
			if e == nil {
				continue
			}
			rev, _, _, paying := moneyOf(e, i)
			if v, ok := arppu(u, rev, paying); ok {
				fn(u.Currency(), v)
				break
			}
		}
	}
}

// currentMoney is the revenue and paying users per currency slot of the
// current period, as a collection of an activity in a shared state read
// them.
type currentMoney struct {
	mu     sync.Mutex
	n      int // currency slots read
	rev    [MaxCurrencies]int64
	paying [MaxCurrencies]uint64
}

// set keeps the money of slots 0 to n-1: revUnits(i) and paying(i).
func (c *currentMoney) set(n int, revUnits func(int) int64, paying func(int) uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = n
	for i := range n {
		c.rev[i], c.paying[i] = revUnits(i), paying(i)
	}
}

// each calls fn with the ARPPU of each currency with paying users.
func (c *currentMoney) each(cur *currencies, fn func(currency string, arppu float64)) {
	c.mu.Lock()
	n, rev, paying := c.n, c.rev, c.paying
	c.mu.Unlock()
	for i := range min(n, cur.len()) {
		u := cur.unit(i)
		if v, ok := arppu(u, rev[i], paying[i]); ok {
			fn(u.Currency(), v)
		}
	}
}

// observeMoney reports one currency's figures of a period: revenue
// (revUnits in u's scale), purchases n, refunds r, paying users, and ARPU
// and ARPPU over active and paying users. The memory and the shared state
// both report through it.
func (a *Activity) observeMoney(o metric.Observer, opt []metric.ObserveOption, u money.Unit, revUnits, n, r int64, paying, active uint64) {
	rev := u.Float(revUnits)
	o.ObserveFloat64(a.revenue, rev, opt...)
	o.ObserveInt64(a.purchases, n, opt...)
	o.ObserveInt64(a.refunds, r, opt...)
	o.ObserveInt64(a.paying, int64(paying), opt...)
	if active > 0 {
		o.ObserveFloat64(a.arpu, rev/float64(active), opt...)
	}
	if v, ok := arppu(u, revUnits, paying); ok {
		o.ObserveFloat64(a.arppu, v, opt...)
	}
}
