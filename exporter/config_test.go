package exporter_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/exporter"
)

// TestNewRejectsBadConfiguration checks that each malformed setting fails
// New with an error naming the setting and the value, and that nothing is
// left running (goleak checks the whole package at exit).
func TestNewRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []exporter.Option
		want []string // substrings of the error
	}{
		{"unknown exporter", map[string]string{"OTEL_METRICS_EXPORTER": "otlp,zipkin"}, nil,
			[]string{"OTEL_METRICS_EXPORTER", `"otlp,zipkin"`, `"zipkin"`}},
		{"none with others", map[string]string{"OTEL_METRICS_EXPORTER": "none,console"}, nil,
			[]string{"OTEL_METRICS_EXPORTER", `"none,console"`}},
		{"unknown exporter option", nil, []exporter.Option{exporter.WithExporters("jaeger")},
			[]string{"WithExporters", `"jaeger"`}},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "udp"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_PROTOCOL", `"udp"`}},
		{"http/json", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", `"http/json"`, "not supported"}},
		{"unknown protocol option", nil, []exporter.Option{exporter.WithProtocol("grpcs")},
			[]string{"WithProtocol", `"grpcs"`}},
		{"interval not a number", map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "10s"}, nil,
			[]string{"OTEL_METRIC_EXPORT_INTERVAL", `"10s"`, "milliseconds"}},
		{"interval zero", map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "0"}, nil,
			[]string{"OTEL_METRIC_EXPORT_INTERVAL", `"0"`}},
		{"timeout negative", map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "-5"}, nil,
			[]string{"OTEL_METRIC_EXPORT_TIMEOUT", `"-5"`}},
		{"interval option negative", nil, []exporter.Option{exporter.WithInterval(-time.Second)},
			[]string{"WithInterval", "-1s"}},
		{"endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_ENDPOINT", `"localhost:4317"`}},
		{"endpoint unparsable", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://[::1"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", `"http://[::1"`}},
		{"endpoint option", nil, []exporter.Option{exporter.WithEndpoint("collector")},
			[]string{"WithEndpoint", `"collector"`}},
		{"headers", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_HEADERS", `"api-key"`}},
		{"otlp timeout", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_TIMEOUT", `"soon"`}},
		{"compression", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_COMPRESSION", `"zstd"`}},
		{"insecure", map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "yes"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_INSECURE", `"yes"`}},
		{"certificate missing", map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_CERTIFICATE", `"/nonexistent/ca.pem"`}},
		{"temporality", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", `"sometimes"`}},
		{"histogram aggregation", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "hdr"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", `"hdr"`}},
		{"resource attributes", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=shop,oops"}, nil,
			[]string{"OTEL_RESOURCE_ATTRIBUTES", `"team=shop,oops"`, `"oops"`}},
		{"resource attribute escape", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=%zz"}, nil,
			[]string{"OTEL_RESOURCE_ATTRIBUTES", `"team=%zz"`}},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "maybe"}, nil,
			[]string{"OTEL_SDK_DISABLED", `"maybe"`}},
		{"prometheus port", map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "99999"}, nil,
			[]string{"OTEL_EXPORTER_PROMETHEUS_PORT", `"99999"`}},
		{"prometheus listener busy or bad", nil, []exporter.Option{exporter.WithPrometheusListener("256.0.0.1:1")},
			[]string{"prometheus listener", `"256.0.0.1:1"`}},
		{"two errors at once", map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "tcp", "OTEL_METRIC_EXPORT_INTERVAL": "x"}, nil,
			[]string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_METRIC_EXPORT_INTERVAL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p, err := exporter.New(context.Background(), tt.opts...)
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Fatalf("New(env %v) = nil error, want one containing %q", tt.env, tt.want)
			}
			if p != nil {
				t.Errorf("New returned a provider with error %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestOTLPVariablesOnlyCheckedForOTLP: a broken OTLP variable must not stop
// a program that does not export over OTLP.
func TestOTLPVariablesOnlyCheckedForOTLP(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")
	p, err := exporter.New(context.Background(), exporter.WithExporters(exporter.None))
	if err != nil {
		t.Fatalf("New with exporter none: %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
