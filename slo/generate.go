package slo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Prometheus metric names of the series the generated rules read: the
// names the OpenTelemetry Collector's Prometheus exporters and Prometheus's
// own OTLP receiver give the metrics of operational and customer.
const (
	PromHTTPCount       = "http_server_request_duration_seconds_count"
	PromHTTPBucket      = "http_server_request_duration_seconds_bucket"
	PromOperationCount  = "kpikit_operation_duration_seconds_count"
	PromOperationBucket = "kpikit_operation_duration_seconds_bucket"
	PromGoalExposed     = "customer_goal_exposed_users_total"
	PromGoalConverted   = "customer_goal_converted_users_total"
)

// Names of the series the generated recording rules write, each with the
// label slo set to the SLO's name; the windowed ones end in the window's
// name (slo:sli_error:ratio_rate5m, …, slo:sli_error:ratio_rate30d).
const (
	RuleErrorRatio      = "slo:sli_error:ratio_rate"
	RuleEvents          = "slo:sli_events:increase"
	RuleBudgetRemaining = "slo:error_budget:remaining"
	RuleObjective       = "slo:objective:ratio"
	// AlertName is the name of the generated alerts; their labels slo and
	// severity ("page" or "ticket") tell them apart.
	AlertName = "SLOErrorBudgetBurn"
)

// term is one counter of an SLI: a metric and its label matchers.
type term struct {
	metric   string
	matchers []string
}

func (t term) selector() string {
	return t.metric + "{" + strings.Join(t.matchers, ",") + "}"
}

// sli is an SLI as Prometheus series: total events and either the bad or
// the good ones.
type sli struct {
	total, part term
	partIsGood  bool
}

func matcher(label, op, value string) string { return label + op + strconv.Quote(value) }

func alternatives(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = regexp.QuoteMeta(v)
	}
	return strings.Join(q, "|")
}

// leMatcher matches the bucket of a threshold however its le label is
// written: "1" and "5e-05" as the exporters write it (strconv 'g'), "1.0"
// as Prometheus 3 normalizes it, "0.00005" as Prometheus's OTLP receiver
// writes it (strconv 'f').
func leMatcher(d time.Duration) string {
	sec := d.Seconds()
	g := strconv.FormatFloat(sec, 'g', -1, 64)
	forms := []string{g}
	if !strings.ContainsAny(g, ".e") {
		forms = append(forms, g+".0")
	}
	if f := strconv.FormatFloat(sec, 'f', -1, 64); f != g {
		forms = append(forms, f)
	}
	return matcher("le", "=~", alternatives(forms))
}

func httpMatchers(routes, methods []string) []string {
	var m []string
	if routes != nil {
		m = append(m, matcher("http_route", "=~", alternatives(routes)))
	}
	if methods != nil {
		m = append(m, matcher("http_request_method", "=~", alternatives(methods)))
	}
	return m
}

func with(m []string, more ...string) []string {
	return append(m[:len(m):len(m)], more...)
}

func (s SLO) series() sli {
	serverFailure := matcher("http_response_status_code", "=~", "5..")
	notServerFailure := matcher("http_response_status_code", "!~", "5..")
	opFailure := matcher("error_type", "!~", "|context_canceled")
	opGood := matcher("error_type", "=~", "|context_canceled")
	switch x := s.SLI.(type) {
	case HTTPAvailability:
		m := httpMatchers(x.Routes, x.Methods)
		return sli{total: term{PromHTTPCount, m}, part: term{PromHTTPCount, with(m, serverFailure)}}
	case HTTPLatency:
		m := httpMatchers(x.Routes, x.Methods)
		return sli{total: term{PromHTTPCount, m}, part: term{PromHTTPBucket, with(m, leMatcher(x.Threshold), notServerFailure)}, partIsGood: true}
	case OperationAvailability:
		m := []string{matcher("operation_name", "=", x.Operation)}
		return sli{total: term{PromOperationCount, m}, part: term{PromOperationCount, with(m, opFailure)}}
	case OperationLatency:
		m := []string{matcher("operation_name", "=", x.Operation)}
		return sli{total: term{PromOperationCount, m}, part: term{PromOperationBucket, with(m, leMatcher(x.Threshold), opGood)}, partIsGood: true}
	case GoalConversion:
		m := []string{matcher("goal", "=", x.Goal)}
		return sli{total: term{PromGoalExposed, m}, part: term{PromGoalConverted, m}, partIsGood: true}
	}
	return sli{}
}

func increase(t term, window string) string {
	return "sum(increase(" + t.selector() + "[" + window + "]))"
}

// badQuery is the number of bad events over window.
func (q sli) badQuery(window string) string {
	if q.partIsGood {
		return "(" + increase(q.total, window) + " - (" + increase(q.part, window) + " or vector(0)))"
	}
	return "(" + increase(q.part, window) + " or vector(0))"
}

// Queries returns the PromQL of s's bad events and of all its events over
// window (a Prometheus duration such as "5m"), summed over the fleet. Their
// ratio is the error ratio the generated rules record.
func (s SLO) Queries(window string) (bad, total string) {
	q := s.series()
	return q.badQuery(window), increase(q.total, window)
}

// yamlString quotes s as a YAML double-quoted scalar. Characters YAML does
// not allow unescaped (C0 and C1 controls, DEL, U+FEFF, U+FFFE, U+FFFF)
// and those a YAML reader takes for line breaks (U+0085, U+2028, U+2029)
// are escaped.
func yamlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			switch {
			case r < 0x20 || r >= 0x7f && r <= 0x9f:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r == 0x2028 || r == 0x2029 || r == 0xfeff || r == 0xfffe || r == 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func number(f float64) string { return strconv.FormatFloat(f, 'g', 12, 64) }

// WriteRules writes Prometheus recording and alerting rules for slos, in a
// rules file that `promtool check rules` accepts: one group per SLO, with
// its error ratio and event count over each window of the policy and over
// its own window (slo:sli_error:ratio_rate<window>,
// slo:sli_events:increase<window>), its objective and remaining budget,
// and one alert, SLOErrorBudgetBurn, per severity of [SLO.Policy] with the
// minimum-events guard. Every series is summed over the fleet, so the
// rules give the fleet's view where each replica reports its own.
//
// The SLOs are validated first; nothing is written when one is invalid.
func WriteRules(w io.Writer, slos []SLO) error {
	if err := ValidateAll(slos); err != nil {
		return err
	}
	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	p("# Generated by kpikit from the SLOs declared in code; do not edit.")
	p("groups:")
	for _, s := range slos {
		q := s.series()
		name := yamlString(s.Name)
		p("  - name: %s", yamlString("kpikit-slo-"+s.Name))
		p("    rules:")
		for _, d := range s.StatusWindows() {
			win := WindowName(d)
			p("      - record: %s", RuleErrorRatio+win)
			p("        expr: %s", yamlString(q.badQuery(win)+" / "+increase(q.total, win)))
			p("        labels: {slo: %s}", name)
			p("      - record: %s", RuleEvents+win)
			p("        expr: %s", yamlString(increase(q.total, win)))
			p("        labels: {slo: %s}", name)
		}
		sel := "{slo=" + strconv.Quote(s.Name) + "}"
		p("      - record: %s", RuleObjective)
		p("        expr: %s", yamlString("vector("+strconv.FormatFloat(s.Objective, 'g', -1, 64)+")"))
		p("        labels: {slo: %s}", name)
		p("      - record: %s", RuleBudgetRemaining)
		p("        expr: %s", yamlString("1 - "+RuleErrorRatio+WindowName(s.WindowOrDefault())+sel+" / "+number(s.Budget())))
		p("        labels: {slo: %s}", name)
		for _, sev := range []Severity{Page, Ticket} {
			var conds []string
			for _, a := range s.Policy() {
				if a.Severity != sev {
					continue
				}
				th := number(s.Threshold(a.Factor))
				long, short := WindowName(a.Long), WindowName(a.Short)
				min := strconv.Itoa(s.MinEventsOrDefault())
				conds = append(conds, "("+
					RuleErrorRatio+long+sel+" >= "+th+" and "+
					RuleErrorRatio+short+sel+" >= "+th+" and "+
					RuleEvents+long+sel+" >= "+min+" and "+
					RuleEvents+short+sel+" >= "+min+")")
			}
			p("      - alert: %s", AlertName)
			p("        expr: %s", yamlString(strings.Join(conds, " or ")))
			p("        labels: {slo: %s, severity: %s}", name, yamlString(string(sev)))
			p("        annotations:")
			p("          summary: %s", yamlString(fmt.Sprintf("SLO %s is burning its error budget too fast (%s)", s.Name, sev)))
			if s.Description != "" {
				p("          description: %s", yamlString(s.Description))
			}
		}
	}
	return b.Flush()
}

// label cuts s to the 63 bytes of a DNS label, never ending in '-'.
func label(s string) string {
	if len(s) > maxNameLen {
		s = strings.TrimRight(s[:maxNameLen], "-")
	}
	return s
}

// checkService validates the service name of a sloth or OpenSLO document.
func checkService(service string) error {
	if !validName(service) {
		return fmt.Errorf("%w: service name %q must be 1 to %d lower-case letters, digits and '-'", ErrInvalid, service, maxNameLen)
	}
	return nil
}

// percent writes an objective in (0, 1) as a percentage with all its
// digits: 0.999 is "99.9", where objective*100 is 99.89999999999999 and 12
// significant digits turn 0.9999999999999 into 100.
func percent(objective float64) string {
	frac := strings.TrimPrefix(strconv.FormatFloat(objective, 'f', -1, 64), "0.")
	for len(frac) < 2 {
		frac += "0"
	}
	whole := strings.TrimLeft(frac[:2], "0")
	if whole == "" {
		whole = "0"
	}
	if frac[2:] == "" {
		return whole
	}
	return whole + "." + frac[2:]
}

// WriteSloth writes slos as a sloth spec (version "prometheus/v1") for
// service, with events SLIs over the same series as [WriteRules] and
// sloth's page and ticket alerts. Sloth knows 28 and 30 day windows only,
// and the spec has no field for one: sloth gives every SLO of a spec the
// period it is run with (--default-slo-period, 30d unless set). So the
// SLOs of one spec share one window, which a comment in the spec names;
// write one spec per window. Another window, two windows, invalid SLOs, and
// a service or SLO name of one character (sloth wants two) are an error.
func WriteSloth(w io.Writer, service string, slos []SLO) error {
	errs := []error{ValidateAll(slos), checkService(service)}
	if len(service) == 1 {
		errs = append(errs, fmt.Errorf("%w: service name %q: sloth wants at least two characters", ErrInvalid, service))
	}
	for _, s := range slos {
		if len(s.Name) == 1 {
			errs = append(errs, fmt.Errorf("%w %q: sloth wants an SLO name of at least two characters", ErrInvalid, s.Name))
		}
		if d := s.WindowOrDefault(); d != 28*Day && d != 30*Day {
			errs = append(errs, fmt.Errorf("%w %q: sloth has no alert windows for a window of %v (28 or 30 days)", ErrInvalid, s.Name, d))
		} else if first := slos[0]; d != first.WindowOrDefault() {
			errs = append(errs, fmt.Errorf("%w %q: its window %s is not %q's %s, and sloth runs all the SLOs of a spec with one period: write one spec per window",
				ErrInvalid, s.Name, WindowName(d), first.Name, WindowName(first.WindowOrDefault())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	p("# Generated by kpikit from the SLOs declared in code; do not edit.")
	if len(slos) > 0 {
		win := WindowName(slos[0].WindowOrDefault())
		p("# The SLOs' window is %s: generate with sloth generate --default-slo-period=%s.", win, win)
	}
	p(`version: "prometheus/v1"`)
	p("service: %s", yamlString(service))
	p("slos:")
	for _, s := range slos {
		bad, total := s.Queries("{{.window}}")
		p("  - name: %s", yamlString(s.Name))
		p("    objective: %s", percent(s.Objective))
		if s.Description != "" {
			p("    description: %s", yamlString(s.Description))
		}
		p("    sli:")
		p("      events:")
		p("        error_query: %s", yamlString(bad))
		p("        total_query: %s", yamlString(total))
		p("    alerting:")
		p("      name: %s", yamlString(AlertName))
		p("      labels: {slo: %s}", yamlString(s.Name))
		p("      page_alert:")
		p("        labels: {severity: %s}", yamlString(string(Page)))
		p("      ticket_alert:")
		p("        labels: {severity: %s}", yamlString(string(Ticket)))
	}
	return b.Flush()
}

// WriteOpenSLO writes slos as OpenSLO v1 documents: one Service called
// service, then one SLO per declaration with an inline ratio-metric
// indicator over the same counters as [WriteRules] (counter: true, so the
// queries select raw cumulative counters), a rolling time window and the
// Occurrences budgeting method.
func WriteOpenSLO(w io.Writer, service string, slos []SLO) error {
	if err := errors.Join(ValidateAll(slos), checkService(service)); err != nil {
		return err
	}
	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	p("# Generated by kpikit from the SLOs declared in code; do not edit.")
	p("apiVersion: openslo/v1")
	p("kind: Service")
	p("metadata:")
	p("  name: %s", yamlString(service))
	p("spec:")
	p("  description: %s", yamlString("Service "+service+", instrumented with kpikit"))
	for _, s := range slos {
		q := s.series()
		part := "bad"
		if q.partIsGood {
			part = "good"
		}
		source := func(t term) {
			p("          metricSource:")
			p("            type: Prometheus")
			p("            spec:")
			p("              query: %s", yamlString("sum("+t.selector()+")"))
		}
		p("---")
		p("apiVersion: openslo/v1")
		p("kind: SLO")
		p("metadata:")
		p("  name: %s", yamlString(s.Name))
		p("spec:")
		if s.Description != "" {
			p("  description: %s", yamlString(s.Description))
		}
		p("  service: %s", yamlString(service))
		p("  indicator:")
		p("    metadata:")
		p("      name: %s", yamlString(label(s.Name+"-"+s.Kind())))
		p("    spec:")
		p("      ratioMetric:")
		p("        counter: true")
		p("        %s:", part)
		source(q.part)
		p("        total:")
		source(q.total)
		p("  timeWindow:")
		p("    - duration: %s", WindowName(s.WindowOrDefault()))
		p("      isRolling: true")
		p("  budgetingMethod: Occurrences")
		p("  objectives:")
		p("    - displayName: %s", yamlString(s.Kind()))
		p("      target: %s", strconv.FormatFloat(s.Objective, 'g', -1, 64))
	}
	return b.Flush()
}
