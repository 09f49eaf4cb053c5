package exporter

import (
	"context"
	"slices"
	"testing"
)

// TestPrometheusListenerOnlyWhenAsked pins what the package documentation
// says: no listener is started unless WithPrometheusListener or
// OTEL_EXPORTER_PROMETHEUS_HOST / _PORT asks for one; the prometheus
// exporter alone only provides the handler to mount.
func TestPrometheusListenerOnlyWhenAsked(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		opts   []Option
		listen string // "" for no listener
	}{
		{name: "defaults"},
		{name: "console by default", opts: []Option{WithDefaultExporters(Console)}},
		{name: "prometheus exporter from the environment", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}},
		{name: "prometheus exporter from an option", opts: []Option{WithExporters(Prometheus)}},
		{name: "host alone", env: map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0"}, listen: "0.0.0.0:9464"},
		{name: "port alone", env: map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "9999"}, listen: "localhost:9999"},
		{name: "option beats the environment", env: map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "9999"},
			opts: []Option{WithPrometheusListener("127.0.0.1:0")}, listen: "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSettings(func(k string) string { return tt.env[k] }, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.promListen != tt.listen {
				t.Errorf("env %v, %d options: listener %q, want %q", tt.env, len(tt.opts), s.promListen, tt.listen)
			}
			if tt.listen != "" && !slices.Contains(s.exporters, Prometheus) {
				t.Errorf("env %v: listener %q without the prometheus exporter (%v)", tt.env, s.promListen, s.exporters)
			}
		})
	}
}

// TestNewStartsNoListener checks the same through New: with the prometheus
// exporter and no listener asked for, the provider serves nothing of its
// own, only the handler.
func TestNewStartsNoListener(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "")
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	p, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if p.srv != nil {
		t.Errorf("New started a listener (%v) that nothing asked for", p.srv.Addr)
	}
	if p.MetricsHandler() == nil {
		t.Error("MetricsHandler is nil with the prometheus exporter")
	}
}
