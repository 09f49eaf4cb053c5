package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/kpikit/kpikit/internal/httpbench"
	"github.com/kpikit/kpikit/operational"
)

func sdkProvider() *sdkmetric.MeterProvider {
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
}

// handlers returns the contenders, each wrapping its own ServeMux and
// recording into its own real backend.
func handlers(b *testing.B) []struct {
	name string
	h    http.Handler
} {
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(sdkProvider()))
	if err != nil {
		b.Fatal(err)
	}
	lean, err := operational.NewMiddleware(operational.WithMeterProvider(sdkProvider()), operational.WithoutBodySizes())
	if err != nil {
		b.Fatal(err)
	}
	noOutcome, err := operational.NewMiddleware(operational.WithMeterProvider(sdkProvider()), operational.WithoutOutcome())
	if err != nil {
		b.Fatal(err)
	}

	otelH := otelhttp.NewHandler(httpbench.Mux(), "server",
		otelhttp.WithMeterProvider(sdkProvider()),
		otelhttp.WithTracerProvider(tracenoop.NewTracerProvider()))

	reg := prometheus.NewRegistry()
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Buckets: operational.DurationBuckets,
	}, []string{"code", "method"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total"}, []string{"code", "method"})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_requests_in_flight"})
	reg.MustRegister(duration, requests, inFlight)
	promH := promhttp.InstrumentHandlerInFlight(inFlight,
		promhttp.InstrumentHandlerDuration(duration,
			promhttp.InstrumentHandlerCounter(requests, httpbench.Mux())))

	return []struct {
		name string
		h    http.Handler
	}{
		{"bare", httpbench.Mux()},
		{"kpikit", mw.Handler(httpbench.Mux())},
		{"kpikit-without-body-sizes", lean.Handler(httpbench.Mux())},
		{"kpikit-without-outcome", noOutcome.Handler(httpbench.Mux())},
		{"otelhttp", otelH},
		{"promhttp", promH},
		{"sdk-floor", sdkFloor(b, httpbench.Mux())},
	}
}

// sdkFloor is not a middleware: it makes the three histogram measurements
// a semantic-convention middleware owes per request (duration and the two
// body sizes) with a prebuilt five-attribute set, and nothing else. Its
// overhead is what any middleware recording through the SDK pays at least.
func sdkFloor(b *testing.B, next http.Handler) http.Handler {
	m := sdkProvider().Meter("floor")
	dur, err := m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := m.Int64Histogram("http.server.request.body.size", metric.WithUnit("By"))
	resp, _ := m.Int64Histogram("http.server.response.body.size", metric.WithUnit("By"))
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("http.request.method", "GET"),
		attribute.String("url.scheme", "http"),
		attribute.Int("http.response.status_code", 200),
		attribute.String("http.route", "/users/{id}"),
		attribute.String("network.protocol.version", "1.1"),
	))}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		ctx := r.Context()
		dur.Record(ctx, time.Since(start).Seconds(), opts...)
		req.Record(ctx, 0, opts...)
		resp.Record(ctx, 5, opts...)
	})
}

// BenchmarkServer serves one routed request per iteration. The overhead
// of a middleware is its time minus bare's.
func BenchmarkServer(b *testing.B) {
	for _, c := range handlers(b) {
		b.Run("impl="+c.name, func(b *testing.B) {
			w := httpbench.NewWriter()
			r := httptest.NewRequest("GET", "/users/42", nil)
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkServerParallel shows how each scales with cores.
func BenchmarkServerParallel(b *testing.B) {
	for _, c := range handlers(b) {
		b.Run("impl="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := httpbench.NewWriter()
				r := httptest.NewRequest("GET", "/users/42", nil)
				for pb.Next() {
					c.h.ServeHTTP(w, r)
				}
			})
		})
	}
}
