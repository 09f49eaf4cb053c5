package slo_test

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/internal/budget"
	"github.com/kpikit/kpikit/internal/tooltest"
	"github.com/kpikit/kpikit/slo"
	"github.com/kpikit/kpikit/slo/internal/slotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// promtool runs the promtool binary with args in dir and fails the test,
// showing its output, when it does not succeed.
func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), tooltest.Promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The rules generated for the fixed SLOs are the golden file
// testdata/rules.yml (go test -run TestRulesGolden -update rewrites it),
// which promtool accepts.
func TestRulesGolden(t *testing.T) {
	var b bytes.Buffer
	if err := slo.WriteRules(&b, slotest.SLOs()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "rules.yml")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("WriteRules output differs from %s (run go test ./slo -run TestRulesGolden -update and review the diff):\n%s",
			golden, firstDiff(b.String(), string(want)))
	}
	promtool(t, ".", "check", "rules", golden)
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

// The rule unit tests in testdata (*_test.yml, over testdata/rules.yml)
// pass: the page alert at 14.4x and not at 5x, the ticket alert at 1x, the
// minimum-events guard.
func TestRuleUnitTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*_test.yml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			promtool(t, ".", "test", "rules", f)
		})
	}
}

// The scenario of TestRecordedEqualsInProcess.
const (
	scenarioMinutes = 180              // evaluated at its end, 3h
	scrapeInterval  = 20 * time.Second // scrapes at :00, :20 and :40
	eventsFrom      = 45 * time.Second // events in the last 15 seconds of each minute
	// firstSampleIn is where the first sample of each of shortWindows
	// is, after its start: the scrape 20s in is missed.
	firstSampleIn   = 2 * scrapeInterval
	eventsPerMinute = 1000 // of which badPerMinute(m) fail
	getItemsPerMin  = 600  // GET /items/{id}, all good
	postCheckoutMin = eventsPerMinute - getItemsPerMin
)

// badPerMinute is the number of failed requests (POST /checkout, 500) in
// minute m: a few in the first hour, more in the second, a ramp in the
// third that pages.
func badPerMinute(m int) int {
	switch {
	case m < 60:
		return 1 + m%3
	case m < 120:
		return 4 + (m*7)%9
	default:
		return (m-120)/2 + m%5
	}
}

// shortWindows are the windows the scrape schedule lines up, with the
// number of samples each holds: 2^k+1.
var shortWindows = []struct {
	window  time.Duration
	samples int
}{{5 * time.Minute, 9}, {30 * time.Minute, 65}, {time.Hour, 129}, {2 * time.Hour, 257}}

// scrapeTimes returns the times of the samples of a scenario that ends at
// end: every scrapeInterval, but in each of shortWindows ending at end the
// scrapes before firstSampleIn are missed, and so are enough others, spread
// evenly, that the window holds its number of samples.
func scrapeTimes(end time.Duration) []time.Duration {
	var times []time.Duration
	longest := shortWindows[len(shortWindows)-1].window
	for t := time.Duration(0); t <= end-longest; t += scrapeInterval {
		times = append(times, t)
	}
	for i := len(shortWindows) - 1; i >= 0; i-- {
		lo, hi, n := end-shortWindows[i].window+firstSampleIn, end, shortWindows[i].samples
		if i > 0 {
			hi, n = end-shortWindows[i-1].window, n-shortWindows[i-1].samples
		}
		grid := int((hi-lo)/scrapeInterval) + 1
		for j := range n {
			k := int(math.Round(float64(j) * float64(grid-1) / float64(n-1)))
			times = append(times, lo+time.Duration(k)*scrapeInterval)
		}
	}
	return times
}

// extrapolation returns the factor Prometheus's increase() multiplies the
// difference between the first and last samples of a counter in the
// window (end-window, end] by, when the counter is far from zero, and the
// time of the first sample (promql/functions.go, extrapolatedRate).
func extrapolation(times []time.Duration, end, window time.Duration) (factor float64, first time.Duration) {
	var in []time.Duration
	for _, t := range times {
		if t > end-window && t <= end {
			in = append(in, t)
		}
	}
	sampled := (in[len(in)-1] - in[0]).Seconds()
	avg := sampled / float64(len(in)-1)
	toStart, toEnd := (in[0] - (end - window)).Seconds(), (end - in[len(in)-1]).Seconds()
	if toStart >= avg*1.1 {
		toStart = avg / 2
	}
	if toEnd >= avg*1.1 {
		toEnd = avg / 2
	}
	return (sampled + toStart + toEnd) / sampled, in[0]
}

// The error ratios the generated rules record are, bit for bit, the ones
// a budget.Tracker computes in process from the same events, and so are
// the remaining budget and the alerts.
//
// Prometheus's increase() over a window (T-w, T] takes the difference
// between the first and the last sample in it and extrapolates it to the
// window by (sampled + toStart + toEnd) / sampled, where toStart is the
// time from the window's start to the first sample, or half the average
// interval between samples when it is at least 1.1 such intervals (and
// less when the counter would reach zero sooner: the counts here are far
// enough from zero at the start of each window for that not to apply).
// For the recorded ratio to be the tracker's, two things must line up:
//
//  1. The same events. Evaluated on a minute boundary T, the tracker's
//     window holds the minutes T-w to T-1 (its minute snapshots). Events
//     happen here in the last 15 seconds of each minute, and scrapes at
//     :00, :20 and :40: the first sample in (T-w, T], taken before :45 of
//     minute T-w, still has the count at T-w, and the one at T the count
//     at T. Their difference is the tracker's count.
//  2. A factor that multiplies exactly. Both counts of a ratio are
//     multiplied by the same factor, which cancels in the division only
//     when the multiplications are exact: when the factor is a dyadic
//     fraction. With regular scrapes it is w / (m-1) / interval for the m
//     samples in the window, such as 30/29 for [30m] every minute, and no
//     interval (to the millisecond, up to the 5 minutes beyond which [5m]
//     holds a single sample) makes all four factors dyadic; the ratio
//     then often differs from the tracker's by an ulp or two (with every
//     scrape of this scenario, [30m] records 0.023999999999999997 for
//     0.024). So some scrapes fail, as they do: the one 20s after each
//     window's start, which puts the first sample 40s in, over 1.1
//     average intervals, so that toStart is half an interval; and enough
//     others that each window holds 2^k+1 samples. The factor is then
//     1 + 1/2^(k+1), exact.
//
// The windows longer than the scenario (6h and beyond) reach back to the
// counters' first samples, at zero, past which Prometheus does not
// extrapolate: both sides count every event.
func TestRecordedEqualsInProcess(t *testing.T) {
	s := slotest.SLOs()[0]
	if _, ok := s.SLI.(slo.HTTPAvailability); !ok || s.Name != "checkout-availability" {
		t.Fatalf("the scenario's series are those of checkout-availability, not of %s", s.Name)
	}
	// promtool evaluates from the Unix epoch.
	start := time.Unix(0, 0)
	end := scenarioMinutes * time.Minute

	// The events, into the tracker, and the counts at the start of each
	// minute, for the series.
	tr := budget.New(s, start)
	var get, post, bad []int // cumulative, at the start of each minute
	var g, p, b int
	for m := range scenarioMinutes {
		get, post, bad = append(get, g), append(post, p), append(bad, b)
		minute := start.Add(time.Duration(m) * time.Minute).Add(eventsFrom)
		nb := badPerMinute(m)
		for k := range eventsPerMinute {
			at := minute.Add(time.Duration(k) * 15 * time.Millisecond).UnixNano()
			tr.Add(at, k >= nb)
		}
		g, p, b = g+getItemsPerMin, p+postCheckoutMin-nb, b+nb
	}
	get, post, bad = append(get, g), append(post, p), append(bad, b)
	st := tr.Status(start.Add(end))

	times := scrapeTimes(end)
	for _, w := range shortWindows {
		f, first := extrapolation(times, end, w.window)
		if f*(1<<20) != math.Trunc(f*(1<<20)) {
			t.Fatalf("[%s]: extrapolation factor %v is not dyadic", slo.WindowName(w.window), f)
		}
		if d := first - (end - w.window); d <= 0 || d >= eventsFrom {
			t.Fatalf("[%s]: first sample %v after the window's start: it does not have the count at the start", slo.WindowName(w.window), d)
		}
	}

	// values writes a counter's samples in promtool's notation: a value at
	// each scrape taken, _ at each one missed.
	taken := make(map[time.Duration]bool, len(times))
	for _, t := range times {
		taken[t] = true
	}
	values := func(counts []int) string {
		var v []string
		for at := time.Duration(0); at <= end; at += scrapeInterval {
			if !taken[at] {
				v = append(v, "_")
				continue
			}
			// Scrapes are before the minute's events.
			v = append(v, strconv.Itoa(counts[at/time.Minute]))
		}
		return strings.Join(v, " ")
	}

	dir := t.TempDir()
	var rules bytes.Buffer
	if err := slo.WriteRules(&rules, []slo.SLO{s}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&y, format+"\n", a...) }
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	evalTime := strconv.Itoa(scenarioMinutes) + "m"
	pf("rule_files: [rules.yml]")
	pf("evaluation_interval: 1m")
	pf("tests:")
	pf("  - interval: %s", scrapeInterval)
	pf("    input_series:")
	series := func(labels string, counts []int) {
		pf("      - series: '%s{%s}'", slo.PromHTTPCount, labels)
		pf("        values: '%s'", values(counts))
	}
	series(`http_route="/items/{id}",http_request_method="GET",http_response_status_code="200"`, get)
	series(`http_route="/checkout",http_request_method="POST",http_response_status_code="200"`, post)
	series(`http_route="/checkout",http_request_method="POST",http_response_status_code="500"`, bad)
	pf("    promql_expr_test:")
	sample := func(metric string, v float64) {
		pf("      - expr: %s", metric)
		pf("        eval_time: %s", evalTime)
		pf("        exp_samples:")
		pf("          - labels: '%s{slo=%q}'", metric, s.Name)
		pf("            value: %s", num(v))
	}
	for _, w := range st.Windows {
		if w.Events == 0 {
			t.Fatalf("no events in the %s window", slo.WindowName(w.Window))
		}
		sample(slo.RuleErrorRatio+slo.WindowName(w.Window), w.ErrorRatio)
	}
	sample(slo.RuleBudgetRemaining, st.BudgetRemaining)
	pf("    alert_rule_test:")
	pf("      - eval_time: %s", evalTime)
	pf("        alertname: %s", slo.AlertName)
	pf("        exp_alerts:")
	for _, sev := range []struct {
		severity slo.Severity
		firing   bool
	}{{slo.Page, st.Page}, {slo.Ticket, st.Ticket}} {
		if !sev.firing {
			continue
		}
		pf("          - exp_labels: {slo: %q, severity: %q}", s.Name, sev.severity)
		pf("            exp_annotations:")
		pf("              summary: %q", fmt.Sprintf("SLO %s is burning its error budget too fast (%s)", s.Name, sev.severity))
		pf("              description: %q", s.Description)
	}
	if !st.Page || !st.Ticket {
		t.Errorf("the scenario should page and ticket at its end: page %v, ticket %v", st.Page, st.Ticket)
	}
	test := filepath.Join(dir, "recorded_test.yml")
	if err := os.WriteFile(test, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, w := range st.Windows {
		t.Logf("%4s: %6d events, %5d bad, error ratio %s", slo.WindowName(w.Window), w.Events, w.Bad, num(w.ErrorRatio))
	}
	promtool(t, dir, "test", "rules", "recorded_test.yml")
}
