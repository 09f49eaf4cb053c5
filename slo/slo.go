package slo

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalid wraps every error about a declaration that cannot work.
var ErrInvalid = errors.New("slo: invalid SLO")

// Day is 24 hours, the unit of SLO windows.
const Day = 24 * time.Hour

// Window limits and defaults.
const (
	// DefaultWindow is the rolling window of an SLO whose Window is zero.
	DefaultWindow = 30 * Day
	// MinWindow and MaxWindow bound the rolling window: whole days from one
	// day to five weeks.
	MinWindow = Day
	MaxWindow = 35 * Day
	// DefaultMinEvents is the minimum-events guard of an SLO whose
	// MinEvents is zero: an alert condition holds only when each of its
	// two windows saw at least this many events.
	DefaultMinEvents = 10
	// maxNameLen bounds an SLO name, a DNS label.
	maxNameLen = 63
)

// SLO is one service-level objective: the share of good events among all
// events of its SLI that must hold over a rolling window. It is plain data;
// its zero Window and MinEvents mean the defaults. Recorders validate it
// when they are given it, and so do the generators.
type SLO struct {
	// Name identifies the SLO in metrics (the slo.name attribute), in
	// generated rules and documents: 1 to 63 lower-case letters, digits
	// and '-', starting and ending with a letter or digit (a DNS label, as
	// OpenSLO requires). Names are unique among the SLOs a recorder or a
	// generator is given.
	Name string
	// Description is free text carried into the generated documents.
	Description string
	// Objective is the target share of good events, in (0, 1): 0.999 is
	// "99.9% of requests succeed".
	Objective float64
	// Window is the rolling window the objective is measured over:
	// whole days, from [MinWindow] to [MaxWindow]; zero is
	// [DefaultWindow] (30 days). 28 days is the other common choice.
	Window time.Duration
	// MinEvents is the minimum-events guard of the alerts: a burn-rate
	// condition holds only when both of its windows saw at least
	// MinEvents events, so that a quiet service does not page on one
	// failure. Zero is [DefaultMinEvents]; 1 turns the guard off;
	// negative is an error.
	MinEvents int
	// SLI says which events count and which of them are good.
	SLI SLI
}

// SLI is the indicator of an SLO: one of [HTTPAvailability], [HTTPLatency],
// [OperationAvailability], [OperationLatency] or [GoalConversion].
type SLI interface {
	// kind is the SLI's name in metrics and documents.
	kind() string
}

// HTTPAvailability counts the requests served through an
// operational.Middleware; good ones are those that did not fail on the
// server: a status below 500 and no panic. A client that went away (499)
// and client errors (4xx) are good.
type HTTPAvailability struct {
	// Routes selects requests by their http.route value: a path template
	// such as "/pay" or "/items/{id}", without the method or host of a
	// ServeMux pattern ("POST /pay" is an error); nil selects every
	// request, those with no route included.
	Routes []string
	// Methods selects requests by method ("GET", "POST", …); nil selects
	// every method.
	Methods []string
}

// HTTPLatency counts the requests served through an operational.Middleware;
// good ones did not fail (as for [HTTPAvailability]) and took at most
// Threshold. The Middleware adds Threshold to the boundaries of its
// duration histogram, so that the generated rules compute the same SLI from
// the histogram's buckets.
type HTTPLatency struct {
	// Threshold is the slowest a good request may be; it must be
	// positive.
	Threshold time.Duration
	// Routes and Methods select requests as for [HTTPAvailability].
	Routes, Methods []string
}

// OperationAvailability counts the operations recorded by the
// operational.Operation called Operation; good ones ended without an error,
// or with the caller's cancellation (error.type context_canceled).
type OperationAvailability struct {
	Operation string
}

// OperationLatency counts the operations recorded by the
// operational.Operation called Operation; good ones ended as for
// [OperationAvailability] and took at most Threshold, which must be one of
// the bucket boundaries of kpikit.operation.duration (operational's
// DurationBuckets: 5ms, 10ms, 25ms, 50ms, 75ms, 100ms, 250ms, 500ms, 750ms,
// 1s, 2.5s, 5s, 7.5s, 10s): several operations share that histogram, so
// one cannot add a boundary for itself.
type OperationLatency struct {
	Operation string
	Threshold time.Duration
}

// GoalConversion counts the attempts of the customer.Goal called Goal:
// every attempt (a user's first exposure within a goal window) is an
// event, and an attempt that converted within the goal's window is a good
// one. "80% of carts are paid within the hour" is a GoalConversion SLO with
// Objective 0.8 on a goal with a one-hour window.
//
// Both counts advance when they happen, exposures at the exposure and
// conversions at the conversion, as the counters the generated rules read
// do; their ratio over a window is the conversion of the attempts of that
// window while traffic is steady, and lags behind it for windows shorter
// than the goal's window when traffic changes fast.
type GoalConversion struct {
	Goal string
}

func (HTTPAvailability) kind() string      { return "availability" }
func (HTTPLatency) kind() string           { return "latency" }
func (OperationAvailability) kind() string { return "availability" }
func (OperationLatency) kind() string      { return "latency" }
func (GoalConversion) kind() string        { return "conversion" }

// OperationDurationBuckets are the boundaries, in seconds, of the
// kpikit.operation.duration histogram; an [OperationLatency] threshold must
// be one of them.
var OperationDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Kind returns the kind of s's SLI: "availability", "latency" or
// "conversion"; "" when it has none.
func (s SLO) Kind() string {
	switch sli := s.SLI.(type) {
	case HTTPAvailability, HTTPLatency, OperationAvailability, OperationLatency, GoalConversion:
		return sli.kind()
	}
	return "" // none, or a pointer to an SLI, which Validate rejects
}

// WindowOrDefault returns s.Window, or [DefaultWindow] when it is zero.
func (s SLO) WindowOrDefault() time.Duration {
	if s.Window == 0 {
		return DefaultWindow
	}
	return s.Window
}

// MinEventsOrDefault returns s.MinEvents, or [DefaultMinEvents] when it is
// zero.
func (s SLO) MinEventsOrDefault() int {
	if s.MinEvents == 0 {
		return DefaultMinEvents
	}
	return s.MinEvents
}

// Budget returns the error budget of s: the share of events that may be
// bad, 1 - Objective.
// It is rounded to 12 significant digits, as the generated rules write it.
func (s SLO) Budget() float64 { return round(1 - s.Objective) }

// Validate reports what makes s unusable, naming the value: an empty or
// malformed name, an objective outside (0, 1), a window that is not whole
// days from one day to five weeks, a negative MinEvents, a missing SLI, a
// threshold that is not positive, a selection that selects nothing (an
// empty non-nil Routes or Methods, a route that is not a path template
// starting with '/', such as the ServeMux pattern "POST /pay", a method
// net/http does not define), or an empty operation or goal name.
func (s SLO) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w %q: "+format, append([]any{ErrInvalid, s.Name}, a...)...))
	}
	if !validName(s.Name) {
		bad("name must be 1 to %d lower-case letters, digits and '-', starting and ending with a letter or digit", maxNameLen)
	}
	if !(s.Objective > 0 && s.Objective < 1) {
		bad("objective %v is not in (0, 1)", s.Objective)
	}
	if w := s.WindowOrDefault(); w < MinWindow || w > MaxWindow || w%Day != 0 {
		bad("window %v is not a whole number of days from 1 to 35", w)
	}
	if s.MinEvents < 0 {
		bad("MinEvents %d is negative", s.MinEvents)
	}
	switch sli := s.SLI.(type) {
	case nil:
		bad("no SLI")
	case HTTPAvailability:
		errs = append(errs, s.checkSelection(sli.Routes, sli.Methods)...)
	case HTTPLatency:
		if sli.Threshold <= 0 {
			bad("latency threshold %v is not positive", sli.Threshold)
		}
		errs = append(errs, s.checkSelection(sli.Routes, sli.Methods)...)
	case OperationAvailability:
		if sli.Operation == "" {
			bad("no operation name")
		}
	case OperationLatency:
		if sli.Operation == "" {
			bad("no operation name")
		}
		if sli.Threshold <= 0 {
			bad("latency threshold %v is not positive", sli.Threshold)
		} else if !slices.Contains(OperationDurationBuckets, sli.Threshold.Seconds()) {
			bad("latency threshold %v is not a bucket boundary of kpikit.operation.duration", sli.Threshold)
		}
	case GoalConversion:
		if sli.Goal == "" {
			bad("no goal name")
		}
	default:
		bad("unknown SLI %T", sli)
	}
	return errors.Join(errs...)
}

func (s SLO) checkSelection(routes, methods []string) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w %q: "+format, append([]any{ErrInvalid, s.Name}, a...)...))
	}
	if routes != nil && len(routes) == 0 {
		bad("Routes is empty, so the SLO selects nothing (nil selects every route)")
	}
	for _, r := range routes {
		switch {
		case r == "" || !utf8.ValidString(r) || len(r) > 256:
			bad("route %q cannot match any http.route", r)
		case r[0] != '/':
			// "POST /pay" is a ServeMux pattern; http.route is its path.
			bad("route %q is not a path template such as \"/pay\" (http.route has no method or host: select methods with Methods)", r)
		}
	}
	if methods != nil && len(methods) == 0 {
		bad("Methods is empty, so the SLO selects nothing (nil selects every method)")
	}
	for _, m := range methods {
		if !slices.Contains(KnownMethods, m) {
			bad("method %q is not one net/http records (%s)", m, strings.Join(KnownMethods, ", "))
		}
	}
	return errs
}

// KnownMethods are the request methods an SLO may select; the middleware
// records any other method as "_OTHER".
var KnownMethods = []string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
	http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace,
}

func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i > 0 && i < len(name)-1:
		default:
			return false
		}
	}
	return true
}

// ValidateAll validates each SLO and checks that no two share a name.
func ValidateAll(slos []SLO) error {
	var errs []error
	seen := make(map[string]bool, len(slos))
	for _, s := range slos {
		errs = append(errs, s.Validate())
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%w %q: two SLOs have this name", ErrInvalid, s.Name))
		}
		seen[s.Name] = true
	}
	return errors.Join(errs...)
}

// Windows are the windows every SLO reports its error ratio and burn rate
// over, shortest first; the SLO's own window comes after them.
var Windows = []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, Day, 3 * Day}

// StatusWindows returns the windows s is reported and recorded over:
// [Windows], then s's own window unless it is one of them (a 1-day or
// 3-day SLO has each window once).
func (s SLO) StatusWindows() []time.Duration {
	w := s.WindowOrDefault()
	if slices.Contains(Windows, w) {
		return slices.Clone(Windows)
	}
	return append(Windows[:len(Windows):len(Windows)], w)
}

// Severity of an alert of the multiwindow, multi-burn-rate policy.
type Severity string

// The two severities of the policy.
const (
	Page   Severity = "page"
	Ticket Severity = "ticket"
)

// BurnAlert is one condition of the multiwindow, multi-burn-rate alerting
// policy of the Google SRE workbook ("Alerting on SLOs"): it holds when the
// burn rate over both Long and Short is at least Factor (and both saw at
// least MinEvents events). Factor spends BudgetSpent of the error budget
// over Long: BudgetSpent * window / Long.
type BurnAlert struct {
	Severity    Severity
	Long, Short time.Duration
	BudgetSpent float64
	Factor      float64
}

// Policy returns the four conditions of the policy for s, with factors for
// its window: for 30 days, page at 14.4x over 1h and 5m or 6x over 6h and
// 30m; ticket at 3x over 1d and 2h or 1x over 3d and 6h. For another
// window the same shares of the budget give other factors (28 days: 13.44,
// 5.6, 2.8, 0.933…), as sloth computes them.
func (s SLO) Policy() []BurnAlert {
	w := s.WindowOrDefault()
	mk := func(sev Severity, long, short time.Duration, spent float64) BurnAlert {
		return BurnAlert{Severity: sev, Long: long, Short: short, BudgetSpent: spent,
			Factor: round(spent * float64(w) / float64(long))}
	}
	return []BurnAlert{
		mk(Page, time.Hour, 5*time.Minute, 0.02),
		mk(Page, 6*time.Hour, 30*time.Minute, 0.05),
		mk(Ticket, Day, 2*time.Hour, 0.10),
		mk(Ticket, 3*Day, 6*time.Hour, 0.10),
	}
}

// LatencyThreshold returns the threshold of a latency SLI, the slowest a
// good event may be; 0 for any other SLI.
func (s SLO) LatencyThreshold() time.Duration {
	switch sli := s.SLI.(type) {
	case HTTPLatency:
		return sli.Threshold
	case OperationLatency:
		return sli.Threshold
	}
	return 0
}

// Threshold returns the error ratio at which a burn of factor starts:
// factor x the budget, rounded to 12 significant digits so that the
// in-process policy and the generated rules compare with the same number.
func (s SLO) Threshold(factor float64) float64 { return round(factor * s.Budget()) }

func round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	return v
}

// WindowName formats a window as Prometheus writes durations: "5m", "1h",
// "30d".
func WindowName(d time.Duration) string {
	switch {
	case d%Day == 0:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10) + "s"
}

// Names of the metrics recorders report for each SLO they are given, with
// the attribute slo.name. The windowed ones also carry slo.window ("5m" …
// "3d", then the SLO's window, e.g. "30d"); slo.alert carries
// slo.alert.severity ("page" or "ticket").
const (
	// MetricObjective is the objective, a gauge in (0, 1).
	MetricObjective = "slo.objective"
	// MetricEvents counts the SLI's events: a cumulative counter that a
	// fleet sums.
	MetricEvents = "slo.events"
	// MetricGoodEvents counts the SLI's good events.
	MetricGoodEvents = "slo.good_events"
	// MetricErrorRatio is bad / all events over each window, not reported
	// for a window without events.
	MetricErrorRatio = "slo.error_ratio"
	// MetricBurnRate is the error ratio over the budget, per window.
	MetricBurnRate = "slo.burn_rate"
	// MetricBudgetRemaining is the share of the error budget of the SLO's
	// window left (negative when overspent).
	MetricBudgetRemaining = "slo.error_budget.remaining"
	// MetricAlert is 1 while an alert of the policy fires, else 0.
	MetricAlert = "slo.alert"
)

// Attribute keys of the SLO metrics.
const (
	KeyName     = "slo.name"
	KeyWindow   = "slo.window"
	KeySeverity = "slo.alert.severity"
)

// Counter names the recorder that counts an SLO's events: an
// operational.Middleware ([Middleware]), the operational.Operation or the
// customer.Goal of a name ([Operation], [Goal]).
type Counter struct {
	Kind string // "middleware", "operation" or "goal"; "" for none
	Name string // the operation's or the goal's name
}

// Middleware counts the HTTP SLIs.
var Middleware = Counter{Kind: "middleware"}

// Operation is the Counter of the operation called name.
func Operation(name string) Counter { return Counter{Kind: "operation", Name: name} }

// Goal is the Counter of the goal called name.
func Goal(name string) Counter { return Counter{Kind: "goal", Name: name} }

// CountedBy returns the recorder that counts s's events; the zero Counter
// for an SLO without a known SLI.
func (s SLO) CountedBy() Counter {
	switch x := s.SLI.(type) {
	case HTTPAvailability, HTTPLatency:
		return Middleware
	case OperationAvailability:
		return Operation(x.Operation)
	case OperationLatency:
		return Operation(x.Operation)
	case GoalConversion:
		return Goal(x.Goal)
	}
	return Counter{}
}

// Select returns the SLOs of slos that c counts, for giving one list of
// declarations to each recorder.
func Select(slos []SLO, c Counter) []SLO {
	var out []SLO
	for _, s := range slos {
		if s.CountedBy() == c {
			out = append(out, s)
		}
	}
	return out
}
