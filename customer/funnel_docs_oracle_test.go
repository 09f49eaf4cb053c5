package customer_test

// An oracle for Funnel and Goal written from the package documentation
// alone ("Definitions", "Metrics", "Configuration" and the doc comments of
// StepAt, ExposeAt, ConvertAt, the options and Order), compared with the
// figures the recorders report through a real SDK ManualReader on random
// event streams.
//
// Where the documentation leaves a value open the generator avoids it:
//   - the watermark moves in steps of min(window/1024, 1s) and may trail the
//     latest time by up to one step, so an event more than a window but at
//     most a window plus one step behind the exact watermark may be accepted
//     or dropped: no event falls in that band;
//   - an event with more than one fault (say an empty user id and an unknown
//     step) is not generated, the order of the checks being unstated;
//   - the segment value limit is chosen so that the "plan" dimension never
//     overflows whether or not _UNKNOWN and _OTHER occupy places in it;
//   - the user cap is never reached (reclamation timing is not specified);
//   - a zero reading of a counter or a missing series are taken as the same,
//     except for kpikit.dropped, which the documentation says reports every
//     reason it can count at 0 from construction.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

const (
	doSeeds      = 300
	doValueLimit = 4
)

var doEpoch = time.Unix(0, 0).UTC()

// doConfig is one recorder: a funnel in one order, or a goal.
type doConfig struct {
	goal     bool
	order    customer.Order
	steps    int
	window   time.Duration // 0: the default window
	segments bool
	base     time.Time
	users    int
}

func (c doConfig) win() time.Duration {
	if c.window == 0 {
		return customer.DefaultWindow
	}
	return c.window
}

// quantum is the watermark's step: a 1024th of the window, at most a second.
func (c doConfig) quantum() time.Duration {
	return min(c.win()/1024, time.Second)
}

func (c doConfig) String() string {
	kind := "goal"
	if !c.goal {
		kind = fmt.Sprintf("funnel order=%v steps=%d", c.order, c.steps)
	}
	return fmt.Sprintf("%s window=%v segments=%v base=%s users=%d",
		kind, c.win(), c.segments, c.base.Format(time.RFC3339Nano), c.users)
}

func (c doConfig) stepName(i int) string {
	if c.goal {
		return [...]string{"expose", "convert"}[i]
	}
	return "s" + strconv.Itoa(i)
}

func (c doConfig) nSteps() int {
	if c.goal {
		return 2
	}
	return c.steps
}

// doEvent is one recording call, with the clock reading set before it.
type doEvent struct {
	clock time.Time
	user  string
	step  string // a funnel step, "expose" or "convert"
	t     time.Time
	now   bool // the form without a time: t is the clock
	segs  []string
}

func doShortUser(u string) string {
	if len(u) > 12 {
		return fmt.Sprintf("%.6s…(%d bytes)", u, len(u))
	}
	return strconv.Quote(u)
}

func (e doEvent) String() string {
	when := e.t.UTC().Format(time.RFC3339Nano)
	if e.now {
		when = "now"
	}
	segs := make([]string, len(e.segs))
	for i, s := range e.segs {
		if len(s) > 12 {
			s = fmt.Sprintf("%.4q…(%d bytes)", s, len(s))
		} else {
			s = strconv.Quote(s)
		}
		segs[i] = s
	}
	return fmt.Sprintf("clock=%s %s %s t=%s segs=[%s]",
		e.clock.UTC().Format(time.RFC3339Nano), doShortUser(e.user), e.step, when, strings.Join(segs, " "))
}

type doAttempt struct {
	start     time.Time
	reached   []bool
	cur       int // strict: the step last reached
	broken    bool
	complete  bool
	converted bool
	seg       string
}

// doOracle applies the documented rules.
type doOracle struct {
	cfg       doConfig
	clock     time.Time
	wm        time.Time
	hasWM     bool
	attempts  map[string]*doAttempt
	held      [2][]string
	users     map[string][]int64 // funnel: per segment row, users per step
	exposed   map[string]int64
	converted map[string]int64
	exposures map[string]int64
	convs     map[string]int64
	ttc       map[string][]float64
	dropped   map[string]int64
}

func newDoOracle(cfg doConfig) *doOracle {
	return &doOracle{
		cfg:       cfg,
		attempts:  map[string]*doAttempt{},
		users:     map[string][]int64{},
		exposed:   map[string]int64{},
		converted: map[string]int64{},
		exposures: map[string]int64{},
		convs:     map[string]int64{},
		ttc:       map[string][]float64{},
		dropped:   map[string]int64{},
	}
}

func (o *doOracle) stepIndex(step string) int {
	for i := range o.cfg.nSteps() {
		if o.cfg.stepName(i) == step {
			return i
		}
	}
	return -1
}

// resolve applies "Configuration": positional values, _UNKNOWN for a
// missing or empty one, _OTHER for invalid UTF-8, an over-long value or
// one over the limit, and one invalid_segment per event with extra values.
func (o *doOracle) resolve(vals []string) string {
	dims := 0
	if o.cfg.segments {
		dims = 2
	}
	out := make([]string, dims)
	for d := range dims {
		v := ""
		if d < len(vals) {
			v = vals[d]
		}
		switch {
		case v == "":
			v = customer.UnknownValue
		case !utf8.ValidString(v) || len(v) > customer.MaxSegmentValueLen:
			o.dropped["invalid_segment"]++
			v = customer.OtherValue
		case doContains(o.held[d], v):
		case len(o.held[d]) < doValueLimit:
			o.held[d] = append(o.held[d], v)
		default:
			o.dropped["segment_overflow"]++
			v = customer.OtherValue
		}
		out[d] = v
	}
	if len(vals) > dims {
		o.dropped["invalid_segment"]++
	}
	return strings.Join(out, "|")
}

func doContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ambiguous reports whether t falls where the documentation leaves the
// late_event decision open (within one watermark step past the window).
func (o *doOracle) ambiguous(t, clock time.Time) bool {
	if !o.hasWM || t.Before(doEpoch) || t.Sub(clock) > customer.FutureTolerance {
		return false
	}
	behind := o.wm.Sub(t)
	return behind > o.cfg.win() && behind <= o.cfg.win()+o.cfg.quantum()
}

// apply applies one event. It reports false when the event falls in the
// band the documentation leaves open.
func (o *doOracle) apply(e doEvent) bool {
	t := e.t
	if e.now {
		t = e.clock
	}
	o.clock = e.clock
	step := o.stepIndex(e.step)
	switch {
	case e.user == "":
		o.dropped["empty_user_id"]++
		return true
	case len(e.user) > customer.MaxUserIDLen:
		o.dropped["long_user_id"]++
		return true
	case step < 0:
		o.dropped["unknown_step"]++
		return true
	case t.Sub(e.clock) > customer.FutureTolerance:
		o.dropped["future_event"]++
		return true
	case t.Before(doEpoch):
		o.dropped["late_event"]++
		return true
	case o.ambiguous(t, e.clock):
		return false
	case o.hasWM && o.wm.Sub(t) > o.cfg.win():
		o.dropped["late_event"]++
		return true
	}
	// The watermark: the latest accepted time, capped at the clock.
	c := t
	if c.After(e.clock) {
		c = e.clock
	}
	if !o.hasWM || c.After(o.wm) {
		o.wm, o.hasWM = c, true
	}

	a := o.attempts[e.user]
	if a != nil && t.Before(a.start.Add(o.cfg.win())) {
		te := t
		if te.Before(a.start) {
			te = a.start
		}
		o.inAttempt(a, step, te)
		return true
	}
	if step != 0 && !(o.cfg.order == customer.Any && !o.cfg.goal) {
		return true // no attempt to join and cannot start one: ignored
	}
	a = &doAttempt{start: t, reached: make([]bool, o.cfg.nSteps()), seg: o.resolve(e.segs)}
	o.attempts[e.user] = a
	if o.cfg.goal {
		o.exposed[a.seg]++
		o.exposures[a.seg]++
		return true
	}
	a.cur = step
	o.reach(a, step, t)
	return true
}

func (o *doOracle) inAttempt(a *doAttempt, step int, te time.Time) {
	if o.cfg.goal {
		if step == 0 {
			o.exposures[a.seg]++
			return
		}
		o.convs[a.seg]++
		if !a.converted {
			a.converted = true
			o.converted[a.seg]++
			o.ttc[a.seg] = append(o.ttc[a.seg], te.Sub(a.start).Seconds())
		}
		return
	}
	switch o.cfg.order {
	case customer.Sequential:
		if a.reached[step] {
			return
		}
		for i := range step {
			if !a.reached[i] {
				return
			}
		}
		o.reach(a, step, te)
	case customer.Any:
		if !a.reached[step] {
			o.reach(a, step, te)
		}
	case customer.Strict:
		switch {
		case a.broken || step == a.cur:
		case step == a.cur+1:
			a.cur = step
			o.reach(a, step, te)
		default:
			a.broken = true
		}
	}
}

func (o *doOracle) reach(a *doAttempt, step int, te time.Time) {
	a.reached[step] = true
	row := o.users[a.seg]
	if row == nil {
		row = make([]int64, o.cfg.nSteps())
		o.users[a.seg] = row
	}
	row[step]++
	for _, r := range a.reached {
		if !r {
			return
		}
	}
	if !a.complete {
		a.complete = true
		o.ttc[a.seg] = append(o.ttc[a.seg], te.Sub(a.start).Seconds())
	}
}

// doReasons are the reasons the documentation says a memory recorder
// reports from construction.
func doReasons(cfg doConfig) []string {
	r := []string{"closed", "empty_user_id", "future_event", "invalid_segment", "late_event", "long_user_id", "user_cap"}
	if !cfg.goal {
		r = append(r, "unknown_step")
	}
	if cfg.segments {
		r = append(r, "segment_overflow")
	}
	sort.Strings(r)
	return r
}

// ---- reading the SDK -----------------------------------------------------

type doHist struct {
	count    uint64
	sum      float64
	min, max float64
	buckets  []uint64
}

type doReport struct {
	counters map[string]int64 // metric \x00 key
	gauges   map[string]float64
	hists    map[string]doHist
	tracked  int64
	dropped  map[string]int64
	problems []string
}

func doSegKey(set attribute.Set, segments bool) string {
	if !segments {
		return ""
	}
	d, _ := set.Value("device")
	p, _ := set.Value("plan")
	return d.String() + "|" + p.String()
}

func doRead(t *testing.T, reader *sdkmetric.ManualReader, cfg doConfig, name string) doReport {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	r := doReport{
		counters: map[string]int64{},
		gauges:   map[string]float64{},
		hists:    map[string]doHist{},
		dropped:  map[string]int64{},
	}
	nameAttr := "funnel"
	component := "customer.funnel"
	if cfg.goal {
		nameAttr, component = "goal", "customer.goal"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			key := func(set attribute.Set) string {
				k := m.Name + "\x00" + doSegKey(set, cfg.segments)
				if v, ok := set.Value("funnel.step"); ok {
					k += "\x00" + v.String()
					idx, _ := set.Value("funnel.step.index")
					i := -1
					for j := range cfg.nSteps() {
						if cfg.stepName(j) == v.String() {
							i = j
						}
					}
					if idx.String() != strconv.Itoa(i+1) {
						r.problems = append(r.problems, fmt.Sprintf("%s: funnel.step=%s has funnel.step.index=%s", m.Name, v.String(), idx.String()))
					}
				}
				if v, ok := set.Value("funnel.basis"); ok {
					k += "\x00" + v.String()
				}
				if v, ok := set.Value(attribute.Key(nameAttr)); m.Name != "kpikit.dropped" && (!ok || v.String() != name) {
					r.problems = append(r.problems, fmt.Sprintf("%s: %s attribute %q, want %q", m.Name, nameAttr, v.String(), name))
				}
				return k
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					switch m.Name {
					case "kpikit.dropped":
						if c, _ := p.Attributes.Value("kpikit.component"); c.String() == component {
							reason, _ := p.Attributes.Value("reason")
							r.dropped[reason.String()] += p.Value
						}
					case customer.MetricFunnelTrackedUsers, customer.MetricGoalTrackedUsers:
						r.tracked += p.Value
					default:
						r.counters[key(p.Attributes)] += p.Value
					}
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					r.gauges[key(p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					h := doHist{count: p.Count, sum: p.Sum, buckets: p.BucketCounts}
					if v, ok := p.Min.Value(); ok {
						h.min = v
					}
					if v, ok := p.Max.Value(); ok {
						h.max = v
					}
					r.hists[key(p.Attributes)] = h
				}
			default:
				r.problems = append(r.problems, fmt.Sprintf("%s: unexpected data type %T", m.Name, m.Data))
			}
		}
	}
	return r
}

func doNear(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// compare returns the differences between the oracle and the report.
func (o *doOracle) compare(r doReport) []string {
	diffs := append([]string(nil), r.problems...)
	cfg := o.cfg
	counter := func(metric, seg string, extra ...string) string {
		return strings.Join(append([]string{metric, seg}, extra...), "\x00")
	}
	want := map[string]int64{}
	wantG := map[string]float64{}
	if cfg.goal {
		for seg, n := range o.exposed {
			want[counter(customer.MetricGoalExposedUsers, seg)] = n
			want[counter(customer.MetricGoalConvertedUsers, seg)] = o.converted[seg]
			want[counter(customer.MetricGoalExposures, seg)] = o.exposures[seg]
			want[counter(customer.MetricGoalConversions, seg)] = o.convs[seg]
			wantG[counter(customer.MetricGoalConversion, seg)] = float64(o.converted[seg]) / float64(n)
		}
	} else {
		for seg, row := range o.users {
			for i, n := range row {
				want[counter(customer.MetricFunnelUsers, seg, cfg.stepName(i))] = n
				if i == 0 {
					continue
				}
				if row[i-1] != 0 {
					wantG[counter(customer.MetricFunnelConversion, seg, cfg.stepName(i), "previous")] = float64(n) / float64(row[i-1])
				}
				if row[0] != 0 {
					wantG[counter(customer.MetricFunnelConversion, seg, cfg.stepName(i), "first")] = float64(n) / float64(row[0])
				}
			}
		}
	}
	for _, k := range doKeys(want, r.counters) {
		if want[k] != r.counters[k] {
			diffs = append(diffs, fmt.Sprintf("%s: got %d, want %d", doShowKey(k), r.counters[k], want[k]))
		}
	}
	for _, k := range doKeys(wantG, r.gauges) {
		w, wok := wantG[k]
		g, gok := r.gauges[k]
		switch {
		case wok && !gok:
			diffs = append(diffs, fmt.Sprintf("%s: not reported, want %g", doShowKey(k), w))
		case !wok && gok:
			diffs = append(diffs, fmt.Sprintf("%s: reported %g, want none (divisor 0)", doShowKey(k), g))
		case !doNear(w, g):
			diffs = append(diffs, fmt.Sprintf("%s: got %g, want %g", doShowKey(k), g, w))
		}
	}
	histName := customer.MetricFunnelTimeToConvert
	if cfg.goal {
		histName = customer.MetricGoalTimeToConvert
	}
	seen := map[string]bool{}
	for seg, vals := range o.ttc {
		k := counter(histName, seg)
		seen[k] = true
		g := r.hists[k]
		w := doHist{count: uint64(len(vals)), min: math.Inf(1), max: math.Inf(-1), buckets: make([]uint64, len(customer.DefaultTimeToConvertBuckets)+1)}
		for _, v := range vals {
			w.sum += v
			w.min = math.Min(w.min, v)
			w.max = math.Max(w.max, v)
			w.buckets[sort.SearchFloat64s(customer.DefaultTimeToConvertBuckets, v)]++
		}
		if g.count != w.count || !doNear(g.sum, w.sum) || !doNear(g.min, w.min) || !doNear(g.max, w.max) || fmt.Sprint(g.buckets) != fmt.Sprint(w.buckets) {
			diffs = append(diffs, fmt.Sprintf("%s: got count=%d sum=%g min=%g max=%g buckets=%v, want count=%d sum=%g min=%g max=%g buckets=%v (values %v)",
				doShowKey(k), g.count, g.sum, g.min, g.max, g.buckets, w.count, w.sum, w.min, w.max, w.buckets, vals))
		}
	}
	for k, g := range r.hists {
		if !seen[k] && g.count != 0 {
			diffs = append(diffs, fmt.Sprintf("%s: got count=%d sum=%g, want none", doShowKey(k), g.count, g.sum))
		}
	}
	reasons := doReasons(cfg)
	for _, reason := range reasons {
		g, ok := r.dropped[reason]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("kpikit.dropped reason=%s: not reported, want %d", reason, o.dropped[reason]))
		} else if g != o.dropped[reason] {
			diffs = append(diffs, fmt.Sprintf("kpikit.dropped reason=%s: got %d, want %d", reason, g, o.dropped[reason]))
		}
	}
	for reason, g := range r.dropped {
		if !doContains(reasons, reason) {
			diffs = append(diffs, fmt.Sprintf("kpikit.dropped reason=%s: reported %d, a reason the documentation does not list for this recorder", reason, g))
		}
	}
	for reason, n := range o.dropped {
		if !doContains(reasons, reason) {
			diffs = append(diffs, fmt.Sprintf("oracle counted reason %s=%d outside the documented set", reason, n))
		}
	}
	// tracked_users: attempts held, expired ones not yet reclaimed
	// included. Reclamation is "one window after it expired": an attempt
	// started less than two windows before the latest possible reference
	// time (clock + FutureTolerance) is still held.
	var most, least int64
	for _, a := range o.attempts {
		most++
		if a.start.Add(2 * cfg.win()).After(o.clock.Add(customer.FutureTolerance)) {
			least++
		}
	}
	if r.tracked > most || r.tracked < least {
		diffs = append(diffs, fmt.Sprintf("tracked_users: got %d, want between %d and %d", r.tracked, least, most))
	}
	return diffs
}

func doKeys[V any](a, b map[string]V) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func doShowKey(k string) string {
	return strings.ReplaceAll(k, "\x00", " ")
}

// ---- generating streams --------------------------------------------------

var (
	doLongUser  = strings.Repeat("u", customer.MaxUserIDLen+1)
	doMaxUser   = strings.Repeat("m", customer.MaxUserIDLen)
	doLongValue = strings.Repeat("v", customer.MaxSegmentValueLen+1)
	doMaxValue  = strings.Repeat("w", customer.MaxSegmentValueLen)
)

func doPickConfig(rng *rand.Rand, kind int) doConfig {
	cfg := doConfig{
		goal:     kind == 3,
		order:    []customer.Order{customer.Sequential, customer.Any, customer.Strict, customer.Sequential}[kind],
		steps:    2 + rng.IntN(3),
		window:   []time.Duration{0, time.Hour, 10 * time.Minute, 24 * time.Hour, 90 * time.Second}[rng.IntN(5)],
		segments: rng.IntN(3) != 0,
		base:     time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		users:    1 + rng.IntN(5),
	}
	if rng.IntN(5) == 0 {
		cfg.base = doEpoch.Add(time.Duration(rng.IntN(3)) * time.Hour)
	}
	return cfg
}

func doPickSegs(rng *rand.Rand, cfg doConfig) []string {
	if !cfg.segments {
		if rng.IntN(12) == 0 {
			return []string{"extra"}
		}
		return nil
	}
	devices := []string{"a", "b", "c", "d", "e", "f", "", doLongValue, "\xff\xfe"}
	plans := []string{"x", "x", doMaxValue, "", "\xc3", doLongValue}
	switch rng.IntN(10) {
	case 0:
		return nil
	case 1:
		return []string{devices[rng.IntN(len(devices))]}
	case 2:
		return []string{devices[rng.IntN(len(devices))], plans[rng.IntN(len(plans))], "extra"}
	default:
		return []string{devices[rng.IntN(6)], plans[rng.IntN(len(plans))]}
	}
}

// doGenerate draws a stream, advancing an oracle so that it can aim at the
// boundaries of the current attempts and the watermark, and so that no
// event falls in the band the documentation leaves open.
func doGenerate(rng *rand.Rand, cfg doConfig, n int) []doEvent {
	o := newDoOracle(cfg)
	w := cfg.win()
	q := cfg.quantum()
	clock := cfg.base
	var out []doEvent
	for len(out) < n {
		if rng.IntN(8) == 0 {
			switch rng.IntN(3) {
			case 0:
				clock = clock.Add(time.Duration(rng.Int64N(int64(w / 2))))
			case 1:
				clock = clock.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
			default:
				clock = clock.Add(w + time.Duration(rng.IntN(3)-1))
			}
		}
		e := doEvent{clock: clock, user: "u" + strconv.Itoa(rng.IntN(cfg.users))}
		switch rng.IntN(60) {
		case 0:
			e.user = ""
		case 1:
			e.user = doLongUser
		case 2:
			e.user = doMaxUser
		}
		// The step: mostly the user's next one, so that attempts progress.
		step := rng.IntN(cfg.nSteps())
		a := o.attempts[e.user]
		if a != nil && rng.IntN(2) == 0 {
			for i, r := range a.reached {
				if !r {
					step = i
					break
				}
			}
		}
		e.step = cfg.stepName(step)
		if !cfg.goal && e.user != "" && len(e.user) <= customer.MaxUserIDLen && rng.IntN(40) == 0 {
			e.step = "nope"
		}
		if step == 0 || (!cfg.goal && cfg.order == customer.Any) || rng.IntN(4) == 0 {
			e.segs = doPickSegs(rng, cfg)
		}
		if cfg.goal && e.step == "convert" {
			e.segs = nil
		}
		// The time.
		ref := clock
		if a != nil && rng.IntN(2) == 0 {
			ref = a.start
		}
		offsets := []time.Duration{-w - 1, -w, -1, 0, 1, w - 1, w, w + 1, 2 * w}
		switch k := rng.IntN(20); {
		case k < 5:
			e.t = ref.Add(offsets[rng.IntN(len(offsets))])
		case k < 7:
			e.now = true
		case k < 9:
			e.t = clock.Add([]time.Duration{customer.FutureTolerance, customer.FutureTolerance + 1, customer.FutureTolerance - 1, customer.FutureTolerance + time.Duration(rng.Int64N(int64(w)))}[rng.IntN(4)])
		case k < 11 && o.hasWM:
			e.t = o.wm.Add([]time.Duration{-w, -w + 1, -w - q - 1, -w - q - time.Second, -2 * w}[rng.IntN(5)])
		case k < 12:
			e.t = []time.Time{doEpoch.Add(-1), doEpoch, {}, doEpoch.Add(-w / 2), doEpoch.Add(w / 3)}[rng.IntN(5)]
		default:
			e.t = clock.Add(time.Duration(rng.Int64N(int64(2*w+customer.FutureTolerance))) - 2*w + time.Duration(rng.Int64N(int64(time.Second))))
		}
		if !e.now && o.ambiguous(e.t, clock) {
			if rng.IntN(2) == 0 {
				e.t = o.wm.Add(-w)
			} else {
				e.t = o.wm.Add(-w - q - 1)
			}
		}
		if !o.apply(e) {
			panic("generator produced an ambiguous event")
		}
		out = append(out, e)
	}
	return out
}

// ---- running -------------------------------------------------------------

// doRun feeds events to a new recorder and compares its report with the
// oracle's after every event in checkpoints (and after the last). It
// returns the differences at the first checkpoint that has any, and
// whether the oracle found the stream unambiguous.
func doRun(t *testing.T, cfg doConfig, events []doEvent, checkpoints map[int]bool) (diffs []string, at int, ok bool) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = provider.Shutdown(context.Background()) }()
	clk := newClock(cfg.base)
	opts := []customer.Option{customer.WithMeterProvider(provider), customer.WithClock(clk.Now)}
	if cfg.window != 0 {
		opts = append(opts, customer.WithWindow(cfg.window))
	}
	if cfg.segments {
		opts = append(opts, customer.WithSegments("device", "plan"), customer.WithSegmentValueLimit(doValueLimit))
	}
	var (
		funnel *customer.Funnel
		goal   *customer.Goal
		err    error
		name   = "docs_oracle"
	)
	if cfg.goal {
		goal, err = customer.NewGoal(name, opts...)
		defer func() { _ = goal.Close() }()
	} else {
		steps := make([]string, cfg.steps)
		for i := range steps {
			steps[i] = cfg.stepName(i)
		}
		funnel, err = customer.NewFunnel(name, steps, append(opts, customer.WithOrder(cfg.order))...)
		defer func() { _ = funnel.Close() }()
	}
	if err != nil {
		t.Fatal(err)
	}
	o := newDoOracle(cfg)
	ctx := context.Background()
	check := func(i int) bool {
		diffs = o.compare(doRead(t, reader, cfg, name))
		at = i
		return len(diffs) > 0
	}
	if check(0) {
		return diffs, 0, true
	}
	for i, e := range events {
		clk.Set(e.clock)
		if !o.apply(e) {
			return nil, 0, false
		}
		switch {
		case cfg.goal && e.step == "expose" && e.now:
			goal.Expose(ctx, e.user, e.segs...)
		case cfg.goal && e.step == "expose":
			goal.ExposeAt(ctx, e.t, e.user, e.segs...)
		case cfg.goal && e.now:
			goal.Convert(ctx, e.user)
		case cfg.goal:
			goal.ConvertAt(ctx, e.t, e.user)
		case e.now:
			funnel.Step(ctx, e.user, e.step, e.segs...)
		default:
			funnel.StepAt(ctx, e.t, e.user, e.step, e.segs...)
		}
		if (checkpoints[i+1] || i+1 == len(events)) && check(i+1) {
			return diffs, i + 1, true
		}
	}
	return nil, len(events), true
}

// doMinimize removes events while the run still disagrees (and stays
// unambiguous for the oracle).
func doMinimize(t *testing.T, cfg doConfig, events []doEvent) []doEvent {
	t.Helper()
	fails := func(ev []doEvent) bool {
		d, _, ok := doRun(t, cfg, ev, nil)
		return ok && len(d) > 0
	}
	for chunk := len(events) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i+chunk <= len(events); {
			cand := append(append([]doEvent(nil), events[:i]...), events[i+chunk:]...)
			if fails(cand) {
				events = cand
			} else {
				i += chunk
			}
		}
	}
	return events
}

func TestFunnelGoalDocsOracle(t *testing.T) {
	streams, events := 0, 0
	for seed := range uint64(doSeeds) {
		for kind := range 4 {
			rng := rand.New(rand.NewPCG(seed, uint64(kind)))
			cfg := doPickConfig(rng, kind)
			stream := doGenerate(rng, cfg, 20+rng.IntN(120))
			checkpoints := map[int]bool{len(stream) / 3: true, 2 * len(stream) / 3: true}
			diffs, at, ok := doRun(t, cfg, stream, checkpoints)
			if !ok {
				t.Fatalf("seed %d kind %d: the oracle found its own stream ambiguous", seed, kind)
			}
			streams++
			events += len(stream)
			if len(diffs) == 0 {
				continue
			}
			small := doMinimize(t, cfg, stream[:at])
			minDiffs, _, _ := doRun(t, cfg, small, nil)
			var b strings.Builder
			fmt.Fprintf(&b, "seed %d kind %d: %s\ndisagreement after event %d of %d:\n  %s\n", seed, kind, cfg, at, len(stream), strings.Join(diffs, "\n  "))
			fmt.Fprintf(&b, "minimized stream (%d events):\n", len(small))
			for _, e := range small {
				fmt.Fprintf(&b, "  %s\n", e)
			}
			fmt.Fprintf(&b, "its differences:\n  %s\nfull stream:\n", strings.Join(minDiffs, "\n  "))
			for i, e := range stream[:at] {
				fmt.Fprintf(&b, "  %3d %s\n", i+1, e)
			}
			t.Fatal(b.String())
		}
	}
	t.Logf("%d streams, %d events compared", streams, events)
}
