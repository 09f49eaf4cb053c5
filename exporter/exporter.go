package exporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Provider owns the SDK MeterProvider built by [New], its readers and
// exporters, and the Prometheus listener when one was asked for.
//
// Its methods are safe for concurrent use.
type Provider struct {
	sdk     *sdkmetric.MeterProvider // nil when OTEL_SDK_DISABLED=true
	metrics http.Handler
	srv     *http.Server
	srvDone chan struct{}
	pushers []*finalExporter

	mu   sync.Mutex
	done chan struct{} // made by the first Shutdown, closed when it returns
	err  error         // its result, read once done is closed
}

// finalExporter passes exports on until the provider's final flush has
// succeeded. The periodic reader's Shutdown then exports nothing: the
// flush carried the last values, and exporting them twice would print a
// console document twice and send zero deltas.
type finalExporter struct {
	sdkmetric.Exporter
	flushed atomic.Bool
}

func (e *finalExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if e.flushed.Load() {
		return nil
	}
	return e.Exporter.Export(ctx, rm)
}

// New builds the MeterProvider that the customer and operational recorders
// write into, from opts over the OTEL_* environment over built-in defaults.
// It is the one place in kpikit that reads the environment.
//
// A malformed option or variable is an error that names it and its value;
// then nothing has been started. ctx bounds resource detection and the
// exporters' construction only.
func New(ctx context.Context, opts ...Option) (*Provider, error) {
	s, err := newSettings(os.Getenv, opts)
	if err != nil {
		return nil, err
	}
	if s.disabled {
		return &Provider{}, nil
	}
	res, err := newResource(ctx, s)
	if err != nil {
		return nil, err
	}

	p := &Provider{}
	var (
		readers []sdkmetric.Reader
		closers []func(context.Context) error // undo on failure
	)
	fail := func(err error) (*Provider, error) {
		for _, c := range closers {
			_ = c(ctx)
		}
		return nil, err
	}
	var ln net.Listener
	if s.promListen != "" {
		ln, err = net.Listen("tcp", s.promListen)
		if err != nil {
			return fail(fmt.Errorf("exporter: prometheus listener %q: %w", s.promListen, err))
		}
		closers = append(closers, func(context.Context) error { return ln.Close() })
	}
	var pushers []sdkmetric.Exporter
	for _, k := range s.exporters {
		switch k {
		case OTLP:
			exp, err := newOTLP(ctx, s)
			if err != nil {
				return fail(fmt.Errorf("exporter: otlp over %s: %w", s.protocol, err))
			}
			closers = append(closers, exp.Shutdown)
			pushers = append(pushers, exp)
		case Console:
			exp, err := stdoutmetric.New(
				stdoutmetric.WithWriter(s.console),
				stdoutmetric.WithTemporalitySelector(s.temporality.selector()),
			)
			if err != nil {
				return fail(fmt.Errorf("exporter: console: %w", err))
			}
			pushers = append(pushers, exp)
		case Prometheus:
			reg := prometheus.NewRegistry()
			exp, err := otelprom.New(otelprom.WithRegisterer(reg))
			if err != nil {
				return fail(fmt.Errorf("exporter: prometheus: %w", err))
			}
			readers = append(readers, exp)
			p.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
		}
	}
	// Periodic readers start a goroutine each: build them last, when
	// nothing else can fail.
	for _, exp := range pushers {
		fe := &finalExporter{Exporter: exp}
		p.pushers = append(p.pushers, fe)
		readers = append(readers, sdkmetric.NewPeriodicReader(fe,
			sdkmetric.WithInterval(s.interval), sdkmetric.WithTimeout(s.timeout)))
	}

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithView(s.views()...)}
	for _, r := range append(readers, s.readers...) {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	if s.cardinalityLimit != 0 {
		mpOpts = append(mpOpts, sdkmetric.WithCardinalityLimit(max(s.cardinalityLimit, 0)))
	}
	p.sdk = sdkmetric.NewMeterProvider(mpOpts...)

	if s.runtimeMetrics {
		if err := runtime.Start(runtime.WithMeterProvider(p.sdk)); err != nil {
			_ = p.sdk.Shutdown(ctx)
			if ln != nil {
				_ = ln.Close()
			}
			return nil, fmt.Errorf("exporter: runtime metrics: %w", err)
		}
	}
	if ln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", p.metrics)
		p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		p.srvDone = make(chan struct{})
		go func() {
			defer close(p.srvDone)
			if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				otel.Handle(fmt.Errorf("exporter: prometheus listener: %w", err))
			}
		}()
	}
	return p, nil
}

func newOTLP(ctx context.Context, s settings) (sdkmetric.Exporter, error) {
	if s.protocol == GRPC {
		var opts []otlpmetricgrpc.Option
		if s.endpoint != nil {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(s.endpoint.String()))
		}
		if s.temporality != "" {
			opts = append(opts, otlpmetricgrpc.WithTemporalitySelector(s.temporality.selector()))
		}
		return otlpmetricgrpc.New(ctx, opts...)
	}
	var opts []otlpmetrichttp.Option
	if s.endpoint != nil {
		u := *s.endpoint
		u.Path = u.JoinPath("v1/metrics").Path
		opts = append(opts, otlpmetrichttp.WithEndpointURL(u.String()))
	}
	if s.temporality != "" {
		opts = append(opts, otlpmetrichttp.WithTemporalitySelector(s.temporality.selector()))
	}
	return otlpmetrichttp.New(ctx, opts...)
}

// newResource layers, from weakest to strongest: detected host, process,
// SDK and service defaults (with a fresh service.instance.id and
// [WithDefaultServiceName]), then
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, then the options.
func newResource(ctx context.Context, s settings) (*resource.Resource, error) {
	var explicit []attribute.KeyValue
	explicit = append(explicit, s.attrs...)
	if s.serviceName != "" {
		explicit = append(explicit, attribute.String("service.name", s.serviceName))
	}
	if s.serviceVersion != "" {
		explicit = append(explicit, attribute.String("service.version", s.serviceVersion))
	}
	var defaults []attribute.KeyValue
	if s.defaultService != "" {
		defaults = append(defaults, attribute.String("service.name", s.defaultService))
	}
	res, err := resource.New(ctx,
		resource.WithService(), // service.instance.id and unknown_service:<exe>
		resource.WithAttributes(defaults...),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithFromEnv(),
		resource.WithAttributes(explicit...),
	)
	if err != nil {
		// The environment was validated: what is left is a detector that
		// could not read its part (a missing hostname, say). Keep the rest.
		otel.Handle(fmt.Errorf("exporter: resource: %w", err))
	}
	if res == nil {
		res = resource.Empty()
	}
	return res, nil
}

// MeterProvider returns the provider to pass to the recorders (and to
// otel.SetMeterProvider if the application wants a global one). When the
// SDK is disabled with OTEL_SDK_DISABLED=true it is a no-op provider.
func (p *Provider) MeterProvider() metric.MeterProvider {
	if p.sdk == nil {
		return noop.NewMeterProvider()
	}
	return p.sdk
}

// MetricsHandler returns the Prometheus scrape handler to mount on the
// application's mux (mux.Handle("GET /metrics", p.MetricsHandler())), or nil
// when the Prometheus exporter is not configured.
func (p *Provider) MetricsHandler() http.Handler {
	return p.metrics
}

// ForceFlush collects and exports now through every push exporter. It
// honours ctx's deadline.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}

// Shutdown collects and exports one last time, then stops every exporter,
// reader and listener; it honours ctx's deadline. A periodic export still
// under way is waited for, not canceled (the SDK's own Shutdown cancels
// it), so the last values are exported once and completely. It is safe to
// call more than once and from several goroutines: the calls after the
// first wait for it and return its result, or their own ctx's error if
// their deadline comes first. After Shutdown, recording through
// instruments of this provider is still safe and allocation-free, and
// nothing is exported.
func (p *Provider) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	done := p.done
	if done == nil {
		p.done = make(chan struct{})
	}
	p.mu.Unlock()
	if done != nil {
		select {
		case <-done:
			return p.err
		case <-ctx.Done():
			select {
			case <-done:
				return p.err
			default:
				return ctx.Err()
			}
		}
	}
	p.err = p.shutdown(ctx)
	close(p.done)
	return p.err
}

// shutdown does the work of the first Shutdown.
func (p *Provider) shutdown(ctx context.Context) error {
	var errs []error
	if p.sdk != nil {
		// The SDK's Shutdown cancels a periodic export under way;
		// ForceFlush waits for it, then exports the last values.
		// When it succeeded, the readers' final export is skipped.
		if err := p.sdk.ForceFlush(ctx); err != nil {
			errs = append(errs, err)
		} else {
			for _, e := range p.pushers {
				e.flushed.Store(true)
			}
		}
		errs = append(errs, p.sdk.Shutdown(ctx))
	}
	if p.srv != nil {
		if err := p.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = p.srv.Close()
		}
		<-p.srvDone
	}
	return errors.Join(errs...)
}
