package customer

import "go.opentelemetry.io/otel/metric"

// This file reports the per-period figures of an Activity: active users,
// and per currency revenue, purchases, refunds, paying users, ARPU and
// ARPPU. Amounts are kept as exact int64 totals in the currency's scale
// and turned into float64 major units only here.

// observePeriod reports the period of e.
func (a *Activity) observePeriod(o metric.Observer, e *entry[periodState], v *periodView) {
	active := e.v.active.Estimate()
	o.ObserveInt64(a.periodUsers, int64(active), v.period...)
	for i, u := range a.units {
		pm := &e.v.money[i]
		n, r := pm.purchases.Load(), pm.refunds.Load()
		if n == 0 && r == 0 && active == 0 {
			continue
		}
		opt := v.money[i]
		rev := u.Float(pm.revenue.Load())
		paying := pm.paying.Estimate()
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
}
