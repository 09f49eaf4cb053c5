package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// prometheusVersion is the Prometheus server the dashboard queries run on.
const prometheusVersion = "v0.316.0"

var (
	promOnce sync.Once
	promPath string
	promErr  error
)

// prometheusBinary returns the path of a Prometheus server, installed once
// from the Go module proxy into the user cache directory when it is not
// there yet (about a quarter of an hour on two cores). KPIKIT_PROMETHEUS
// names a ready binary instead.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KPIKIT_PROMETHEUS"); p != "" {
		return p
	}
	promOnce.Do(func() {
		dir := toolDir("prometheus-" + prometheusVersion)
		promPath = filepath.Join(dir, "prometheus")
		if _, err := os.Stat(promPath); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/prometheus/prometheus/cmd/prometheus@"+prometheusVersion)
		cmd.Dir = os.TempDir() // outside this module: its go.mod must not apply
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			promErr = fmt.Errorf("go install prometheus: %v\n%s", err, tail(out, 2000))
		}
	})
	if promErr != nil {
		t.Skipf("cannot build Prometheus: %v", promErr)
	}
	return promPath
}

// startPrometheus runs a Prometheus server that scrapes the collector's
// exporter every second, keeping the exporter's job and instance labels
// (service.name and service.instance.id) as the collector README says, and
// evaluates the rules of ruleFiles every second.
func startPrometheus(t *testing.T, c *collector, ruleFiles ...string) string {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: otel-collector
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:%d"]
`, c.prom)
	if len(ruleFiles) > 0 {
		cfg += "rule_files:\n"
		for _, f := range ruleFiles {
			cfg += fmt.Sprintf("  - %q\n", f)
		}
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	var logMu sync.Mutex
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = lockedWriter{&logMu, &log}, lockedWriter{&logMu, &log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	logMu.Lock()
	defer logMu.Unlock()
	t.Fatalf("prometheus did not start:\n%s", log.String())
	return ""
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// promResult is the answer of Prometheus's query API.
type promResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

func promQuery(base, expr string) (promResult, error) {
	var r promResult
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%s: %s", err, tail(body, 500))
	}
	return r, nil
}

// dashboardPanel is a panel of examples/shop/grafana/dashboard.json with
// its queries.
type dashboardPanel struct {
	Title   string                  `json:"title"`
	Targets []struct{ Expr string } `json:"targets"`
	Panels  []dashboardPanel        `json:"panels"`
}

func dashboardPanels(t *testing.T) []dashboardPanel {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "examples", "shop", "grafana", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var out []dashboardPanel
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if len(p.Targets) > 0 {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var dashboardVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// TestDashboardOnPrometheus runs the shop through a real collector into a
// real Prometheus and evaluates every query of the shop's Grafana
// dashboard there, with the dashboard's variables set as Grafana would
// (every instance, device and channel): each must be valid PromQL over
// series that exist and return data. Prometheus also evaluates the rules
// the shop generates for its SLOs (-slo-rules): each must evaluate without
// error and record the events of every SLO.
func TestDashboardOnPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the shop for 10 seconds")
	}
	c := startCollector(t)
	rules, slos := shopRules(t, t.TempDir())
	prom := startPrometheus(t, c, rules)
	const job = "shop-dashboard"
	s := startShop(t, []string{
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", c.grpc),
		"OTEL_METRIC_EXPORT_INTERVAL=500",
		"OTEL_SERVICE_NAME=" + job,
	}, "-duration", "10s", "-rate", "60", "-latency", "2ms", "-error-rate", "0.1", "-day", "1s", "-summary", "5s")
	rep := s.wait(t)
	waitFor(t, c, job, uint64(rep.Requests))

	// Wait until Prometheus has scraped the final values.
	want := fmt.Sprintf(`sum(http_server_request_duration_seconds_count{job=%q})`, job)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := promQuery(prom, want)
		if err == nil && len(r.Data.Result) == 1 && strings.Contains(string(r.Data.Result[0]), fmt.Sprintf(`"%d"`, rep.Requests)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never showed the %d requests: %+v, %v", rep.Requests, r, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a few more scrapes, for rate()
	checkSLORules(t, prom, slos)

	vars := map[string]string{
		"job": job, "instance": ".*", "device": ".*", "channel": ".*",
		"__rate_interval": "1m", "__range": "5m", "__interval": "15s",
	}
	for _, p := range dashboardPanels(t) {
		t.Run(p.Title, func(t *testing.T) {
			for _, tg := range p.Targets {
				expr := dashboardVar.ReplaceAllStringFunc(tg.Expr, func(v string) string {
					name := strings.Trim(v, "${}")
					val, ok := vars[name]
					if !ok {
						t.Errorf("unknown variable %s in %s", v, tg.Expr)
					}
					return val
				})
				r, err := promQuery(prom, expr)
				if err != nil {
					t.Fatalf("%s: %v", expr, err)
				}
				if r.Status != "success" {
					t.Errorf("%s:\n%s: %s", expr, r.ErrorType, r.Error)
					continue
				}
				if len(r.Data.Result) == 0 {
					t.Errorf("no data:\n%s", expr)
				}
			}
		})
	}
}

// checkSLORules waits until Prometheus has evaluated every rule of the
// shop's SLOs over the data of the run: no rule may fail, and each SLO's
// slo:sli_events:increase5m must hold a sample with events.
func checkSLORules(t *testing.T, prom string, slos []declaredSLO) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, failed, err := ruleHealth(prom)
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) > 0 {
			t.Fatalf("rules failed to evaluate:\n%s", strings.Join(failed, "\n"))
		}
		missing := pending
		for _, s := range slos {
			expr := fmt.Sprintf(`slo:sli_events:increase5m{slo=%q} > 0`, s.Name)
			r, err := promQuery(prom, expr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != "success" {
				t.Fatalf("%s: %s: %s", expr, r.ErrorType, r.Error)
			}
			if len(r.Data.Result) != 1 {
				missing = append(missing, fmt.Sprintf("%s: %d samples", expr, len(r.Data.Result)))
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SLO rules never recorded the run:\n%s", strings.Join(missing, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ruleHealth returns the rules Prometheus has not evaluated yet and those
// whose last evaluation failed, with the error.
func ruleHealth(prom string) (pending, failed []string, err error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(prom + "/api/v1/rules")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, nil, fmt.Errorf("/api/v1/rules: %w", err)
	}
	if r.Status != "success" || len(r.Data.Groups) == 0 {
		return nil, nil, fmt.Errorf("/api/v1/rules: status %q, %d groups", r.Status, len(r.Data.Groups))
	}
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			switch rule.Health {
			case "ok":
			case "unknown":
				pending = append(pending, fmt.Sprintf("%s: %s not evaluated yet", g.Name, rule.Name))
			default:
				failed = append(failed, fmt.Sprintf("%s: %s: %s %s", g.Name, rule.Name, rule.Health, rule.LastError))
			}
		}
	}
	return pending, failed, nil
}
