package customer

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/money"
	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file reports the cohort figures of an Activity: cohort size,
// retention in the modes on and on_or_after, cohort revenue, purchases and
// LTV per offset. Collection runs under Activity.col.mu, which guards
// every periodView.

// Retention modes, the values of the retention.mode attribute.
const (
	// RetentionOn counts the users of a cohort active in the period at the
	// offset.
	RetentionOn = "on"
	// RetentionOnOrAfter counts the users of a cohort active in the period
	// at the offset or in any later one.
	RetentionOnOrAfter = "on_or_after"
)

// periodView holds the prebuilt attribute sets of one period index and the
// cached on_or_after estimates of its cohort.
type periodView struct {
	built   bool
	label   string                   // of the period, and of the cohort
	period  []metric.ObserveOption   // activity, period
	money   [][]metric.ObserveOption // activity, period, currency; one per currency slot in use
	cohort  []metric.ObserveOption   // activity, cohort
	offsets []offsetView

	ooaOK   bool
	ooaGen  uint64
	ooaLast int64
	ooa     []uint64 // on_or_after users by offset
}

// offsetView holds the attribute sets of one cohort offset.
type offsetView struct {
	on, onOrAfter []metric.ObserveOption   // activity, cohort, cohort.offset, retention.mode
	money         [][]metric.ObserveOption // activity, cohort, cohort.offset, currency; as periodView.money
}

func observeOpt(kv ...attribute.KeyValue) []metric.ObserveOption {
	return []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// view returns the attribute sets of e, building them once, with those of
// offsets 0 to last and of every currency slot in use.
func (a *Activity) view(e *ring.Entry[periodState], last int64) *periodView {
	v := &e.V.view
	if !v.built {
		v.label = a.unit.Label(a.unit.Start(e.Index, a.loc), a.loc)
		v.period = observeOpt(a.nameAttr, periodKey.String(v.label))
		v.cohort = observeOpt(a.nameAttr, cohortKey.String(v.label))
		v.built = true
	}
	n := a.cur.len()
	for i := len(v.money); i < n; i++ {
		code := currencyKey.String(a.cur.unit(i).Currency())
		v.money = append(v.money, observeOpt(a.nameAttr, periodKey.String(v.label), code))
	}
	c := cohortKey.String(v.label)
	for k := int64(len(v.offsets)); k <= last; k++ {
		off := offsetKey.Int64(k)
		v.offsets = append(v.offsets, offsetView{
			on:        observeOpt(a.nameAttr, c, off, modeKey.String(RetentionOn)),
			onOrAfter: observeOpt(a.nameAttr, c, off, modeKey.String(RetentionOnOrAfter)),
		})
	}
	for k := range v.offsets {
		ov := &v.offsets[k]
		for i := len(ov.money); i < n; i++ {
			code := currencyKey.String(a.cur.unit(i).Currency())
			ov.money = append(ov.money, observeOpt(a.nameAttr, c, offsetKey.Int64(int64(k)), code))
		}
	}
	return v
}

func (a *Activity) observe(ctx context.Context, o metric.Observer) error {
	if a.st != nil {
		o.ObserveInt64(a.tracked, a.seen.n.Load(), a.nameOpt...)
		return a.observeShared(ctx, o)
	}
	top := a.periods.Top()
	a.periods.Each(top, func(e *ring.Entry[periodState]) {
		v := a.view(e, top-e.Index)
		a.observePeriod(o, e, v)
		a.observeCohort(o, e, v, top-e.Index)
	})
	a.observeActive(o)
	o.ObserveInt64(a.tracked, a.seen.n.Load(), a.nameOpt...)
	return nil
}

// observeCohort reports the cohort of e at offsets 0 to last.
func (a *Activity) observeCohort(o metric.Observer, e *ring.Entry[periodState], v *periodView, last int64) {
	size := e.V.members.Estimate()
	if size == 0 {
		return
	}
	o.ObserveInt64(a.cohortSize, int64(size), v.cohort...)
	ooa := a.onOrAfter(e, v, last)
	var cum [MaxCurrencies]int64
	var overflow [MaxCurrencies]bool
	for k := int64(0); k <= last; k++ {
		ov := &v.offsets[k]
		cl := e.V.cells[k].Load()
		var on uint64
		if cl != nil {
			on = cl.users.Estimate()
		}
		a.observeRetention(o, ov, on, ooa[k], size)
		for i := range v.money {
			var rev, n int64
			if cl != nil {
				rev, n = cl.money[i].revenue.Load(), cl.money[i].purchases.Load()
			}
			a.observeCohortMoney(o, ov.money[i], a.cur.unit(i), rev, n, size, &cum[i], &overflow[i])
		}
	}
}

// observeRetention reports the retained users and ratios of one cohort
// offset: on users active in the period, ooa active in it or later.
func (a *Activity) observeRetention(o metric.Observer, ov *offsetView, on, ooa, size uint64) {
	o.ObserveInt64(a.retUsers, int64(on), ov.on...)
	o.ObserveInt64(a.retUsers, int64(ooa), ov.onOrAfter...)
	o.ObserveFloat64(a.retRatio, ratio(on, size), ov.on...)
	o.ObserveFloat64(a.retRatio, ratio(ooa, size), ov.onOrAfter...)
}

// observeCohortMoney reports one currency of one cohort offset: revenue
// rev (in u's scale) and purchases n, and the LTV from the running total
// *cum, which stops being reported once it would overflow (*overflow).
func (a *Activity) observeCohortMoney(o metric.Observer, opt []metric.ObserveOption, u money.Unit, rev, n int64, size uint64, cum *int64, overflow *bool) {
	o.ObserveFloat64(a.cohortRevenue, u.Float(rev), opt...)
	o.ObserveInt64(a.cohortPurchases, n, opt...)
	if !*overflow {
		sum, ok := money.Add(*cum, rev)
		*cum, *overflow = sum, !ok
	}
	if !*overflow {
		o.ObserveFloat64(a.ltv, u.Float(*cum)/float64(size), opt...)
	}
}

// ratio is n/size, at most 1: distinct-count estimates of a part and of
// the whole can disagree slightly once they are dense.
func ratio(n, size uint64) float64 {
	return min(float64(n)/float64(size), 1)
}

// onOrAfter returns, for each offset k up to last, the estimated number of
// users of e's cohort active at offset k or later: the estimate of the
// union of the cells k to last. It is recomputed only when a cell changed.
func (a *Activity) onOrAfter(e *ring.Entry[periodState], v *periodView, last int64) []uint64 {
	var gen uint64
	for k := int64(0); k <= last; k++ {
		if cl := e.V.cells[k].Load(); cl != nil {
			gen += cl.users.Generation() + 1
		}
	}
	if v.ooaOK && v.ooaGen == gen && v.ooaLast == last {
		return v.ooa
	}
	v.ooa = append(v.ooa[:0], make([]uint64, last+1)...)
	acc := new(sketch.Set)
	for k := last; k >= 0; k-- {
		if cl := e.V.cells[k].Load(); cl != nil {
			acc.Merge(&cl.users)
		}
		v.ooa[k] = acc.Estimate()
	}
	v.ooaOK, v.ooaGen, v.ooaLast = true, gen, last
	return v.ooa
}
