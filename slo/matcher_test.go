package slo_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// matcherValue returns the regular expression of the label matcher
// label=~"…" in a PromQL query, unquoted as PromQL does.
func matcherValue(t *testing.T, query, label string) *regexp.Regexp {
	t.Helper()
	m := regexp.MustCompile(label + `=~("(?:[^"\\]|\\.)*")`).FindStringSubmatch(query)
	if m == nil {
		t.Fatalf("no %s matcher in %s", label, query)
	}
	v, err := strconv.Unquote(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// Prometheus anchors label regexps at both ends.
	return regexp.MustCompile("^(?s:" + v + ")$")
}

// The le matcher of a latency SLI selects the bucket of its threshold as
// every path to Prometheus writes it, and no other bucket.
func TestLeMatcherSelectsTheThresholdBucket(t *testing.T) {
	others := []float64{0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 1e-08, 5e-06, 3599}
	for _, d := range []time.Duration{time.Nanosecond, 50 * time.Microsecond, 99 * time.Microsecond, 100 * time.Microsecond,
		300 * time.Millisecond, time.Second, 2500 * time.Millisecond, 10 * time.Second, time.Hour} {
		s := slo.SLO{Name: "l", Objective: 0.9, SLI: slo.HTTPLatency{Threshold: d}}
		bad, _ := s.Queries("5m")
		re := matcherValue(t, bad, "le")
		sec := d.Seconds()
		g := strconv.FormatFloat(sec, 'g', -1, 64)
		forms := []string{
			g,                                     // the Prometheus exporters, OpenMetrics
			strconv.FormatFloat(sec, 'f', -1, 64), // Prometheus's OTLP receiver
		}
		if !strings.ContainsAny(g, ".e") {
			forms = append(forms, g+".0") // Prometheus 3 normalization
		}
		for _, f := range forms {
			if !re.MatchString(f) {
				t.Errorf("%v: le matcher %v does not match %q", d, re, f)
			}
		}
		for _, o := range others {
			if o == sec {
				continue
			}
			for _, f := range []string{strconv.FormatFloat(o, 'g', -1, 64), strconv.FormatFloat(o, 'f', -1, 64)} {
				if re.MatchString(f) {
					t.Errorf("%v: le matcher %v matches %q", d, re, f)
				}
			}
		}
	}
}

// A route with regular-expression metacharacters selects exactly that
// route.
func TestRouteMatcherIsLiteral(t *testing.T) {
	routes := []string{"/a.b", "/a+", "/(x)", "/[ab]", "/a|/b", `/back\slash`, "/items/{id}", "/x*?^$", "/ü/日本", "/a\nb"}
	near := map[string][]string{
		"/a.b":        {"/aXb", "/a.bb"},
		"/a+":         {"/a", "/aa"},
		"/(x)":        {"/x"},
		"/[ab]":       {"/a", "/b"},
		"/a|/b":       {"/a", "/b"},
		`/back\slash`: {"/back slash", `/backslash`},
		"/items/{id}": {"/items/42", "/items/{i}", "/items/{id}/"},
		"/x*?^$":      {"/x", "/xx", "/x*?^"},
		"/ü/日本":       {"/u/日本", "/ü/日"},
		"/a\nb":       {"/ab", "/a\n", "/a b"},
	}
	for _, r := range routes {
		s := slo.SLO{Name: "r", Objective: 0.9, SLI: slo.HTTPAvailability{Routes: []string{r}, Methods: []string{"GET"}}}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		bad, total := s.Queries("5m")
		for _, q := range []string{bad, total} {
			re := matcherValue(t, q, "http_route")
			if !re.MatchString(r) {
				t.Errorf("route %q: matcher %v does not match it", r, re)
			}
			for _, n := range append(near[r], "", "/") {
				if re.MatchString(n) {
					t.Errorf("route %q: matcher %v matches %q", r, re, n)
				}
			}
			if m := matcherValue(t, q, "http_request_method"); !m.MatchString("GET") || m.MatchString("GETX") || m.MatchString("POST") {
				t.Errorf("method matcher %v", m)
			}
		}
	}
	// Several routes select each, and nothing between them.
	s := slo.SLO{Name: "r", Objective: 0.9, SLI: slo.HTTPAvailability{Routes: routes}}
	bad, _ := s.Queries("5m")
	re := matcherValue(t, bad, "http_route")
	for _, r := range routes {
		if !re.MatchString(r) {
			t.Errorf("matcher %v does not match %q", re, r)
		}
	}
	if re.MatchString("/a") || re.MatchString("/a.b|/a+") {
		t.Errorf("matcher %v matches what it should not", re)
	}
}
