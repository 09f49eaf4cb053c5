package budget

import (
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/slo"
)

// Instruments are the observable instruments of the SLO metrics of one
// meter (one recorder's scope).
type Instruments struct {
	objective, ratio, burn, remaining, alert metric.Float64ObservableGauge
	events, good                             metric.Int64ObservableCounter
}

// NewInstruments creates the SLO instruments on m. The caller registers a
// callback over [Instruments.Observables] that calls [Instruments.Observe].
func NewInstruments(m metric.Meter) (*Instruments, error) {
	in := &Instruments{}
	var errs []error
	gauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit("{event}"), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	in.objective = gauge(slo.MetricObjective, "1", "Objective of the SLO: the share of good events it targets.")
	in.events = counter(slo.MetricEvents, "Events of the SLO's indicator.")
	in.good = counter(slo.MetricGoodEvents, "Good events of the SLO's indicator.")
	in.ratio = gauge(slo.MetricErrorRatio, "1", "Bad events over all events of the SLO, per window.")
	in.burn = gauge(slo.MetricBurnRate, "1", "Error ratio over the error budget, per window: 1 spends the budget exactly over the SLO window.")
	in.remaining = gauge(slo.MetricBudgetRemaining, "1", "Share of the error budget of the SLO window left.")
	in.alert = gauge(slo.MetricAlert, "1", "1 while an alert of the multiwindow, multi-burn-rate policy fires.")
	return in, errors.Join(errs...)
}

// Observables returns the instruments, for RegisterCallback.
func (in *Instruments) Observables() []metric.Observable {
	return []metric.Observable{in.objective, in.events, in.good, in.ratio, in.burn, in.remaining, in.alert}
}

// Observe reports the status of each tracker at now.
func (in *Instruments) Observe(o metric.Observer, now time.Time, trackers []*Tracker) {
	for _, t := range trackers {
		in.observe(o, t, t.Status(now))
	}
}

func (in *Instruments) observe(o metric.Observer, t *Tracker, st slo.Status) {
	a := t.attrs()
	o.ObserveFloat64(in.objective, st.SLO.Objective, a.base...)
	o.ObserveInt64(in.events, st.Total, a.base...)
	o.ObserveInt64(in.good, st.Good, a.base...)
	o.ObserveFloat64(in.remaining, st.BudgetRemaining, a.base...)
	for i, w := range st.Windows {
		if w.Events == 0 {
			continue
		}
		o.ObserveFloat64(in.ratio, w.ErrorRatio, a.windows[i]...)
		o.ObserveFloat64(in.burn, w.BurnRate, a.windows[i]...)
	}
	o.ObserveFloat64(in.alert, b2f(st.Page), a.page...)
	o.ObserveFloat64(in.alert, b2f(st.Ticket), a.ticket...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// attrSets are a tracker's prebuilt attribute options.
type attrSets struct {
	base, page, ticket []metric.ObserveOption
	windows            [][]metric.ObserveOption
}

func (t *Tracker) attrs() *attrSets {
	t.attrOnce.Do(func() {
		name := attribute.String(slo.KeyName, t.slo.Name)
		opt := func(kvs ...attribute.KeyValue) []metric.ObserveOption {
			return []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
		}
		a := &attrSets{
			base:   opt(name),
			page:   opt(name, attribute.String(slo.KeySeverity, string(slo.Page))),
			ticket: opt(name, attribute.String(slo.KeySeverity, string(slo.Ticket))),
		}
		for _, w := range t.windows {
			a.windows = append(a.windows, opt(name, attribute.String(slo.KeyWindow, slo.WindowName(w))))
		}
		t.attrSets = a
	})
	return t.attrSets
}
