package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

const readmePath = "../../../README.md"

type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []target    `json:"targets"`
	Panels     []panel     `json:"panels"` // of a collapsed row
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// allPanels returns the panels, those inside collapsed rows included.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want 39 or later", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("no datasource variable named datasource (variables: %v)", vars)
	}
	if vars["job"] == "" {
		t.Errorf("no job variable (variables: %v)", vars)
	}

	var rows []string
	ids := map[int]string{}
	panels := allPanels(d.Panels)
	for _, p := range panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.Title == "" {
			t.Errorf("panel %d (%s) has no title", p.ID, p.Type)
		}
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("%s: id also used by %q", name, prev)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		if !isPromDatasource(p.Datasource) {
			t.Errorf("%s: datasource %+v, want the prometheus ${datasource} variable", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: missing or repeated refId %q", name, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s, target %s: empty expr", name, tg.RefID)
			}
			if tg.Datasource != nil && !isPromDatasource(tg.Datasource) {
				t.Errorf("%s, target %s: datasource %+v, want the panel's", name, tg.RefID, tg.Datasource)
			}
		}
	}
	if want := []string{"Active users, retention and revenue", "Checkout funnel and goal", "Cost of failures", "Service health", "SLOs"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
}

func isPromDatasource(ds *datasource) bool {
	return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
}

// TestDashboardMetricsDocumented checks that every metric the dashboard
// queries is one the README documents, or one of package slo's, under the
// name the Prometheus exporter gives it.
func TestDashboardMetricsDocumented(t *testing.T) {
	docs := append(readmeMetrics(t), sloMetrics(t)...)
	d := loadDashboard(t)
	seen := map[string]bool{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			names, err := metricNames(tg.Expr)
			if err != nil {
				t.Errorf("panel %q, target %s: %v", p.Title, tg.RefID, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("panel %q, target %s: no metric in %q", p.Title, tg.RefID, tg.Expr)
			}
			for _, n := range names {
				seen[n] = true
				if err := docs.check(n); err != nil {
					t.Errorf("panel %q, target %s: %v", p.Title, tg.RefID, err)
				}
			}
		}
	}
	// The dashboard covers both halves of the library.
	for _, prefix := range []string{"customer_", "http_", "kpikit_", "go_", "slo_"} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(seen)), func(n string) bool { return strings.HasPrefix(n, prefix) }) {
			t.Errorf("no %s* metric on the dashboard", prefix)
		}
	}
}

// TestDashboardActivity checks that the dashboard shows the figures of the
// shop's customer.Activity that people open it for: DAU / WAU / MAU and
// stickiness, the cohort retention triangle, revenue, ARPU and ARPPU per
// period, and the LTV curve. Each is named by the constant the customer
// package declares, translated as the Prometheus exporter names it; every
// query of an Activity metric selects the shop's activity.
func TestDashboardActivity(t *testing.T) {
	docs := readmeMetrics(t)
	queried := map[string][]string{} // series name -> panel titles
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, tg := range p.Targets {
			names, err := metricNames(tg.Expr)
			if err != nil {
				t.Fatalf("panel %q, target %s: %v", p.Title, tg.RefID, err)
			}
			for _, n := range names {
				queried[n] = append(queried[n], p.Title)
			}
		}
	}
	for _, tc := range []struct {
		figure  string
		metrics []string // every one queried
	}{
		{"DAU / WAU / MAU", []string{customer.MetricActiveUsers}},
		{"stickiness", []string{customer.MetricActiveStickiness}},
		{"cohort retention", []string{customer.MetricRetentionUsers, customer.MetricRetentionCohortSize}},
		{"revenue per period", []string{customer.MetricRevenueAmount}},
		{"ARPU per period", []string{customer.MetricRevenueAmount, customer.MetricActivePeriodUsers}},
		{"ARPPU per period", []string{customer.MetricRevenueAmount, customer.MetricRevenuePayingUsers}},
		{"LTV curve", []string{customer.MetricCohortLTV}},
	} {
		for _, m := range tc.metrics {
			d, ok := docs.find(m)
			if !ok {
				t.Errorf("%s: %s is not in the README's metric tables", tc.figure, m)
				continue
			}
			if !slices.ContainsFunc(d.promNames(), func(n string) bool { return len(queried[n]) > 0 }) {
				t.Errorf("%s: no panel queries %s (as %s)", tc.figure, m, strings.Join(d.promNames(), " or "))
			}
		}
	}
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, tg := range p.Targets {
			if n := len(activitySeries(tg.Expr)); n > 0 && strings.Count(tg.Expr, `activity="shop"`) < n {
				t.Errorf("panel %q, target %s: an Activity metric without activity=\"shop\": %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
}

// TestDashboardCostOfFailures checks that the Cost of failures row shows
// the impaired attempts, the conversion of clean and impaired attempts
// (from the funnel's users and its impaired step users), the lost
// conversions, the revenue at risk and the users affected, and that every
// query of a funnel metric selects the shop's checkout funnel.
func TestDashboardCostOfFailures(t *testing.T) {
	var row []panel
	in := false
	for _, p := range loadDashboard(t).Panels {
		if p.Type == "row" {
			in = p.Title == "Cost of failures"
			if in {
				row = append(row, p.Panels...) // of a collapsed row
			}
			continue
		}
		if in {
			row = append(row, p)
		}
	}
	if len(row) == 0 {
		t.Fatal("no Cost of failures row")
	}
	queried := map[string]bool{}
	for _, p := range row {
		for _, tg := range p.Targets {
			names, err := metricNames(tg.Expr)
			if err != nil {
				t.Fatalf("panel %q, target %s: %v", p.Title, tg.RefID, err)
			}
			funnel := 0
			for _, n := range names {
				queried[n] = true
				if strings.HasPrefix(n, "customer_funnel_") || n == "customer_revenue_at_risk" {
					funnel++
				}
			}
			if strings.Count(tg.Expr, `funnel="checkout"`) < funnel {
				t.Errorf("panel %q, target %s: a funnel metric without funnel=\"checkout\": %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	docs := readmeMetrics(t)
	for _, m := range []string{customer.MetricFunnelImpairedUsers, customer.MetricFunnelImpairedStepUsers, customer.MetricFunnelUsers,
		customer.MetricFunnelLostUsers, customer.MetricRevenueAtRisk, operational.MetricAffectedUsers} {
		d, ok := docs.find(m)
		if !ok {
			t.Errorf("%s is not in the README's metric tables", m)
			continue
		}
		if !slices.ContainsFunc(d.promNames(), func(n string) bool { return queried[n] }) {
			t.Errorf("the Cost of failures row queries no %s (as %s); it queries %v", m, strings.Join(d.promNames(), " or "), slices.Sorted(maps.Keys(queried)))
		}
	}
}

// metricDocs returns the metrics of rm that keep selects as rows of a
// metric table: each with its instrument and unit.
func metricDocs(t *testing.T, rm metricdata.ResourceMetrics, keep func(string) bool) docs {
	t.Helper()
	var ds docs
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !keep(m.Name) {
				continue
			}
			var instrument string
			switch x := m.Data.(type) {
			case metricdata.Gauge[float64], metricdata.Gauge[int64]:
				instrument = "gauge"
			case metricdata.Sum[int64]:
				instrument = map[bool]string{true: "counter", false: "up-down counter"}[x.IsMonotonic]
			case metricdata.Sum[float64]:
				instrument = map[bool]string{true: "counter", false: "up-down counter"}[x.IsMonotonic]
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			ds = append(ds, doc{m.Name, instrument, m.Unit})
		}
	}
	return ds
}

// TestDashboardSLOs checks that the SLOs row shows, per SLO, the error
// budget left, the burn rate, the alerts and the event rates.
func TestDashboardSLOs(t *testing.T) {
	var row []panel
	in := false
	for _, p := range loadDashboard(t).Panels {
		if p.Type == "row" {
			in = p.Title == "SLOs"
			row = append(row, p.Panels...) // of a collapsed row
			continue
		}
		if in {
			row = append(row, p)
		}
	}
	queried := map[string]bool{}
	for _, p := range row {
		for _, tg := range p.Targets {
			names, err := metricNames(tg.Expr)
			if err != nil {
				t.Fatalf("panel %q, target %s: %v", p.Title, tg.RefID, err)
			}
			for _, n := range names {
				queried[n] = true
			}
			if !strings.Contains(tg.Expr, "slo_name") {
				t.Errorf("panel %q, target %s: not per SLO (no slo_name): %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	docs := sloMetrics(t)
	for _, m := range []string{slo.MetricBudgetRemaining, slo.MetricBurnRate, slo.MetricAlert, slo.MetricEvents, slo.MetricGoodEvents} {
		d, _ := docs.find(m)
		if !slices.ContainsFunc(d.promNames(), func(n string) bool { return queried[n] }) {
			t.Errorf("the SLOs row queries no %s (as %s); it queries %v", m, strings.Join(d.promNames(), " or "), slices.Sorted(maps.Keys(queried)))
		}
	}
}

// sloMetrics returns the metrics of package slo, which its documentation
// and its Metric* constants name, as rows of a metric table: each with the
// instrument and unit an operational.Operation given an SLO reports it
// with.
func sloMetrics(t *testing.T) docs {
	t.Helper()
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	op, err := operational.NewOperation("q", operational.WithMeterProvider(mp),
		operational.WithSLOs(slo.SLO{Name: "q", Objective: 0.9, SLI: slo.OperationAvailability{Operation: "q"}}))
	if err != nil {
		t.Fatal(err)
	}
	op.Start(ctx).End(nil) // an event, so that every window reports
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	ds := metricDocs(t, rm, func(name string) bool { return strings.HasPrefix(name, "slo.") })
	for _, name := range []string{slo.MetricObjective, slo.MetricEvents, slo.MetricGoodEvents, slo.MetricErrorRatio,
		slo.MetricBurnRate, slo.MetricBudgetRemaining, slo.MetricAlert} {
		if _, ok := ds.find(name); !ok {
			t.Fatalf("an Operation with an SLO does not report %s (it reports %v)", name, ds)
		}
	}
	return ds
}

// activityMetric matches the series of a customer.Activity, and of
// customer.revenue.at_risk, which a funnel reports.
var activityMetric = regexp.MustCompile(`\bcustomer_(active|retention|revenue|cohort|activity)_[a-z_]+`)

// activitySeries returns the series of a customer.Activity that expr
// names.
func activitySeries(expr string) []string {
	return slices.DeleteFunc(activityMetric.FindAllString(expr, -1), func(n string) bool {
		return n == underscores(customer.MetricRevenueAtRisk)
	})
}

func (ds docs) find(name string) (doc, bool) {
	for _, d := range ds {
		if d.name == name {
			return d, true
		}
	}
	return doc{}, false
}

// TestPromNames checks the translation of documented metrics into the
// series names the Prometheus exporter gives them.
func TestPromNames(t *testing.T) {
	for _, tc := range []struct {
		d    doc
		want []string
	}{
		{doc{"customer.funnel.users", "counter", "{user}"}, []string{"customer_funnel_users_total"}},
		{doc{"customer.funnel.conversion", "gauge", "1"}, []string{"customer_funnel_conversion_ratio"}},
		{doc{"customer.retention.ratio", "gauge", "1"}, []string{"customer_retention_ratio"}},
		{doc{"customer.revenue.arpu", "gauge", "{currency}"}, []string{"customer_revenue_arpu"}},
		{doc{"http.server.request.duration", "histogram (0.005 … 10)", "s"}, []string{
			"http_server_request_duration_seconds_bucket", "http_server_request_duration_seconds_sum", "http_server_request_duration_seconds_count"}},
		{doc{"go.goroutine.count", "up-down counter", "{goroutine}"}, []string{"go_goroutine_count"}},
		{doc{"slo.error_ratio", "gauge", "1"}, []string{"slo_error_ratio"}},
		{doc{"slo.alert", "gauge", "1"}, []string{"slo_alert_ratio"}},
		{doc{"slo.good_events", "counter", "{event}"}, []string{"slo_good_events_total"}},
		{doc{"customer.funnel.impaired_users", "counter", "{user}"}, []string{"customer_funnel_impaired_users_total"}},
		{doc{"customer.funnel.lost_users", "gauge", "{user}"}, []string{"customer_funnel_lost_users"}},
		{doc{"customer.revenue.at_risk", "gauge", "{currency}"}, []string{"customer_revenue_at_risk"}},
		{doc{"kpikit.affected_users", "gauge", "{user}"}, []string{"kpikit_affected_users"}},
	} {
		if got := tc.d.promNames(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: promNames() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestCheckRejectsUndocumented makes sure the documentation check can fail.
func TestCheckRejectsUndocumented(t *testing.T) {
	docs := readmeMetrics(t)
	for _, expr := range []string{
		`sum by (http_route) (rate(http_server_request_latency_seconds_count{job="$job"}[5m]))`,
		`customer_funnel_revenue_total`,
		`up{job="$job"}`,
		`rate(customer_funnel_users_bucket[5m])`, // documented name, but a counter has no buckets
		`customer_funnel_conversion`,             // a gauge of unit 1 is exported with _ratio
	} {
		names, err := metricNames(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		failed := false
		for _, n := range names {
			if docs.check(n) != nil {
				failed = true
			}
		}
		if !failed {
			t.Errorf("%q (metrics %q) passed the check", expr, names)
		}
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.95, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{job="$job", http_route="/{$}"}[$__rate_interval])))`,
			[]string{"http_server_request_duration_seconds_bucket"}},
		{`sum(increase(customer_funnel_users_total{funnel_step="pay"}[$__range])) / on() group_left sum(increase(customer_funnel_users_total{funnel_step="visit"}[1h] offset 5m))`,
			[]string{"customer_funnel_users_total", "customer_funnel_users_total"}},
		{`(sum without (instance) (rate(kpikit_errors_total[5m])) or vector(0)) / ignoring (error_type) go_goroutine_count > bool 1e3`,
			[]string{"kpikit_errors_total", "go_goroutine_count"}},
		{`label_replace(go_memory_used_bytes, "http_route", "$1", "instance", "(.*)") # http_client_request_duration_seconds`,
			[]string{"go_memory_used_bytes"}},
		{`sum by (device) (customer_goal_exposed_users_total{device=~"${device:regex}"})`,
			[]string{"customer_goal_exposed_users_total"}},
	} {
		got, err := metricNames(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`rate(x{a="b"`, `x[5m`, `"open`, `sum by (le`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q): no error", bad)
		}
	}
}

// doc is one row of the README's metric tables.
type doc struct {
	name, instrument, unit string
}

type docs []doc

// readmeMetrics reads the metric tables of the README's Metrics section:
// every row whose first cell is a name in backquotes.
func readmeMetrics(t *testing.T) docs {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Metrics\n")
	if !ok {
		t.Fatalf("%s: no Metrics section", readmePath)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var ds docs
	for line := range strings.Lines(section) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Fatalf("%s: short metric row %q", readmePath, line)
		}
		ds = append(ds, doc{
			name:       strings.Trim(strings.TrimSpace(cells[1]), "`"),
			instrument: strings.TrimSpace(cells[2]),
			unit:       strings.Trim(strings.TrimSpace(cells[3]), "`"),
		})
	}
	if len(ds) < 10 {
		t.Fatalf("%s: found only %d documented metrics", readmePath, len(ds))
	}
	return ds
}

// promSuffixes are what the Prometheus exporter appends to an OpenTelemetry
// metric name: the histogram series, the counter suffix, the unit.
var promSuffixes = []string{"_bucket", "_sum", "_count", "_total", "_seconds", "_bytes", "_ratio"}

// check returns an error unless the Prometheus series name prom is a
// documented metric under the name the exporter gives it.
//
// First the documented metric is found: the exporter's suffixes are stripped
// one at a time and the remaining name is compared with each documented
// name whose dots are underscores (comparing that way round keeps names
// such as http.server.active_requests, whose underscores are their own).
// A documented name ending in .* (go.*) accepts every name with its
// prefix. Then the name must be exactly what the exporter makes of that
// metric's instrument and unit.
func (ds docs) check(prom string) error {
	for _, d := range ds {
		if prefix, ok := strings.CutSuffix(d.name, ".*"); ok && strings.HasPrefix(prom, underscores(prefix)+"_") {
			return nil
		}
	}
	for base := prom; ; {
		for _, d := range ds {
			if underscores(d.name) != base {
				continue
			}
			if names := d.promNames(); !slices.Contains(names, prom) {
				return fmt.Errorf("%s: documented as %s (%s, unit %q), which the exporter names %s", prom, d.name, d.instrument, d.unit, strings.Join(names, ", "))
			}
			return nil
		}
		cut := false
		for _, s := range promSuffixes {
			if b, ok := strings.CutSuffix(base, s); ok && b != "" {
				base, cut = b, true
				break
			}
		}
		if !cut {
			return fmt.Errorf("%s: no such metric in the Metrics section of the README", prom)
		}
	}
}

// promNames returns the series names the Prometheus exporter (suffixes
// added, names escaped to underscores) gives a documented metric.
func (d doc) promNames() []string {
	base := underscores(d.name)
	unit := map[string]string{"s": "seconds", "By": "bytes"}[d.unit]
	if unit != "" && !slices.Contains(strings.Split(base, "_"), unit) {
		base += "_" + unit
	}
	switch {
	case strings.HasPrefix(d.instrument, "histogram"):
		return []string{base + "_bucket", base + "_sum", base + "_count"}
	case d.instrument == "counter":
		return []string{suffixed(base, "total")}
	case d.instrument == "gauge" && d.unit == "1":
		return []string{suffixed(base, "ratio")}
	default: // gauge, up-down counter
		return []string{base}
	}
}

// suffixed appends the word suffix to name as the exporter does: a word
// already in the name moves to the end instead of being repeated
// (customer_retention_ratio stays as it is).
func suffixed(name, suffix string) string {
	words := slices.DeleteFunc(strings.Split(name, "_"), func(w string) bool { return w == suffix })
	return strings.Join(append(words, suffix), "_")
}

func underscores(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':' {
			return r
		}
		return '_'
	}, name)
}

// PromQL words that are not metric names when not followed by "(".
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "sum": true, "min": true, "max": true, "avg": true, "group": true,
	"stddev": true, "stdvar": true, "count": true, "count_values": true, "bottomk": true,
	"topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

// Modifiers whose parenthesised list holds label names, not metrics.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names a PromQL expression (with Grafana
// variables) selects, in order: the identifiers that are not functions,
// keywords, label names in matchers or grouping lists, strings, durations
// or variables.
func metricNames(expr string) ([]string, error) {
	var names []string
	i, n := 0, len(expr)
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(j int) int {
		for j < n && strings.IndexByte(" \t\r\n", expr[j]) >= 0 {
			j++
		}
		return j
	}
	// skipString returns the index after the string literal starting at j.
	skipString := func(j int) (int, error) {
		q := expr[j]
		for j++; j < n; j++ {
			switch {
			case expr[j] == '\\' && q != '`':
				j++
			case expr[j] == q:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string in %q", expr)
	}
	// skipUntil returns the index after the close byte matching the open at
	// j, skipping strings.
	skipUntil := func(j int, close byte) (int, error) {
		for j++; j < n; {
			switch c := expr[j]; {
			case c == close:
				return j + 1, nil
			case c == '"' || c == '\'' || c == '`':
				var err error
				if j, err = skipString(j); err != nil {
					return 0, err
				}
			default:
				j++
			}
		}
		return 0, fmt.Errorf("unterminated %q in %q", expr[j-1], expr)
	}
	for i < n {
		c := expr[i]
		var err error
		switch {
		case c == '"' || c == '\'' || c == '`':
			i, err = skipString(i)
		case c == '{':
			i, err = skipUntil(i, '}')
		case c == '[':
			i, err = skipUntil(i, ']')
		case c == '#':
			for i < n && expr[i] != '\n' {
				i++
			}
		case c == '$': // a Grafana variable: $name or ${name}
			if i+1 < n && expr[i+1] == '{' {
				i, err = skipUntil(i+1, '}')
			} else {
				for i++; i < n && isIdent(expr[i], false); i++ {
				}
			}
		case c >= '0' && c <= '9' || c == '.': // a number or a duration
			for i++; i < n && (isIdent(expr[i], false) || expr[i] == '.'); i++ {
			}
		case isIdent(c, true):
			start := i
			for i++; i < n && isIdent(expr[i], false); i++ {
			}
			word := expr[start:i]
			next := skipSpace(i)
			switch {
			case labelListKeywords[word]:
				if next < n && expr[next] == '(' {
					i, err = skipUntil(next, ')')
				}
			case next < n && expr[next] == '(': // a function or an aggregation
			case promqlKeywords[strings.ToLower(word)]:
			default:
				names = append(names, word)
			}
		default:
			i++
		}
		if err != nil {
			return nil, err
		}
	}
	return names, nil
}
