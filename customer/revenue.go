package customer

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/money"
)

// This file reports the per-period figures of an Activity: active users,
// and per currency revenue, purchases, refunds, paying users, ARPU and
// ARPPU. Amounts are kept as exact int64 totals in the currency's scale
// and turned into float64 major units only here.

// observePeriod reports the period of e.
func (a *Activity) observePeriod(o metric.Observer, e *entry[periodState], v *periodView) {
	active := e.v.active.Estimate()
	o.ObserveInt64(a.periodUsers, int64(active), v.period...)
	for i := range v.money {
		pm := &e.v.money[i]
		n, r := pm.purchases.Load(), pm.refunds.Load()
		if n == 0 && r == 0 && active == 0 {
			continue
		}
		a.observeMoney(o, v.money[i], a.cur.unit(i), pm.revenue.Load(), n, r, pm.paying.Estimate(), active)
	}
}

// observeMoney reports one currency's figures of a period: revenue
// (revUnits in u's scale), purchases n, refunds r, paying users, and ARPU
// and ARPPU over active and paying users. The memory and the Redis state
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
	if paying > 0 {
		o.ObserveFloat64(a.arppu, rev/float64(paying), opt...)
	}
}
