package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kpikit/kpikit/internal/errcapture"
	"github.com/kpikit/kpikit/internal/otlptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// consoleMetrics decodes the console exporter's JSON documents and returns
// the last one's data points: metric name → list of points (attributes and
// value or count).
type consolePoint struct {
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
	Value any
	Count uint64
}

func lastExport(t *testing.T, out []byte) map[string][]consolePoint {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	var last map[string][]consolePoint
	for {
		var doc struct {
			ScopeMetrics []struct {
				Metrics []struct {
					Name string
					Unit string
					Data struct{ DataPoints []consolePoint }
				}
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("console output: %v", err)
		}
		last = map[string][]consolePoint{}
		for _, sm := range doc.ScopeMetrics {
			for _, m := range sm.Metrics {
				last[m.Name] = append(last[m.Name], m.Data.DataPoints...)
			}
		}
	}
	if last == nil {
		t.Fatal("no export on the console")
	}
	return last
}

func (p consolePoint) attr(key string) (any, bool) {
	for _, a := range p.Attributes {
		if a.Key == key {
			return a.Value.Value, true
		}
	}
	return nil, false
}

// TestShopRun runs the shop with its traffic generator for a few seconds
// and checks what it exported on shutdown against the generator's own
// count.
func TestShopRun(t *testing.T) {
	t.Setenv("OTEL_METRICS_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	reportFile := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	c := config{addr: "127.0.0.1:0", traffic: true, rate: 40, duration: 3 * time.Second,
		errorRate: 0.05, latency: 2 * time.Millisecond, day: time.Second, every: time.Second, report: reportFile}
	if err := run(context.Background(), c, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	rep := readReport(t, reportFile)
	if rep.Requests < 50 || rep.Failures != 0 {
		t.Fatalf("generator report %+v: want at least 50 requests and no failures", rep)
	}
	got := lastExport(t, stdout.Bytes())

	var served, clientSent uint64
	var failed, routes = uint64(0), map[string]bool{}
	for _, p := range got["http.server.request.duration"] {
		served += p.Count
		if _, ok := p.attr("error.type"); ok {
			failed += p.Count
		}
		if r, ok := p.attr("http.route"); ok {
			routes[r.(string)] = true
		}
	}
	for _, p := range got["http.client.request.duration"] {
		clientSent += p.Count
	}
	if served != uint64(rep.Requests) || clientSent != uint64(rep.Requests) {
		t.Errorf("server recorded %d requests, client transport %d; the generator counted %d", served, clientSent, rep.Requests)
	}
	if failed == 0 || failed > served/2 {
		t.Errorf("%d of %d requests failed at a 5%% error rate", failed, served)
	}
	for _, r := range []string{"/{$}", "/search", "/product/{id}", "/cart/{id}", "/checkout"} {
		if !routes[r] {
			t.Errorf("no request recorded with http.route %q (routes %v)", r, routes)
		}
	}

	// The funnel: users per step never grow along the steps.
	users := make([]float64, len(steps))
	for _, p := range got["customer.funnel.users"] {
		i, _ := p.attr("funnel.step.index")
		users[int(i.(float64))-1] += p.Value.(float64)
	}
	if users[0] == 0 {
		t.Fatalf("funnel: no visits: %v", users)
	}
	for i := 1; i < len(users); i++ {
		if users[i] > users[i-1] {
			t.Errorf("funnel step %s has %v users, more than %s's %v", steps[i], users[i], steps[i-1], users[i-1])
		}
	}
	for _, p := range got["customer.funnel.conversion"] {
		if v := p.Value.(float64); v < 0 || v > 1 {
			t.Errorf("funnel conversion %v outside [0, 1]", v)
		}
	}
	// Revenue: one purchase per order the shop took; retention ratios in [0, 1].
	var purchases, revenue float64
	for _, p := range got["customer.revenue.purchases"] {
		purchases += p.Value.(float64)
	}
	for _, p := range got["customer.revenue.amount"] {
		revenue += p.Value.(float64)
	}
	if purchases != float64(rep.Orders) || (rep.Orders > 0 && revenue <= 0) {
		t.Errorf("customer.revenue: %v purchases, $%v; the shop took %d orders", purchases, revenue, rep.Orders)
	}
	if len(got["customer.retention.ratio"]) == 0 || len(got["customer.active.users"]) != 3 {
		t.Errorf("retention or active users missing: %d retention points, %d active-user windows",
			len(got["customer.retention.ratio"]), len(got["customer.active.users"]))
	}
	// By entry day, each user counts once at the furthest step: the
	// first step has users, and no step more than the first.
	byPeriod := make([]float64, len(steps))
	for _, p := range got["customer.funnel.period.users"] {
		if idx, ok := p.attr("funnel.step.index"); ok {
			byPeriod[int(idx.(float64))-1] += p.Value.(float64)
		}
	}
	if byPeriod[0] == 0 || slices.Max(byPeriod) > byPeriod[0] {
		t.Errorf("customer.funnel.period.users per step %v: want users at the first step, and no more at a later one", byPeriod)
	}
	if len(got["customer.active.lifecycle"]) == 0 || len(got["customer.active.days"]) != 7+30 {
		t.Errorf("lifecycle or stickiness missing: %d lifecycle points, %d active-days points (want 37)",
			len(got["customer.active.lifecycle"]), len(got["customer.active.days"]))
	}
	for _, p := range got["customer.retention.ratio"] {
		if v := p.Value.(float64); v < 0 || v > 1 {
			t.Errorf("retention ratio %v outside [0, 1]", v)
		}
	}
	// The last summary line, printed once the traffic stopped, reads the
	// same figures as the last export: its revenue over the kept days is
	// the sum of every period's revenue.
	var line string
	for l := range strings.Lines(stderr.String()) {
		if strings.Contains(l, "req/s") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no summary line on stderr:\n%s", stderr.String())
	}
	sl := parseSummary(t, line)
	if math.Abs(sl.RevHorizon-revenue) > 0.005 || sl.RevToday > sl.RevHorizon || sl.Retention1 < 0 || sl.Retention1 > 100 {
		t.Errorf("last summary line %+v; the last export has $%.2f of revenue over the kept days:\n%s", sl, revenue, line)
	}
	// At a 5% error rate failed requests impair attempts, and the line
	// shows what they cost as the last export does: the impaired attempts
	// (every one counted at the first step) and the lost conversions.
	// Revenue at risk is priced at the ARPPU of the simulated day, which
	// may have turned between the line and the export: a day without a
	// payment yet has no ARPPU, and no revenue at risk is reported.
	var impaired, lost float64
	for _, p := range got["customer.funnel.impaired_step_users"] {
		if i, _ := p.attr("funnel.step.index"); i == 1.0 {
			impaired += p.Value.(float64)
		}
	}
	for _, p := range got["customer.funnel.lost_users"] {
		lost += p.Value.(float64)
	}
	if sl.Impaired == 0 || float64(sl.Impaired) != impaired || math.Abs(sl.Lost-lost) > 0.05 || sl.AtRisk < 0 {
		t.Errorf("last summary line: impaired %d, lost %.1f, at risk $%.2f; the last export has %v impaired attempts, %.2f lost:\n%s",
			sl.Impaired, sl.Lost, sl.AtRisk, impaired, lost, line)
	}
	if len(got["customer.funnel.impaired_users"]) == 0 {
		t.Error("the last export has no customer.funnel.impaired_users")
	}
	// It ends with the error budget of each SLO, in the order they are
	// declared.
	var names []string
	for _, b := range parseBudgets(t, line) {
		names = append(names, b.Name)
	}
	if want := []string{"availability", "pay-availability", "latency", "db-query-latency", "cart-to-paid"}; !slices.Equal(names, want) {
		t.Errorf("the last summary line shows the budgets of %q, want %q:\n%s", names, want, line)
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		c    config
		want string
	}{
		{"rate", config{rate: 0, day: time.Second, every: time.Second}, "-rate 0"},
		{"error rate", config{rate: 1, errorRate: 2, day: time.Second, every: time.Second}, "-error-rate 2"},
		{"day", config{rate: 1, day: 0, every: time.Second}, "-day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.c, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%+v) = %v, want an error containing %q", tt.c, err, tt.want)
			}
		})
	}
}

// TestShopFinalExport runs the shop with -duration against an OTLP receiver
// that answers slowly, so that a periodic export is still under way when
// the run ends. The last export must still be complete, carrying every
// request the generator counted, and nothing may be reported canceled.
func TestShopFinalExport(t *testing.T) {
	recv := otlptest.StartHTTP(t)
	target, err := url.Parse(recv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", slow.URL)
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "50")
	otelErrs := errcapture.Capture(t)

	reportFile := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	c := config{addr: "127.0.0.1:0", traffic: true, rate: 40, duration: 1500 * time.Millisecond,
		errorRate: 0.05, latency: 2 * time.Millisecond, day: time.Second, every: time.Second, report: reportFile}
	if err := run(context.Background(), c, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, err := range otelErrs() {
		t.Errorf("reported: %v", err)
	}
	if strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("stderr reports a canceled context:\n%s", stderr.String())
	}
	rep := readReport(t, reportFile)
	reqs := recv.Requests()
	if len(reqs) == 0 || rep.Requests == 0 {
		t.Fatalf("%d exports received, %d requests generated", len(reqs), rep.Requests)
	}
	var served uint64
	for _, rm := range reqs[len(reqs)-1].GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() == "http.server.request.duration" {
					for _, dp := range m.GetHistogram().GetDataPoints() {
						served += dp.GetCount()
					}
				}
			}
		}
	}
	if served != uint64(rep.Requests) {
		t.Errorf("the last of %d exports holds %d requests; the generator counted %d", len(reqs), served, rep.Requests)
	}
}

// readReport reads the shop's -report file.
func readReport(t *testing.T, path string) report {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}
