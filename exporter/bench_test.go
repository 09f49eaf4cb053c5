package exporter_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/exporter"
)

// BenchmarkRecord measures recording through the provider's instruments
// with a prebuilt attribute set: while live, and after Shutdown.
func BenchmarkRecord(b *testing.B) {
	for _, state := range []string{"live", "shutdown"} {
		b.Run(state, func(b *testing.B) {
			ctx := context.Background()
			p, err := exporter.New(ctx, exporter.WithExporters(exporter.Prometheus))
			if err != nil {
				b.Fatal(err)
			}
			m := p.MeterProvider().Meter("bench")
			c, _ := m.Int64Counter("jobs")
			h, _ := m.Float64Histogram("job.duration", metric.WithUnit("s"))
			set := attribute.NewSet(attribute.String("queue", "mail"))
			add := []metric.AddOption{metric.WithAttributeSet(set)}
			rec := []metric.RecordOption{metric.WithAttributeSet(set)}
			if state == "shutdown" {
				if err := p.Shutdown(ctx); err != nil {
					b.Fatal(err)
				}
			} else {
				defer p.Shutdown(ctx)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c.Add(ctx, 1, add...)
				h.Record(ctx, float64(i%100)/1000, rec...)
			}
		})
	}
}

// BenchmarkScrape measures one Prometheus scrape of 100 series.
func BenchmarkScrape(b *testing.B) {
	ctx := context.Background()
	p, err := exporter.New(ctx, exporter.WithExporters(exporter.Prometheus))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(ctx)
	h, _ := p.MeterProvider().Meter("bench").Float64Histogram("http.server.request.duration", metric.WithUnit("s"))
	for i := range 100 {
		h.Record(ctx, 0.1, metric.WithAttributes(attribute.Int("route", i)))
	}
	handler := p.MetricsHandler()
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
	}
}
