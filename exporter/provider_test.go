package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/exporter"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

func TestConsole(t *testing.T) {
	var buf bytes.Buffer
	t.Setenv("OTEL_METRICS_EXPORTER", "console")
	ctx := context.Background()
	p, err := exporter.New(ctx, exporter.WithConsoleWriter(&buf), exporter.WithServiceName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	record(t, p.MeterProvider())
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Resource     []struct{ Key string }
		ScopeMetrics []struct {
			Metrics []struct{ Name, Unit string }
		}
	}
	out := buf.String()
	if err := json.NewDecoder(&buf).Decode(&got); err != nil {
		t.Fatalf("console output is not JSON: %v\n%s", err, buf.String())
	}
	var names []string
	for _, sm := range got.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	if strings.Join(names, ",") != "shop.orders,http.server.request.duration" {
		t.Errorf("console metrics = %v", names)
	}
	if !strings.Contains(out, `"Key":"service.name","Value":{"Type":"STRING","Value":"shop"}`) {
		t.Errorf("console output lacks service.name shop:\n%s", out)
	}
}

func TestShutdownTwiceAndRecordAfter(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	ctx := context.Background()
	p, err := exporter.New(ctx, exporter.WithExporters(exporter.None), exporter.WithReader(reader))
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.MeterProvider().Meter("t").Int64Counter("jobs")
	if err != nil {
		t.Fatal(err)
	}
	// A prebuilt option slice: passing a lone option would allocate the
	// variadic slice on every call.
	opts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("queue", "mail")))}
	c.Add(ctx, 1, opts...)
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("first Shutdown: %v", err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// Recording after Shutdown is safe, exports nothing and allocates nothing.
	c.Add(ctx, 1, opts...)
	if !raceEnabled {
		if n := testing.AllocsPerRun(1000, func() { c.Add(ctx, 1, opts...) }); n != 0 {
			t.Errorf("Add after Shutdown: %v allocs, want 0", n)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err == nil {
		t.Error("Collect after Shutdown succeeded, want an error")
	}
}

// TestShutdownHonoursDeadline exports to a collector that never answers.
func TestShutdownHonoursDeadline(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)

	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", hang.URL)
	p, err := exporter.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	record(t, p.MeterProvider())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Shutdown(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v with a 200ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
}

func TestSDKDisabled(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	reader := sdkmetric.NewManualReader()
	p, err := exporter.New(context.Background(), exporter.WithReader(reader))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.MeterProvider().(*sdkmetric.MeterProvider); ok {
		t.Error("MeterProvider is the SDK's with OTEL_SDK_DISABLED=true")
	}
	record(t, p.MeterProvider())
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, r sdkmetric.Reader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func TestViews(t *testing.T) {
	t.Run("exponential latency histograms", func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None), exporter.WithReader(reader), exporter.WithExponentialHistograms())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown(context.Background())
		record(t, p.MeterProvider())
		m := collect(t, reader)["http.server.request.duration"]
		eh, ok := m.Data.(metricdata.ExponentialHistogram[float64])
		if !ok {
			t.Fatalf("duration data = %T, want an exponential histogram", m.Data)
		}
		if eh.DataPoints[0].Count != 2 {
			t.Errorf("count = %d, want 2", eh.DataPoints[0].Count)
		}
	})
	t.Run("only *.duration in seconds gets the latency buckets", func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None), exporter.WithReader(reader))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown(context.Background())
		m := p.MeterProvider().Meter("t")
		ms, _ := m.Float64Histogram("db.query.duration", metric.WithUnit("ms"))
		size, _ := m.Int64Histogram("http.server.request.body.size", metric.WithUnit("By"))
		ms.Record(context.Background(), 12)
		size.Record(context.Background(), 100)
		got := collect(t, reader)
		for _, name := range []string{"db.query.duration", "http.server.request.body.size"} {
			var bounds []float64
			switch d := got[name].Data.(type) {
			case metricdata.Histogram[float64]:
				bounds = d.DataPoints[0].Bounds
			case metricdata.Histogram[int64]:
				bounds = d.DataPoints[0].Bounds
			}
			if len(bounds) == len(exporter.DurationBuckets) && bounds[0] == exporter.DurationBuckets[0] {
				t.Errorf("%s got the latency buckets %v", name, bounds)
			}
		}
	})
	t.Run("an SLO threshold stays a boundary of the middleware's histogram", func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None), exporter.WithReader(reader))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown(context.Background())
		mw, err := operational.NewMiddleware(operational.WithMeterProvider(p.MeterProvider()), operational.WithSLOs(
			slo.SLO{Name: "fast", Objective: 0.99, SLI: slo.HTTPLatency{Threshold: 300 * time.Millisecond}}))
		if err != nil {
			t.Fatal(err)
		}
		mw.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		other, _ := p.MeterProvider().Meter("t").Float64Histogram("job.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(1, 2))
		other.Record(context.Background(), 1)
		got := collect(t, reader)
		want := append(slices.Clone(exporter.DurationBuckets), 0.3)
		slices.Sort(want)
		if diff := cmp.Diff(want, got["http.server.request.duration"].Data.(metricdata.Histogram[float64]).DataPoints[0].Bounds); diff != "" {
			t.Errorf("middleware histogram bounds (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(exporter.DurationBuckets, got["job.duration"].Data.(metricdata.Histogram[float64]).DataPoints[0].Bounds); diff != "" {
			t.Errorf("another library's *.duration bounds (-want +got):\n%s", diff)
		}
	})
	t.Run("cardinality limit", func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None), exporter.WithReader(reader), exporter.WithCardinalityLimit(3))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown(context.Background())
		c, _ := p.MeterProvider().Meter("t").Int64Counter("hits")
		for i := range 10 {
			c.Add(context.Background(), 1, metric.WithAttributes(attribute.Int("i", i)))
		}
		pts := collect(t, reader)["hits"].Data.(metricdata.Sum[int64]).DataPoints
		var total int64
		overflow := false
		for _, pt := range pts {
			total += pt.Value
			if v, ok := pt.Attributes.Value("otel.metric.overflow"); ok && v.AsBool() {
				overflow = true
			}
		}
		if len(pts) != 3 || !overflow || total != 10 {
			t.Errorf("%d points (want 3), overflow %v (want true), total %d (want 10)", len(pts), overflow, total)
		}
	})
}

func TestRuntimeMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None), exporter.WithReader(reader), exporter.WithRuntimeMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	got := collect(t, reader)
	for _, name := range []string{"go.goroutine.count", "go.memory.used"} {
		if _, ok := got[name]; !ok {
			t.Errorf("runtime metric %s missing; have %d metrics", name, len(got))
		}
	}
}

func TestDefaultServiceName(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []exporter.Option
		want string
	}{
		{"the program's default", nil, nil, "shop"},
		{"OTEL_RESOURCE_ATTRIBUTES beats it", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=billing"}, nil, "billing"},
		{"OTEL_SERVICE_NAME beats it", map[string]string{"OTEL_SERVICE_NAME": "checkout"}, nil, "checkout"},
		{"WithServiceName beats all", map[string]string{"OTEL_SERVICE_NAME": "checkout"}, []exporter.Option{exporter.WithServiceName("cart")}, "cart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			reader := sdkmetric.NewManualReader()
			opts := append([]exporter.Option{exporter.WithExporters(exporter.None), exporter.WithReader(reader),
				exporter.WithDefaultServiceName("shop")}, tt.opts...)
			p, err := exporter.New(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			if v, _ := rm.Resource.Set().Value("service.name"); v.AsString() != tt.want {
				t.Errorf("service.name = %q, want %q", v.AsString(), tt.want)
			}
		})
	}
}
