package customer

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file reports the rolling active-user windows of an Activity: DAU,
// WAU and MAU as the estimate of one daily set and of the unions of the
// last 7 and 30 daily sets, and stickiness DAU/MAU.

// unionCache caches the estimate of a union of daily sets.
type unionCache struct {
	ok   bool
	end  int64
	gen  uint64
	size uint64
}

// windowEnd is the last day of the rolling windows: today by the clock, or
// the latest day with activity when that is later (events are accepted up
// to FutureTolerance ahead of the clock).
func (a *Activity) windowEnd() int64 {
	now := a.clock()
	return max(a.dayOf(now, now.Unix()), a.days.Top())
}

// union returns the estimated distinct users of the days end-n+1 to end.
func (a *Activity) union(c *unionCache, end, n int64) uint64 {
	var sets [ActiveDays]*sketch.Set
	var gen uint64
	k := 0
	for d := end - n + 1; d <= end; d++ {
		if e := a.days.Lookup(d); e != nil {
			gen += e.V.Generation() + 1
			sets[k] = &e.V
			k++
		}
	}
	if c.ok && c.end == end && c.gen == gen {
		return c.size
	}
	var size uint64
	switch k {
	case 0:
	case 1:
		size = sets[0].Estimate()
	default:
		size = sketch.Union(sets[:k]...).Estimate()
	}
	*c = unionCache{ok: true, end: end, gen: gen, size: size}
	return size
}

func (a *Activity) observeActive(o metric.Observer) {
	if a.days.Top() == ring.NoTop {
		return
	}
	end := a.windowEnd()
	var dau uint64
	if e := a.days.Lookup(end); e != nil {
		dau = e.V.Estimate()
	}
	wau := a.union(&a.wau, end, 7)
	mau := a.union(&a.mau, end, ActiveDays)
	o.ObserveInt64(a.activeUsers, int64(dau), a.winOpts[0]...)
	o.ObserveInt64(a.activeUsers, int64(wau), a.winOpts[1]...)
	o.ObserveInt64(a.activeUsers, int64(mau), a.winOpts[2]...)
	if mau > 0 {
		o.ObserveFloat64(a.stickiness, ratio(dau, mau), a.nameOpt...)
	}
}
