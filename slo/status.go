package slo

import "time"

// Status is what one replica knows of an SLO: its events since the recorder
// was created and its error ratio, burn rate, budget and alerts over the
// policy's windows. Recorders that take SLOs return it from their
// SLOStatus method.
type Status struct {
	SLO SLO
	// Good and Total count the SLI's events since the recorder was
	// created.
	Good, Total int64
	// Windows holds the figures over each of [SLO.StatusWindows]: each of
	// [Windows] and then the SLO's own window, unless it is one of them.
	Windows []WindowStatus
	// BudgetRemaining is the share of the error budget of the SLO's window
	// left: 1 - its burn rate over the window. It is 1 with no failure and
	// negative once the budget is overspent.
	BudgetRemaining float64
	// Page and Ticket report whether an alert of that severity of
	// [SLO.Policy] fires.
	Page, Ticket bool
}

// WindowStatus is an SLO's figures over one window ending now.
type WindowStatus struct {
	Window time.Duration
	// Events and Bad count the SLI's events and its bad events in the
	// window.
	Events, Bad int64
	// ErrorRatio is Bad / Events; 0 with no events.
	ErrorRatio float64
	// BurnRate is ErrorRatio over the budget (1 - Objective): 1 spends
	// the budget exactly over the SLO's window.
	BurnRate float64
}

// Window returns the figures over d, and false when d is not one of the
// status's windows.
func (st Status) Window(d time.Duration) (WindowStatus, bool) {
	for _, w := range st.Windows {
		if w.Window == d {
			return w, true
		}
	}
	return WindowStatus{}, false
}

// NewStatus computes the status of s from its cumulative counts and its
// windows' counts (one per [SLO.StatusWindows]): ratios, burn
// rates, budget and the alerts of the policy.
func NewStatus(s SLO, good, total int64, windows []WindowStatus) Status {
	st := Status{SLO: s, Good: good, Total: total, Windows: windows, BudgetRemaining: 1}
	budget := s.Budget()
	for i := range st.Windows {
		w := &st.Windows[i]
		w.ErrorRatio, w.BurnRate = 0, 0
		if w.Events > 0 {
			w.ErrorRatio = float64(w.Bad) / float64(w.Events)
			w.BurnRate = w.ErrorRatio / budget
		}
	}
	if w, ok := st.Window(s.WindowOrDefault()); ok {
		st.BudgetRemaining = 1 - w.BurnRate
	}
	min := int64(s.MinEventsOrDefault())
	for _, a := range s.Policy() {
		long, ok1 := st.Window(a.Long)
		short, ok2 := st.Window(a.Short)
		if !ok1 || !ok2 || long.Events < min || short.Events < min {
			continue
		}
		th := s.Threshold(a.Factor)
		if long.ErrorRatio >= th && short.ErrorRatio >= th {
			switch a.Severity {
			case Page:
				st.Page = true
			case Ticket:
				st.Ticket = true
			}
		}
	}
	return st
}
