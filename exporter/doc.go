// Package exporter builds the one OpenTelemetry SDK MeterProvider that the
// [github.com/kpikit/kpikit/customer] and
// [github.com/kpikit/kpikit/operational] recorders write into, and ships
// its metrics to an OTLP collector, to Prometheus, or to the console.
//
// # Usage
//
//	p, err := exporter.New(ctx, exporter.WithServiceName("shop"))
//	if err != nil {
//		return err
//	}
//	defer p.Shutdown(context.Background())
//	mp := p.MeterProvider() // pass to the recorders
//
// With the Prometheus exporter, mount the scrape handler on the
// application's own mux:
//
//	mux.Handle("GET /metrics", p.MetricsHandler())
//
// New starts no listener of its own unless asked to: with the Prometheus
// exporter alone nothing listens, on :9464 or anywhere else, and the
// metrics are served only where the application mounts the handler.
// [WithPrometheusListener], or
// OTEL_EXPORTER_PROMETHEUS_HOST or OTEL_EXPORTER_PROMETHEUS_PORT, asks for
// a listener: New then also serves GET /metrics at that address (an unset
// host is localhost, an unset port 9464), adding the Prometheus exporter if
// it was not configured, and fails if it cannot listen there.
//
// # Configuration
//
// Every setting comes from, in order of strength: an [Option], then the
// standard environment variable, then the built-in default. New is the only
// place in kpikit that reads the environment.
//
//	OTEL_SDK_DISABLED=true                   a no-op provider, nothing exported
//	OTEL_METRICS_EXPORTER                    otlp (default), prometheus, console, none; comma-separated
//	OTEL_EXPORTER_OTLP_PROTOCOL              grpc or http/protobuf (default)
//	OTEL_EXPORTER_OTLP_METRICS_PROTOCOL      the same, for metrics only; beats the one above
//	OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT    collector URL (default localhost:4317 / :4318)
//	OTEL_EXPORTER_OTLP_[METRICS_]HEADERS     key=value,… sent with every export
//	OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT     one request's timeout, milliseconds
//	OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION gzip or none
//	OTEL_EXPORTER_OTLP_[METRICS_]INSECURE, _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY
//	OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE      cumulative (default), delta, lowmemory
//	OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION explicit_bucket_histogram or base2_exponential_bucket_histogram
//	OTEL_METRIC_EXPORT_INTERVAL              push interval, milliseconds (default 60000)
//	OTEL_METRIC_EXPORT_TIMEOUT               one export's timeout, milliseconds (default 30000)
//	OTEL_SERVICE_NAME                        service.name; beats OTEL_RESOURCE_ATTRIBUTES
//	OTEL_RESOURCE_ATTRIBUTES                 key=value,… resource attributes
//	OTEL_EXPORTER_PROMETHEUS_HOST, _PORT     either one: serve /metrics on a listener of its own (unset: no listener)
//
// The OTLP exporters read most OTEL_EXPORTER_OTLP_* variables themselves and
// would log a malformed value and carry on with a default; New checks them
// first, so a malformed value is an error that names the variable and the
// value, and nothing has been started.
//
// The resource carries, from weakest to strongest: the SDK, host, OS and
// process attributes, a random service.instance.id and
// [WithDefaultServiceName], then
// OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, then [WithAttributes],
// [WithServiceName] and [WithServiceVersion].
//
// Histograms named "*.duration" with unit "s" get [DurationBuckets], the
// semantic-convention latency buckets, or base-2 exponential buckets with
// [WithExponentialHistograms].
//
// # Performance
//
// The exporter is not on the recording path: instruments record into SDK
// aggregates and the readers collect them on their own schedule (push) or
// on a scrape (Prometheus). Recording with a prebuilt attribute set and a
// prebuilt option slice does not allocate, before or after Shutdown.
//
// # Concurrency
//
// A [Provider]'s methods are safe for concurrent use. Each push exporter
// runs one goroutine, and a Prometheus listener, when one was asked for, one
// more; [Provider.Shutdown] stops them all and waits for them.
package exporter
