package operational_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kpikit/kpikit/internal/httpbench"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

func serveLoop(b *testing.B, h http.Handler) {
	w := httpbench.NewWriter()
	r := httptest.NewRequest("GET", "/users/42", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func serveParallel(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := httpbench.NewWriter()
		r := httptest.NewRequest("GET", "/users/42", nil)
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}

func BenchmarkMiddleware(b *testing.B) {
	mp, _ := newProvider()
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	off, _ := operational.NewMiddleware(operational.WithMeterProvider(noop.NewMeterProvider()))
	noOutcome, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithoutOutcome())
	if err != nil {
		b.Fatal(err)
	}
	slo1, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithSLOs(benchSLOs[:1]...))
	if err != nil {
		b.Fatal(err)
	}
	slo4, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithSLOs(benchSLOs...))
	if err != nil {
		b.Fatal(err)
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"bare", httpbench.Mux()},
		{"kpikit", mw.Handler(httpbench.Mux())},
		{"kpikit-disabled", off.Handler(httpbench.Mux())},
		{"kpikit-without-outcome", noOutcome.Handler(httpbench.Mux())},
		// The cost of SLOs: one, then four, matching every request.
		{"kpikit-1-slo", slo1.Handler(httpbench.Mux())},
		{"kpikit-4-slos", slo4.Handler(httpbench.Mux())},
	}
	for _, h := range handlers {
		b.Run(h.name, func(b *testing.B) { serveLoop(b, h.h) })
	}
	for _, h := range handlers {
		b.Run(h.name+"-parallel", func(b *testing.B) { serveParallel(b, h.h) })
	}
}

var errBench = errors.New("boom")

// benchSLOs all select the benchmark's request, GET /users/{id}.
var benchSLOs = []slo.SLO{
	{Name: "all", Objective: 0.999, SLI: slo.HTTPAvailability{}},
	{Name: "users", Objective: 0.999, SLI: slo.HTTPAvailability{Routes: []string{"/users/{id}"}, Methods: []string{"GET"}}},
	{Name: "fast", Objective: 0.99, SLI: slo.HTTPLatency{Threshold: 300 * time.Millisecond}},
	{Name: "users-fast", Objective: 0.99, SLI: slo.HTTPLatency{Threshold: 100 * time.Millisecond, Routes: []string{"/users/{id}"}}},
}

// The operation recorder against the raw SDK histogram it records into,
// with a prebuilt attribute set.
func BenchmarkOperation(b *testing.B) {
	mp, _ := newProvider()
	ctx := context.Background()
	meter := mp.Meter("raw")
	raw, _ := meter.Float64Histogram("raw.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(operational.DurationBuckets...))
	// The fair baseline: prebuilt attribute sets in prebuilt option slices
	// (a lone option passed variadically allocates its slice per call).
	rawOpt := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("operation.name", "db.query")))}
	rawErrOpt := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("operation.name", "db.query"), attribute.String("error.type", "_OTHER")))}
	op, err := operational.NewOperation("db.query", operational.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	off, _ := operational.NewOperation("db.query", operational.WithMeterProvider(noop.NewMeterProvider()))
	d := 3 * time.Millisecond

	b.Run("raw-sdk-record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw.Record(ctx, d.Seconds(), rawOpt...)
		}
	})
	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			op.Record(ctx, d, nil)
		}
	})
	b.Run("raw-sdk-record-error", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw.Record(ctx, d.Seconds(), rawErrOpt...)
		}
	})
	b.Run("record-error", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			op.Record(ctx, d, errBench)
		}
	})
	b.Run("raw-sdk-timed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			raw.Record(ctx, time.Since(start).Seconds(), rawOpt...)
		}
	})
	b.Run("start-end", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			op.Start(ctx).End(nil)
		}
	})
	b.Run("record-disabled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			off.Record(ctx, d, errBench)
		}
	})
	b.Run("raw-sdk-record-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				raw.Record(ctx, d.Seconds(), rawOpt...)
			}
		})
	})
	b.Run("record-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op.Record(ctx, d, nil)
			}
		})
	})
}

// The error counter against the raw SDK counter, with a prebuilt attribute
// set holding the error type it classifies to.
func BenchmarkErrorCounter(b *testing.B) {
	mp, _ := newProvider()
	ctx := context.Background()
	raw, _ := mp.Meter("raw").Int64Counter("raw.errors")
	rawOpt := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("operation.name", "cache.refresh"), attribute.String("error.type", "context_canceled")))}
	ec, err := operational.NewErrorCounter("cache.refresh", operational.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	wrapped := &net.OpError{Op: "read", Err: context.Canceled}
	b.Run("raw-sdk-add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw.Add(ctx, 1, rawOpt...)
		}
	})
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ec.Add(ctx, context.Canceled)
		}
	})
	b.Run("add-wrapped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ec.Add(ctx, wrapped)
		}
	})
	b.Run("add-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ec.Add(ctx, context.Canceled)
			}
		})
	})
}

func BenchmarkTransport(b *testing.B) {
	mp, _ := newProvider()
	resp := &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	tr, err := operational.NewTransport(base, operational.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://api.internal:8080/x", nil)
	for _, rt := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", base}, {"kpikit", tr}} {
		b.Run(rt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = rt.rt.RoundTrip(req)
			}
		})
	}
}
