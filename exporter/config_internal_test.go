package exporter

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSettingsPrecedence(t *testing.T) {
	env := map[string]string{
		"OTEL_METRICS_EXPORTER":                             "console,prometheus",
		"OTEL_EXPORTER_OTLP_PROTOCOL":                       "http/protobuf",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL":               "grpc",
		"OTEL_METRIC_EXPORT_INTERVAL":                       "1500",
		"OTEL_METRIC_EXPORT_TIMEOUT":                        "700",
		"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "Delta",
	}
	getenv := func(k string) string { return env[k] }
	type got struct {
		Exporters   []Kind
		Protocol    Protocol
		Interval    time.Duration
		Timeout     time.Duration
		Temporality Temporality
	}
	tests := []struct {
		name string
		env  bool
		opts []Option
		want got
	}{
		{
			name: "built-in defaults",
			want: got{Exporters: []Kind{OTLP}, Protocol: HTTPProtobuf, Interval: time.Minute, Timeout: 30 * time.Second},
		},
		{
			name: "program default loses to nothing else",
			opts: []Option{WithDefaultExporters(Console)},
			want: got{Exporters: []Kind{Console}, Protocol: HTTPProtobuf, Interval: time.Minute, Timeout: 30 * time.Second},
		},
		{
			name: "environment beats defaults; per-signal protocol beats the general one",
			env:  true,
			opts: []Option{WithDefaultExporters(Console)},
			want: got{Exporters: []Kind{Console, Prometheus}, Protocol: GRPC, Interval: 1500 * time.Millisecond, Timeout: 700 * time.Millisecond, Temporality: Delta},
		},
		{
			name: "options beat the environment",
			env:  true,
			opts: []Option{WithExporters(OTLP), WithProtocol(HTTPProtobuf), WithInterval(2 * time.Second), WithTimeout(time.Second), WithTemporality(Cumulative)},
			want: got{Exporters: []Kind{OTLP}, Protocol: HTTPProtobuf, Interval: 2 * time.Second, Timeout: time.Second, Temporality: Cumulative},
		},
		{
			name: "duplicates collapse, none alone is empty",
			opts: []Option{WithExporters(Console, Console)},
			want: got{Exporters: []Kind{Console}, Protocol: HTTPProtobuf, Interval: time.Minute, Timeout: 30 * time.Second},
		},
		{
			name: "a prometheus listener implies the prometheus exporter",
			opts: []Option{WithExporters(None), WithPrometheusListener("127.0.0.1:0")},
			want: got{Exporters: []Kind{Prometheus}, Protocol: HTTPProtobuf, Interval: time.Minute, Timeout: 30 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := func(string) string { return "" }
			if tt.env {
				g = getenv
			}
			s, err := newSettings(g, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			have := got{Exporters: s.exporters, Protocol: s.protocol, Interval: s.interval, Timeout: s.timeout, Temporality: s.temporality}
			if diff := cmp.Diff(tt.want, have); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}
