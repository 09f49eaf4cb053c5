package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

// summary turns the collected metrics into one line a person reads at a
// glance. It reads the same metrics the exporters ship, through a manual
// reader of its own, and the SLOs' error budgets from the recorders that
// count them.
type summary struct {
	reader *sdkmetric.ManualReader
	shop   *shop
	mw     *operational.Middleware // nil: no HTTP SLOs on the line

	last      time.Time
	lastCount uint64
	lastErrs  uint64
	lastBkts  []uint64
}

// stats are the figures of one summary line. Each has its window, and the
// line names it: the last few seconds, the whole run, the simulated day, or
// the horizonDays days the shop's activity keeps.
type stats struct {
	Window      time.Duration // since the last line
	Requests    uint64        // served since the start
	PerSecond   float64       // served per second since the last line
	P50, P95    float64       // seconds, since the last line
	ErrorRate   float64       // 5xx and panics, since the last line
	FunnelUsers []int64       // users per funnel step, since the start
	Conversion  float64       // pay / visit, since the start
	PaidRate    float64       // cart_to_paid goal conversion, since the start
	Impaired    int64         // funnel attempts a failed request impaired, since the start
	Lost        float64       // conversions the failures cost, estimated, since the start
	AtRisk      float64       // dollars: Lost at today's ARPPU
	DAU         int64         // distinct users today
	ARPU        float64       // dollars per active user, today
	RevToday    float64       // dollars, today
	Retention1  float64       // day-1 retention, mean over the kept cohorts that have a day 1
	RevHorizon  float64       // dollars over the kept days
	SLOs        []slo.Status  // in the order of the shop's SLOs, those attached to a recorder
}

func (s *summary) collect(ctx context.Context) (stats, error) {
	// Today's period label, as the activity (daily periods in UTC) names it.
	// At a day boundary the collection may already see the next day.
	today := s.shop.clock.Now().UTC().Format(time.DateOnly)
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(ctx, &rm); err != nil {
		return stats{}, err
	}
	var st stats
	st.FunnelUsers = make([]int64, len(steps))
	var count, errs uint64
	var bounds []float64
	var bkts []uint64
	var exposed, converted int64
	var retSum float64
	var retN int
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case operational.MetricServerRequestDuration:
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok {
					continue
				}
				for _, dp := range h.DataPoints {
					count += dp.Count
					if _, failed := dp.Attributes.Value("error.type"); failed {
						errs += dp.Count
					}
					if bkts == nil {
						bounds, bkts = dp.Bounds, make([]uint64, len(dp.BucketCounts))
					}
					for i, c := range dp.BucketCounts {
						if i < len(bkts) {
							bkts[i] += c
						}
					}
				}
			case customer.MetricFunnelUsers:
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if v, ok := dp.Attributes.Value("funnel.step.index"); ok && int(v.AsInt64()) <= len(steps) {
						st.FunnelUsers[v.AsInt64()-1] += dp.Value
					}
				}
			case customer.MetricFunnelImpairedStepUsers:
				// Every impaired attempt reached the first step: its
				// count there is the impaired attempts of the row.
				if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
					for _, dp := range sum.DataPoints {
						if v, _ := dp.Attributes.Value("funnel.step.index"); v.AsInt64() == 1 {
							st.Impaired += dp.Value
						}
					}
				}
			case customer.MetricFunnelLostUsers:
				if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
					for _, dp := range g.DataPoints {
						st.Lost += dp.Value
					}
				}
			case customer.MetricRevenueAtRisk:
				if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
					for _, dp := range g.DataPoints {
						if c, _ := dp.Attributes.Value("currency"); c.AsString() == "USD" {
							st.AtRisk += dp.Value
						}
					}
				}
			case customer.MetricGoalExposedUsers:
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					exposed += dp.Value
				}
			case customer.MetricGoalConvertedUsers:
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					converted += dp.Value
				}
			case customer.MetricActiveUsers:
				for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					if v, _ := dp.Attributes.Value("active.window"); v.AsString() == "1d" {
						st.DAU = dp.Value
					}
				}
			case customer.MetricRetentionRatio:
				for _, dp := range m.Data.(metricdata.Gauge[float64]).DataPoints {
					off, _ := dp.Attributes.Value("cohort.offset")
					mode, _ := dp.Attributes.Value("retention.mode")
					if off.AsInt64() == 1 && mode.AsString() == "on" {
						retSum += dp.Value
						retN++
					}
				}
			case customer.MetricRevenueAmount:
				for _, dp := range m.Data.(metricdata.Gauge[float64]).DataPoints {
					st.RevHorizon += dp.Value
					if p, _ := dp.Attributes.Value("period"); p.AsString() == today {
						st.RevToday += dp.Value
					}
				}
			case customer.MetricRevenueARPU:
				for _, dp := range m.Data.(metricdata.Gauge[float64]).DataPoints {
					if p, _ := dp.Attributes.Value("period"); p.AsString() == today {
						st.ARPU = dp.Value
					}
				}
			}
		}
	}
	now := time.Now()
	st.Requests = count
	dCount := count - s.lastCount
	if !s.last.IsZero() {
		st.Window = now.Sub(s.last)
		st.PerSecond = float64(dCount) / st.Window.Seconds()
	}
	if dCount > 0 {
		st.ErrorRate = float64(errs-s.lastErrs) / float64(dCount)
	}
	delta := make([]uint64, len(bkts))
	for i := range bkts {
		delta[i] = bkts[i]
		if i < len(s.lastBkts) {
			delta[i] -= s.lastBkts[i]
		}
	}
	st.P50, st.P95 = quantile(bounds, delta, 0.50), quantile(bounds, delta, 0.95)
	if st.FunnelUsers[0] > 0 {
		st.Conversion = float64(st.FunnelUsers[len(steps)-1]) / float64(st.FunnelUsers[0])
	}
	if retN > 0 {
		st.Retention1 = retSum / float64(retN)
	}
	if exposed > 0 {
		st.PaidRate = float64(converted) / float64(exposed)
	}
	s.last, s.lastCount, s.lastErrs, s.lastBkts = now, count, errs, bkts
	st.SLOs = s.sloStatus()
	return st, nil
}

// sloStatus returns the status of the shop's SLOs that a recorder counts,
// in the order they are declared.
func (s *summary) sloStatus() []slo.Status {
	byName := map[string]slo.Status{}
	for _, st := range slices.Concat(s.mw.SLOStatus(), s.shop.query.SLOStatus(), s.shop.paid.SLOStatus()) {
		byName[st.SLO.Name] = st
	}
	var out []slo.Status
	for _, d := range s.shop.slos {
		if st, ok := byName[d.Name]; ok {
			out = append(out, st)
		}
	}
	return out
}

// quantile estimates the q-quantile of an explicit-bucket histogram by
// linear interpolation inside the bucket that holds it.
func quantile(bounds []float64, counts []uint64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range counts {
		if seen+float64(c) >= rank && c > 0 {
			lo, hi := 0.0, bounds[len(bounds)-1]
			if i > 0 {
				lo = bounds[i-1]
			}
			if i < len(bounds) {
				hi = bounds[i]
			}
			return lo + (hi-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return bounds[len(bounds)-1]
}

// print writes the line, each group of figures after the name of its
// window, and last the error budget each SLO has left of its window, with
// the alert that fires, if one does:
//
// The cost of failures is since the start too: the funnel attempts that
// a failed request impaired, the conversions they are estimated to have
// lost, and those priced at today's ARPPU.
//
//	day 3   last 5s: 88.7 req/s  p50 15.4ms  p95 53.4ms  errors 3.4% | since start: visit→pay 7.14%  cart→paid 33.3%  impaired 41  lost 2.3  at risk $61.15 | today: DAU 9  ARPU $0.54  revenue $4.90 | last 30 days: day-1 retention 20.8%  revenue $96.90 | budget left: availability 31.8%  pay-availability 40.2%  latency 30.5%  db-query-latency 52.9%
func (s *summary) print(w io.Writer, st stats) {
	fmt.Fprintf(w, "day %-3d last %s: %6.1f req/s  p50 %5.1fms  p95 %6.1fms  errors %4.1f%%"+
		" | since start: visit→pay %5.2f%%  cart→paid %4.1f%%  impaired %d  lost %.1f  at risk $%.2f"+
		" | today: DAU %d  ARPU $%.2f  revenue $%.2f"+
		" | last %d days: day-1 retention %5.1f%%  revenue $%.2f%s\n",
		s.shop.clock.Day(), window(st.Window), st.PerSecond, st.P50*1000, st.P95*1000, st.ErrorRate*100,
		st.Conversion*100, st.PaidRate*100, st.Impaired, st.Lost, st.AtRisk,
		st.DAU, st.ARPU, st.RevToday,
		horizonDays, st.Retention1*100, st.RevHorizon, budgets(st.SLOs))
}

// budgets formats the error budget left of each SLO, a share of the budget
// of its window that is negative once overspent, followed by "PAGE" or
// "ticket" while an alert of that severity fires.
func budgets(slos []slo.Status) string {
	if len(slos) == 0 {
		return ""
	}
	parts := make([]string, len(slos))
	for i, st := range slos {
		parts[i] = fmt.Sprintf("%s %.1f%%", st.SLO.Name, st.BudgetRemaining*100)
		switch {
		case st.Page:
			parts[i] += " PAGE"
		case st.Ticket:
			parts[i] += " ticket"
		}
	}
	return " | budget left: " + strings.Join(parts, "  ")
}

// window formats the time since the last line: whole seconds, or tenths
// under ten seconds.
func window(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
