package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const builderVersion = "v0.165.0"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// collectorBinary returns the path of an OpenTelemetry Collector built
// from examples/shop/collector/builder.yaml, building it once into the user
// cache directory (keyed by the builder config) when it is not there yet.
// KPIKIT_OTELCOL names a ready binary instead.
func collectorBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KPIKIT_OTELCOL"); p != "" {
		return p
	}
	binOnce.Do(func() { binPath, binErr = buildCollector() })
	if binErr != nil {
		t.Skipf("cannot build the OpenTelemetry Collector: %v", binErr)
	}
	return binPath
}

// toolDir returns the folder, under the user cache directory, that holds a
// tool the tests build once.
func toolDir(name string) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "kpikit", name)
}

func buildCollector() (string, error) {
	cfg, err := os.ReadFile(filepath.Join("..", "examples", "shop", "collector", "builder.yaml"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(builderVersion), cfg...))
	dir := toolDir("otelcol-" + hex.EncodeToString(sum[:8]))
	bin := filepath.Join(dir, "otelcol-kpikit")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// The builder writes where output_path says: point it at the cache.
	var lines []string
	for _, l := range strings.Split(string(cfg), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "output_path:") {
			l = "  output_path: " + dir
		}
		lines = append(lines, l)
	}
	cfgPath := filepath.Join(dir, "builder.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "go.opentelemetry.io/collector/cmd/builder@"+builderVersion, "--config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("builder: %v\n%s", err, tail(out, 2000))
	}
	if _, err := os.Stat(bin); err != nil {
		return "", err
	}
	return bin, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// collector is a running collector process: OTLP in on grpc and http,
// Prometheus out on prom.
type collector struct {
	t                *testing.T
	bin, config      string
	grpc, http, prom int
	cmd              *exec.Cmd
	log              bytes.Buffer
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{t: t, bin: collectorBinary(t), grpc: freePort(t), http: freePort(t), prom: freePort(t)}
	c.config = filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  prometheus:
    endpoint: 127.0.0.1:%d
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheus]
`, c.grpc, c.http, c.prom)
	if err := os.WriteFile(c.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *collector) start() {
	c.t.Helper()
	c.cmd = exec.Command(c.bin, "--config", c.config)
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(c.promURL()); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("collector did not start:\n%s", c.log.String())
}

func (c *collector) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.cmd = nil
}

func (c *collector) promURL() string { return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.prom) }

// scrape returns the collector's metric families, with only the series of
// the given job (service.name).
func (c *collector) scrape(job string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(c.promURL())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	for name, f := range fams {
		var keep []*dto.Metric
		for _, m := range f.GetMetric() {
			if label(m, "job") == job {
				keep = append(keep, m)
			}
		}
		if len(keep) == 0 {
			delete(fams, name)
			continue
		}
		f.Metric = keep
	}
	return fams, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

var (
	shopOnce sync.Once
	shopBin  string
	shopErr  error
)

// shopBinary builds examples/shop once.
func shopBinary(t *testing.T) string {
	t.Helper()
	shopOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kpikit-shop")
		if err != nil {
			shopErr = err
			return
		}
		shopBin = filepath.Join(dir, "shop")
		out, err := exec.Command("go", "build", "-o", shopBin, "../examples/shop").CombinedOutput()
		if err != nil {
			shopErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if shopErr != nil {
		t.Fatal(shopErr)
	}
	return shopBin
}

// report is the shop's -report file.
type report struct {
	Requests, Failures, Orders int64
}

// shop is a running shop process.
type shop struct {
	cmd    *exec.Cmd
	log    bytes.Buffer
	report string
}

func startShop(t *testing.T, env []string, args ...string) *shop {
	t.Helper()
	s := &shop{report: filepath.Join(t.TempDir(), "report.json")}
	s.cmd = exec.Command(shopBinary(t), append([]string{"-addr", "127.0.0.1:0", "-report", s.report}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *shop) wait(t *testing.T) report {
	t.Helper()
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("shop: %v\n%s", err, s.log.String())
	}
	raw, err := os.ReadFile(s.report)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// histCount sums the sample counts of a histogram family.
func histCount(f *dto.MetricFamily) uint64 {
	var n uint64
	for _, m := range f.GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// waitFor scrapes until the server request count of job reaches want.
func waitFor(t *testing.T, c *collector, job string, want uint64) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	var got uint64
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		fams, err = c.scrape(job)
		if err == nil {
			if f := fams["http_server_request_duration_seconds"]; f != nil {
				if got = histCount(f); got == want {
					return fams
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("collector shows %d requests for job %s, the generator counted %d\n%s", got, job, want, c.log.String())
	return nil
}
