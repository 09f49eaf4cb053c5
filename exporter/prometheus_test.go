package exporter_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kpikit/kpikit/exporter"
)

func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return fams, string(body)
}

func TestPrometheusHandler(t *testing.T) {
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	t.Setenv("OTEL_SERVICE_NAME", "checkout")
	ctx := context.Background()
	p, err := exporter.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx)
	h := p.MetricsHandler()
	if h == nil {
		t.Fatal("MetricsHandler is nil with the prometheus exporter configured")
	}
	record(t, p.MeterProvider())

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fams, body := scrape(t, srv.URL+"/metrics")

	orders := fams["shop_orders_total"]
	if orders == nil || orders.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("shop_orders_total missing or not a counter:\n%s", body)
	}
	if m := orders.GetMetric(); len(m) != 1 || m[0].GetCounter().GetValue() != 3 {
		t.Errorf("shop_orders_total = %v, want 3", m)
	}
	dur := fams["http_server_request_duration_seconds"]
	if dur == nil || dur.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("http_server_request_duration_seconds missing or not a histogram:\n%s", body)
	}
	hist := dur.GetMetric()[0].GetHistogram()
	var bounds []float64
	for _, b := range hist.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if diff := cmp.Diff(append(slices.Clone(exporter.DurationBuckets), math.Inf(1)), bounds); diff != "" || hist.GetSampleCount() != 2 {
		t.Errorf("histogram count %d (want 2), bounds (-want +got):\n%s", hist.GetSampleCount(), diff)
	}
	if ti := fams["target_info"]; ti == nil || !hasLabel(ti.GetMetric()[0], "service_name", "checkout") {
		t.Errorf("target_info lacks service_name=checkout:\n%s", body)
	}

	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestPrometheusListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(addr)
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", host)
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", port)

	ctx := context.Background()
	p, err := exporter.New(ctx, exporter.WithExporters(exporter.None))
	if err != nil {
		t.Fatal(err)
	}
	record(t, p.MeterProvider())
	fams, body := scrape(t, fmt.Sprintf("http://%s/metrics", addr))
	if fams["shop_orders_total"] == nil {
		t.Errorf("listener at %s does not serve shop_orders_total:\n%s", addr, body)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(fmt.Sprintf("http://%s/metrics", addr)); err == nil {
		t.Errorf("listener at %s still answers after Shutdown", addr)
	}
}

func TestNoPrometheusNoHandler(t *testing.T) {
	p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if h := p.MetricsHandler(); h != nil {
		t.Errorf("MetricsHandler = %v without the prometheus exporter, want nil", h)
	}
}
