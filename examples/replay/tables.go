package main

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/internal/selfobs"
)

// output is the JSON document the program prints.
type output struct {
	Period  string      `json:"period"`
	Periods []periodRow `json:"periods"`
	Cohorts []cohortRow `json:"cohorts"`
	// Funnel is the funnel table, with -funnel.
	Funnel *funnelTable `json:"funnel,omitempty"`
}

// funnelTable is the funnel by entry period: the users who entered the
// funnel in each period, each counted once at the furthest step reached,
// and the attempts per step over the whole log.
type funnelTable struct {
	Steps    []string    `json:"steps"`
	Order    string      `json:"order"`
	Window   string      `json:"window"`
	Periods  []funnelRow `json:"periods"`
	Attempts []int64     `json:"attempts"`
}

type funnelRow struct {
	Period string `json:"period"`
	// Users per step; Conversion per step is Users over the first step's.
	Users      []int64   `json:"users"`
	Conversion []float64 `json:"conversion"`
}

type periodRow struct {
	Period      string   `json:"period"`
	ActiveUsers int64    `json:"active_users"`
	PayingUsers *int64   `json:"paying_users,omitempty"`
	Purchases   *int64   `json:"purchases,omitempty"`
	Revenue     *float64 `json:"revenue,omitempty"`
	ARPU        *float64 `json:"arpu,omitempty"`
	ARPPU       *float64 `json:"arppu,omitempty"`
}

type cohortRow struct {
	Cohort  string      `json:"cohort"`
	Size    int64       `json:"size"`
	Offsets []offsetRow `json:"offsets"`
}

type offsetRow struct {
	Offset    int64    `json:"offset"`
	Users     int64    `json:"users"`
	Purchases *int64   `json:"purchases,omitempty"`
	Revenue   *float64 `json:"revenue,omitempty"`
	Retention float64  `json:"retention"`
	LTV       *float64 `json:"ltv,omitempty"`
}

// point is one collected data point.
type point struct {
	attrs attribute.Set
	value float64
	int   int64
}

func str(s attribute.Set, k string) string {
	v, _ := s.Value(attribute.Key(k))
	return v.AsString()
}

func integer(s attribute.Set, k string) int64 {
	v, _ := s.Value(attribute.Key(k))
	return v.AsInt64()
}

// tables builds the output from the collected metrics alone, and returns
// the library's dropped-event counts by reason.
func tables(rm metricdata.ResourceMetrics, periodName string, money bool) (output, map[string]int64) {
	byName := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					byName[m.Name] = append(byName[m.Name], point{attrs: p.Attributes, value: float64(p.Value), int: p.Value})
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					byName[m.Name] = append(byName[m.Name], point{attrs: p.Attributes, value: p.Value})
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					byName[m.Name] = append(byName[m.Name], point{attrs: p.Attributes, value: float64(p.Value), int: p.Value})
				}
			}
		}
	}
	dropped := map[string]int64{}
	for _, p := range byName[selfobs.MetricName] {
		if p.int > 0 {
			dropped[str(p.attrs, string(selfobs.ReasonKey))] += p.int
		}
	}

	out := output{Period: periodName, Periods: []periodRow{}, Cohorts: []cohortRow{}}
	periods := map[string]*periodRow{}
	for _, p := range byName[customer.MetricActivePeriodUsers] {
		label := str(p.attrs, "period")
		periods[label] = &periodRow{Period: label, ActiveUsers: p.int}
	}
	if money {
		set := func(name string, fn func(r *periodRow, p point)) {
			for _, p := range byName[name] {
				if r := periods[str(p.attrs, "period")]; r != nil {
					fn(r, p)
				}
			}
		}
		set(customer.MetricRevenuePayingUsers, func(r *periodRow, p point) { r.PayingUsers = ptr(p.int) })
		set(customer.MetricRevenuePurchases, func(r *periodRow, p point) { r.Purchases = ptr(p.int) })
		set(customer.MetricRevenueAmount, func(r *periodRow, p point) { r.Revenue = ptr(p.value) })
		set(customer.MetricRevenueARPU, func(r *periodRow, p point) { r.ARPU = ptr(p.value) })
		set(customer.MetricRevenueARPPU, func(r *periodRow, p point) { r.ARPPU = ptr(p.value) })
	}
	for _, r := range periods {
		out.Periods = append(out.Periods, *r)
	}
	slices.SortFunc(out.Periods, func(a, b periodRow) int { return cmp.Compare(a.Period, b.Period) })

	cohorts := map[string]*cohortRow{}
	for _, p := range byName[customer.MetricRetentionCohortSize] {
		label := str(p.attrs, "cohort")
		cohorts[label] = &cohortRow{Cohort: label, Size: p.int}
	}
	type key struct {
		cohort string
		offset int64
	}
	offsets := map[key]*offsetRow{}
	each := func(name string, mode string, fn func(r *offsetRow, p point)) {
		for _, p := range byName[name] {
			if mode != "" && str(p.attrs, "retention.mode") != mode {
				continue
			}
			k := key{str(p.attrs, "cohort"), integer(p.attrs, "cohort.offset")}
			if cohorts[k.cohort] == nil {
				continue
			}
			r := offsets[k]
			if r == nil {
				r = &offsetRow{Offset: k.offset}
				offsets[k] = r
			}
			fn(r, p)
		}
	}
	each(customer.MetricRetentionUsers, customer.RetentionOn, func(r *offsetRow, p point) { r.Users = p.int })
	each(customer.MetricRetentionRatio, customer.RetentionOn, func(r *offsetRow, p point) { r.Retention = p.value })
	if money {
		each(customer.MetricCohortPurchases, "", func(r *offsetRow, p point) { r.Purchases = ptr(p.int) })
		each(customer.MetricCohortRevenue, "", func(r *offsetRow, p point) { r.Revenue = ptr(p.value) })
		each(customer.MetricCohortLTV, "", func(r *offsetRow, p point) { r.LTV = ptr(p.value) })
	}
	for k, r := range offsets {
		c := cohorts[k.cohort]
		c.Offsets = append(c.Offsets, *r)
	}
	for _, c := range cohorts {
		slices.SortFunc(c.Offsets, func(a, b offsetRow) int { return cmp.Compare(a.Offset, b.Offset) })
		out.Cohorts = append(out.Cohorts, *c)
	}
	slices.SortFunc(out.Cohorts, func(a, b cohortRow) int { return cmp.Compare(a.Cohort, b.Cohort) })
	return out, dropped
}

// funnelTables fills t's periods and attempts from the funnel's metrics.
func funnelTables(rm metricdata.ResourceMetrics, t *funnelTable) {
	n := len(t.Steps)
	rows := map[string]*funnelRow{}
	t.Attempts = make([]int64, n)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				if m.Name != customer.MetricFunnelPeriodUsers {
					continue
				}
				for _, p := range d.DataPoints {
					label := str(p.Attributes, "period")
					r := rows[label]
					if r == nil {
						r = &funnelRow{Period: label, Users: make([]int64, n), Conversion: make([]float64, n)}
						rows[label] = r
					}
					if k := integer(p.Attributes, "funnel.step.index") - 1; k >= 0 && k < int64(n) {
						r.Users[k] += p.Value
					}
				}
			case metricdata.Sum[int64]:
				if m.Name != customer.MetricFunnelUsers {
					continue
				}
				for _, p := range d.DataPoints {
					if k := integer(p.Attributes, "funnel.step.index") - 1; k >= 0 && k < int64(n) {
						t.Attempts[k] += p.Value
					}
				}
			}
		}
	}
	t.Periods = []funnelRow{}
	for _, r := range rows {
		for k := range r.Users {
			if r.Users[0] > 0 {
				r.Conversion[k] = float64(r.Users[k]) / float64(r.Users[0])
			}
		}
		t.Periods = append(t.Periods, *r)
	}
	slices.SortFunc(t.Periods, func(a, b funnelRow) int { return cmp.Compare(a.Period, b.Period) })
}

func ptr[T any](v T) *T { return &v }
