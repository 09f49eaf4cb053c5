package exporter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/kpikit/kpikit/exporter"
	"github.com/kpikit/kpikit/internal/errcapture"
	"github.com/kpikit/kpikit/internal/otlptest"
)

// record makes one counter add and two latency observations.
func record(t *testing.T, mp metric.MeterProvider) {
	t.Helper()
	m := mp.Meter("github.com/kpikit/kpikit/exporter_test")
	c, err := m.Int64Counter("shop.orders", metric.WithUnit("{order}"), metric.WithDescription("Orders placed."))
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("plan", "pro")))
	h.Record(ctx, 0.02)
	h.Record(ctx, 3)
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return m
}

func findMetric(rms []*metricspb.ResourceMetrics, name string) *metricspb.Metric {
	for _, rm := range rms {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() == name {
					return m
				}
			}
		}
	}
	return nil
}

// TestOTLPWire points the exporter at real OTLP receivers through the
// environment alone and checks the decoded requests.
func TestOTLPWire(t *testing.T) {
	tests := []struct {
		name  string
		start func(testing.TB) *otlptest.Receiver
		env   map[string]string
	}{
		{"grpc via OTEL_EXPORTER_OTLP_PROTOCOL", otlptest.StartGRPC, map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		}},
		{"grpc via the per-signal protocol, over the general one", otlptest.StartGRPC, map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL":         "http/protobuf",
			"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
		}},
		{"http/protobuf, gzip", otlptest.StartHTTP, map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL":    "http/protobuf",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		}},
		{"http/protobuf is the default protocol", otlptest.StartHTTP, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := tt.start(t)
			t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,x-key=a%20b")
			t.Setenv("OTEL_SERVICE_NAME", "checkout")
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment.name=staging,service.version=1.2.3")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx := context.Background()
			p, err := exporter.New(ctx, exporter.WithServiceVersion("2.0.0"))
			if err != nil {
				t.Fatal(err)
			}
			record(t, p.MeterProvider())
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			rms := rcv.ResourceMetrics()
			if len(rms) == 0 {
				t.Fatal("receiver got no metrics: Shutdown did not export")
			}

			res := attrMap(rms[0].GetResource().GetAttributes())
			for k, want := range map[string]string{
				"service.name":                "checkout", // OTEL_SERVICE_NAME beats OTEL_RESOURCE_ATTRIBUTES
				"service.version":             "2.0.0",    // the option beats the environment
				"deployment.environment.name": "staging",
				"telemetry.sdk.language":      "go",
				"telemetry.sdk.name":          "opentelemetry",
			} {
				if res[k] != want {
					t.Errorf("resource %s = %q, want %q (resource %v)", k, res[k], want, res)
				}
			}
			for _, k := range []string{"service.instance.id", "host.name", "process.runtime.name", "telemetry.sdk.version"} {
				if res[k] == "" {
					t.Errorf("resource lacks %s: %v", k, res)
				}
			}
			h := rcv.Headers()[0]
			if got := h["x-tenant"]; len(got) != 1 || got[0] != "acme" {
				t.Errorf("header x-tenant = %v, want [acme]", got)
			}
			if got := h["x-key"]; len(got) != 1 || got[0] != "a b" {
				t.Errorf("header x-key = %v, want [a b]", got)
			}

			orders := findMetric(rms, "shop.orders")
			if orders == nil {
				t.Fatal("shop.orders not received")
			}
			sum := orders.GetSum()
			if !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
				t.Errorf("shop.orders sum = %v, want monotonic cumulative", sum)
			}
			if pts := sum.GetDataPoints(); len(pts) != 1 || pts[0].GetAsInt() != 3 || attrMap(pts[0].GetAttributes())["plan"] != "pro" {
				t.Errorf("shop.orders points = %v, want one point 3 {plan=pro}", pts)
			}
			if orders.GetUnit() != "{order}" {
				t.Errorf("shop.orders unit = %q", orders.GetUnit())
			}

			dur := findMetric(rms, "http.server.request.duration")
			if dur == nil {
				t.Fatal("http.server.request.duration not received")
			}
			pts := dur.GetHistogram().GetDataPoints()
			if len(pts) != 1 {
				t.Fatalf("duration points = %v, want 1", pts)
			}
			if diff := cmp.Diff(exporter.DurationBuckets, pts[0].GetExplicitBounds()); diff != "" {
				t.Errorf("duration buckets (-want +got):\n%s", diff)
			}
			if pts[0].GetCount() != 2 || pts[0].GetSum() != 3.02 {
				t.Errorf("duration count, sum = %d, %v; want 2, 3.02", pts[0].GetCount(), pts[0].GetSum())
			}
			// 0.02 falls in (0.01, 0.025], 3 in (2.5, 5].
			want := make([]uint64, len(exporter.DurationBuckets)+1)
			want[2], want[11] = 1, 1
			if diff := cmp.Diff(want, pts[0].GetBucketCounts()); diff != "" {
				t.Errorf("bucket counts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOTLPTLS trusts the receiver's certificate through
// OTEL_EXPORTER_OTLP_CERTIFICATE.
func TestOTLPTLS(t *testing.T) {
	rcv := otlptest.StartHTTPS(t)
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint)
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", rcv.CAFile)
	ctx := context.Background()
	p, err := exporter.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	record(t, p.MeterProvider())
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if findMetric(rcv.ResourceMetrics(), "shop.orders") == nil {
		t.Fatal("no metrics over TLS")
	}
}

// TestOTLPIntervalAndTemporality checks OTEL_METRIC_EXPORT_INTERVAL (an
// export arrives without any flush) and the temporality preference.
func TestOTLPIntervalAndTemporality(t *testing.T) {
	rcv := otlptest.StartGRPC(t)
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", rcv.Endpoint)
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "50")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
	ctx := context.Background()
	p, err := exporter.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	record(t, p.MeterProvider())
	if !rcv.WaitRequest(10 * time.Second) {
		t.Fatal("no periodic export within 10s at a 50ms interval")
	}
	orders := findMetric(rcv.ResourceMetrics(), "shop.orders")
	if orders == nil {
		t.Fatal("shop.orders not in the first export")
	}
	if got := orders.GetSum().GetAggregationTemporality(); got != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
		t.Errorf("temporality = %v, want delta", got)
	}
}

// TestOTLPEndpointOption checks that WithEndpoint beats the environment and
// that HTTP exports go to v1/metrics under the base URL.
func TestOTLPEndpointOption(t *testing.T) {
	rcv := otlptest.StartHTTP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing listens there
	ctx := context.Background()
	p, err := exporter.New(ctx, exporter.WithExporters(exporter.OTLP), exporter.WithProtocol(exporter.HTTPProtobuf), exporter.WithEndpoint(rcv.Endpoint))
	if err != nil {
		t.Fatal(err)
	}
	record(t, p.MeterProvider())
	if err := p.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	if len(rcv.Requests()) != 1 {
		t.Fatalf("after ForceFlush the receiver has %d requests, want 1", len(rcv.Requests()))
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rcv.Requests()) != 2 {
		t.Fatalf("after Shutdown the receiver has %d requests, want 2 (the last collection)", len(rcv.Requests()))
	}
}

// TestShutdownWaitsForRunningExport shuts down while a periodic export is
// still on its way to a slow receiver. The SDK's Shutdown alone cancels
// that export (reporting "context canceled"); the provider's waits for it,
// and its final export carries the last values.
func TestShutdownWaitsForRunningExport(t *testing.T) {
	recv := otlptest.StartHTTP(t)
	target, err := url.Parse(recv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	arrived := make(chan struct{}, 100)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", slow.URL)
	otelErrs := errcapture.Capture(t)

	p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.OTLP), exporter.WithInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.MeterProvider().Meter("test").Int64Counter("shop.orders")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 1)
	select {
	case <-arrived: // a periodic export is under way
	case <-time.After(10 * time.Second):
		t.Fatal("no periodic export")
	}
	c.Add(context.Background(), 41)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, err := range otelErrs() {
		t.Errorf("reported: %v", err)
	}
	reqs := recv.Requests()
	if len(reqs) == 0 {
		t.Fatal("nothing exported")
	}
	last := findMetric(reqs[len(reqs)-1].GetResourceMetrics(), "shop.orders")
	if got := last.GetSum().GetDataPoints(); len(got) != 1 || got[0].GetAsInt() != 42 {
		t.Errorf("last export: shop.orders %v, want 42", got)
	}
}
