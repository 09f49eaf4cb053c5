package e2e

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// family returns the family whose name is name or name plus a unit suffix
// the Prometheus exporter adds.
func family(fams map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, n := range []string{name, name + "_ratio", name + "_total"} {
		if f := fams[n]; f != nil {
			return f
		}
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// TestShopThroughCollector runs the shop against a real collector over
// OTLP/gRPC and OTLP/HTTP and checks what the collector received, the
// metrics of the SLOs the shop declares and the cost of its failures
// included. Beside those runs, a run without failures must report no
// cost.
func TestShopThroughCollector(t *testing.T) {
	c := startCollector(t)
	_, slos := shopRules(t, t.TempDir())
	// No request fails, none is slower than the shop's 100ms latency SLO.
	const cleanJob = "shop-no-failures"
	clean := startShop(t, []string{
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", c.grpc),
		"OTEL_METRIC_EXPORT_INTERVAL=1000",
		"OTEL_SERVICE_NAME=" + cleanJob,
	}, "-duration", "5s", "-rate", "40", "-latency", "1ms", "-error-rate", "0", "-day", "1s", "-summary", "1s")
	for _, proto := range []struct{ name, endpoint string }{
		{"grpc", fmt.Sprintf("http://127.0.0.1:%d", c.grpc)},
		{"http/protobuf", fmt.Sprintf("http://127.0.0.1:%d", c.http)},
	} {
		t.Run(proto.name, func(t *testing.T) {
			job := "shop-" + strings.ReplaceAll(proto.name, "/", "-")
			s := startShop(t, []string{
				"OTEL_METRICS_EXPORTER=otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + proto.name,
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + proto.endpoint,
				"OTEL_METRIC_EXPORT_INTERVAL=1000",
				"OTEL_SERVICE_NAME=" + job,
			}, "-duration", "5s", "-rate", "40", "-latency", "2ms", "-error-rate", "0.05", "-day", "1s", "-summary", "1s")
			rep := s.wait(t)
			if rep.Requests < 50 || rep.Failures != 0 {
				t.Fatalf("generator report %+v: want at least 50 requests, no failures\n%s", rep, s.log.String())
			}
			fams := waitFor(t, c, job, uint64(rep.Requests))
			checkOperational(t, fams, rep)
			checkCustomer(t, fams, rep)
			checkCostOfFailures(t, fams)
			checkSLOs(t, fams, slos)
		})
	}
	t.Run("no failures", func(t *testing.T) {
		rep := clean.wait(t)
		if rep.Requests < 50 || rep.Failures != 0 {
			t.Fatalf("generator report %+v: want at least 50 requests, no failures\n%s", rep, clean.log.String())
		}
		checkNoCostOfFailures(t, waitFor(t, c, cleanJob, uint64(rep.Requests)))
	})
}

// checkCostOfFailures checks what the failed requests of a run at a 5%
// error rate cost: funnel attempts impaired by 500s, lost conversions
// estimated, revenue at risk, and users affected per route.
func checkCostOfFailures(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	impaired := family(fams, "customer_funnel_impaired_users")
	if impaired == nil || impaired.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("customer_funnel_impaired_users_total missing or not a counter: %v", impaired)
	}
	perStep := map[string]float64{}
	for _, m := range impaired.GetMetric() {
		if label(m, "funnel") != "checkout" || label(m, "funnel_step") == "" || label(m, "funnel_step_index") == "" ||
			label(m, "device") == "" || label(m, "channel") == "" {
			t.Errorf("impaired series with unexpected labels: %v", m.GetLabel())
		}
		if label(m, "error_type") == "500" {
			perStep[label(m, "funnel_step")] += value(m)
		}
	}
	if sum(perStep) == 0 {
		t.Errorf("no attempt impaired by a 500 at a 5%% error rate: %v", perStep)
	}
	// Every impaired attempt counts at the first step it reached; the
	// impaired ones are some of the attempts there.
	var users, impairedAtVisit float64
	for _, m := range family(fams, "customer_funnel_users").GetMetric() {
		if label(m, "funnel_step") == "visit" {
			users += value(m)
		}
	}
	steps := family(fams, "customer_funnel_impaired_step_users")
	if steps == nil || steps.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("customer_funnel_impaired_step_users_total missing or not a counter: %v", steps)
	}
	for _, m := range steps.GetMetric() {
		if label(m, "funnel_step") == "visit" {
			impairedAtVisit += value(m)
		}
	}
	if impairedAtVisit == 0 || impairedAtVisit >= users {
		t.Errorf("%v impaired attempts of the %v that reached the visit", impairedAtVisit, users)
	}
	lost := family(fams, "customer_funnel_lost_users")
	if lost == nil || lost.GetType() != dto.MetricType_GAUGE || len(lost.GetMetric()) == 0 {
		t.Fatalf("customer_funnel_lost_users missing or not a gauge: %v", lost)
	}
	var lostSum float64
	for _, m := range lost.GetMetric() {
		if v := value(m); v < 0 || v > impairedAtVisit {
			t.Errorf("lost users %v of %v impaired attempts: %v", v, impairedAtVisit, m.GetLabel())
		}
		lostSum += value(m)
	}
	var atRisk float64
	if f := family(fams, "customer_revenue_at_risk"); f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "funnel") != "checkout" || label(m, "currency") != "USD" {
				t.Errorf("revenue at risk series labels %v", m.GetLabel())
			}
			atRisk += value(m)
		}
	}
	if atRisk <= 0 {
		t.Errorf("customer_revenue_at_risk for USD is %v, with %v users lost", atRisk, lostSum)
	}
	affected := map[string]float64{}
	if f := family(fams, "kpikit_affected_users"); f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "error_type") == "" || label(m, "period") == "" {
				t.Errorf("affected users series labels %v", m.GetLabel())
			}
			affected[label(m, "http_route")] += value(m)
		}
	}
	if sum(affected) == 0 || affected[""] != 0 {
		t.Errorf("kpikit_affected_users per route: %v; want users on the shop's routes", affected)
	}
	t.Logf("impaired by 500 per step %v; %v users lost, $%.2f at risk; affected users per route %v", perStep, lostSum, atRisk, affected)
}

// checkNoCostOfFailures checks a run without failures: the funnel, used
// under requests, reports its impaired attempts at every step, all 0, and
// no series of a failure's cost is above 0.
func checkNoCostOfFailures(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	if f := family(fams, "customer_funnel_impaired_step_users"); f == nil || len(f.GetMetric()) == 0 {
		t.Error("customer_funnel_impaired_step_users_total missing: the funnel was used under requests")
	}
	for _, name := range []string{"customer_funnel_impaired_users", "customer_funnel_impaired_step_users", "customer_funnel_lost_users",
		"customer_revenue_at_risk", "kpikit_affected_users"} {
		for _, m := range family(fams, name).GetMetric() {
			if v := value(m); v != 0 {
				t.Errorf("%s %v = %v in a run without failures", name, m.GetLabel(), v)
			}
		}
	}
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

func checkOperational(t *testing.T, fams map[string]*dto.MetricFamily, rep report) {
	t.Helper()
	dur := fams["http_server_request_duration_seconds"]
	if dur.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("http_server_request_duration_seconds is a %v", dur.GetType())
	}
	routes, failed := map[string]bool{}, uint64(0)
	for _, m := range dur.GetMetric() {
		for _, l := range []string{"http_request_method", "url_scheme", "http_response_status_code", "network_protocol_version"} {
			if label(m, l) == "" {
				t.Errorf("duration series lacks %s: %v", l, m.GetLabel())
			}
		}
		if r := label(m, "http_route"); r != "" {
			routes[r] = true
		}
		if e := label(m, "error_type"); e != "" {
			failed += m.GetHistogram().GetSampleCount()
			if code, _ := strconv.Atoi(label(m, "http_response_status_code")); code < 500 {
				t.Errorf("error.type %q on status %d", e, code)
			}
		}
		if b := m.GetHistogram().GetBucket(); len(b) != 15 || b[0].GetUpperBound() != 0.005 || b[13].GetUpperBound() != 10 {
			t.Errorf("duration buckets are not the semantic-convention ones: %v", b)
		}
	}
	for _, r := range []string{"/{$}", "/search", "/product/{id}", "/cart/{id}", "/checkout"} {
		if !routes[r] {
			t.Errorf("no series with http_route %q: %v", r, routes)
		}
	}
	total := histCount(dur)
	if failed == 0 || failed > total/3 {
		t.Errorf("%d of %d requests failed at a 5%% error rate", failed, total)
	}
	if n := histCount(fams["http_client_request_duration_seconds"]); n != uint64(rep.Requests) {
		t.Errorf("client transport recorded %d requests, the generator counted %d", n, rep.Requests)
	}
	for _, name := range []string{"http_server_request_body_size_bytes", "http_server_response_body_size_bytes", "kpikit_operation_duration_seconds"} {
		if f := fams[name]; f == nil || histCount(f) == 0 {
			t.Errorf("%s missing or empty", name)
		}
	}
	if family(fams, "http_server_active_requests") == nil {
		t.Error("http_server_active_requests missing")
	}
	// Every failed payment is counted once on the shop's error counter.
	var payFailures, counted float64
	for _, m := range dur.GetMetric() {
		if label(m, "http_route") == "/pay" && label(m, "http_response_status_code") == "500" {
			payFailures += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if f := family(fams, "kpikit_errors"); f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "operation_name") != "shop.payment" || label(m, "error_type") != "injected" {
				t.Errorf("kpikit_errors series %v, want operation_name=shop.payment error_type=injected", m.GetLabel())
			}
			counted += value(m)
		}
	}
	if counted != payFailures {
		t.Errorf("kpikit_errors counts %v failed payments, the server recorded %v", counted, payFailures)
	}
}

func checkCustomer(t *testing.T, fams map[string]*dto.MetricFamily, rep report) {
	t.Helper()
	users := family(fams, "customer_funnel_users")
	if users == nil || users.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("customer_funnel_users_total missing or not a counter: %v", users)
	}
	perStep := make([]float64, 6)
	for _, m := range users.GetMetric() {
		i, err := strconv.Atoi(label(m, "funnel_step_index"))
		if err != nil || i < 1 || i > 6 || label(m, "funnel") != "checkout" || label(m, "device") == "" || label(m, "channel") == "" {
			t.Errorf("funnel series with unexpected labels: %v", m.GetLabel())
			continue
		}
		perStep[i-1] += value(m)
	}
	if perStep[0] == 0 {
		t.Fatalf("no funnel visits: %v", perStep)
	}
	for i := 1; i < len(perStep); i++ {
		if perStep[i] > perStep[i-1] {
			t.Errorf("funnel users grow from step %d to %d: %v", i, i+1, perStep)
		}
	}
	conv := family(fams, "customer_funnel_conversion")
	if conv == nil {
		t.Fatal("customer_funnel_conversion missing")
	}
	for _, m := range conv.GetMetric() {
		if v := value(m); v < 0 || v > 1 {
			t.Errorf("funnel conversion %v outside [0, 1]: %v", v, m.GetLabel())
		}
	}
	// Revenue, retention and active users from the Activity recorder.
	var purchases float64
	if f := family(fams, "customer_revenue_purchases"); f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "currency") != "USD" || label(m, "period") == "" {
				t.Errorf("revenue series labels %v", m.GetLabel())
			}
			purchases += value(m)
		}
	}
	if purchases != float64(rep.Orders) {
		t.Errorf("customer_revenue_purchases sums to %v, the shop took %d orders", purchases, rep.Orders)
	}
	if f := family(fams, "customer_retention_ratio"); f == nil {
		t.Error("customer_retention_ratio missing")
	} else {
		for _, m := range f.GetMetric() {
			if v := value(m); v < 0 || v > 1 || label(m, "cohort") == "" || label(m, "retention_mode") == "" {
				t.Errorf("retention %v with labels %v", v, m.GetLabel())
			}
		}
	}
	if f := family(fams, "customer_active_users"); f == nil || len(f.GetMetric()) != 3 {
		t.Errorf("customer_active_users: want the 1d, 7d and 30d windows, got %v", f)
	}
	if g := family(fams, "customer_goal_conversion"); g == nil {
		t.Error("customer_goal_conversion missing")
	} else {
		for _, m := range g.GetMetric() {
			if v := value(m); v < 0 || v > 1 {
				t.Errorf("goal conversion %v outside [0, 1]", v)
			}
		}
	}
}

// TestShopSurvivesCollectorRestart runs the shop under load, stops the
// collector a third of the way in and starts it again at two thirds. The
// shop must go on serving with bounded memory, and once the collector is
// back the cumulative counts must again equal the generator's.
func TestShopSurvivesCollectorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes half a minute")
	}
	c := startCollector(t)
	const job = "shop-restart"
	s := startShop(t, []string{
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", c.grpc),
		"OTEL_METRIC_EXPORT_INTERVAL=500",
		"OTEL_METRIC_EXPORT_TIMEOUT=1000",
		"OTEL_SERVICE_NAME=" + job,
	}, "-duration", "18s", "-rate", "150", "-latency", "1ms", "-error-rate", "0.01", "-day", "2s", "-summary", "3s")

	var maxRSS int64
	sample := func() {
		if kb := rssKB(s.cmd.Process.Pid); kb > maxRSS {
			maxRSS = kb
		}
	}
	for i := 0; i < 6; i++ {
		time.Sleep(time.Second)
		sample()
	}
	c.stop()
	down := time.Now()
	for i := 0; i < 6; i++ {
		time.Sleep(time.Second)
		sample()
	}
	c.start()
	t.Logf("collector down for %v", time.Since(down).Round(time.Millisecond))
	rep := s.wait(t)
	t.Logf("generator: %+v, shop peak RSS %d KiB\n%s", rep, maxRSS, s.log.String())
	if rep.Failures != 0 {
		t.Errorf("%d requests got no response while the collector was away", rep.Failures)
	}
	if runtime.GOOS == "linux" && (maxRSS == 0 || maxRSS > 300*1024) {
		t.Errorf("shop peak RSS %d KiB, want under 300 MiB", maxRSS)
	}
	waitFor(t, c, job, uint64(rep.Requests))
}

// rssKB reads a process's resident set size from /proc, 0 where there is none.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}
