package exporter

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Kind names one exporter. The names are those of OTEL_METRICS_EXPORTER.
type Kind string

const (
	// OTLP pushes to an OpenTelemetry collector over gRPC or HTTP/protobuf.
	OTLP Kind = "otlp"
	// Prometheus serves the metrics for scraping; see [Provider.MetricsHandler].
	Prometheus Kind = "prometheus"
	// Console writes the metrics as JSON lines to standard output (or
	// [WithConsoleWriter]).
	Console Kind = "console"
	// None exports nothing. Readers given with [WithReader] still work.
	None Kind = "none"
)

// Protocol is the OTLP transport. The names are those of
// OTEL_EXPORTER_OTLP_PROTOCOL.
type Protocol string

const (
	// GRPC is OTLP over gRPC, by default to localhost:4317.
	GRPC Protocol = "grpc"
	// HTTPProtobuf is OTLP over HTTP with protobuf bodies, by default to
	// localhost:4318. It is the default, as the specification asks.
	HTTPProtobuf Protocol = "http/protobuf"
)

// Temporality is the aggregation temporality asked of push exporters. The
// names are those of OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE.
type Temporality string

const (
	// Cumulative reports every sum and histogram since the start (default).
	Cumulative Temporality = "cumulative"
	// Delta reports counters and histograms since the last export.
	Delta Temporality = "delta"
	// LowMemory reports synchronous counters and histograms as delta and
	// the rest as cumulative.
	LowMemory Temporality = "lowmemory"
)

func (t Temporality) selector() sdkmetric.TemporalitySelector {
	switch t {
	case Delta:
		return sdkmetric.DeltaTemporalitySelector
	case LowMemory:
		return sdkmetric.LowMemoryTemporalitySelector
	default:
		return sdkmetric.CumulativeTemporalitySelector
	}
}

// Option configures [New].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// config is what the options set. A zero field means "not set by an
// option": the environment, then the built-in default, decides.
type config struct {
	exporters        []Kind
	defaultExporters []Kind
	protocol         Protocol
	endpoint         string
	interval         time.Duration
	timeout          time.Duration
	temporality      Temporality
	serviceName      string
	defaultService   string
	serviceVersion   string
	attrs            []attribute.KeyValue
	exponential      bool
	cardinalityLimit int
	runtimeMetrics   bool
	console          io.Writer
	promListen       string
	readers          []sdkmetric.Reader
	views            []sdkmetric.View
}

// WithExporters chooses the exporters, overriding OTEL_METRICS_EXPORTER.
// Several kinds add several readers.
func WithExporters(kinds ...Kind) Option {
	return optionFunc(func(c config) config {
		c.exporters = slices.Clone(kinds)
		return c
	})
}

// WithDefaultExporters sets the exporters used when neither [WithExporters]
// nor OTEL_METRICS_EXPORTER chooses. The built-in default is [OTLP], as the
// specification says; a program that should print to the console until it
// is pointed at a collector passes [Console].
func WithDefaultExporters(kinds ...Kind) Option {
	return optionFunc(func(c config) config {
		c.defaultExporters = slices.Clone(kinds)
		return c
	})
}

// WithProtocol sets the OTLP transport, overriding
// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL and OTEL_EXPORTER_OTLP_PROTOCOL.
func WithProtocol(p Protocol) Option {
	return optionFunc(func(c config) config {
		c.protocol = p
		return c
	})
}

// WithEndpoint sets the OTLP collector's base URL, such as
// "http://collector:4318", overriding OTEL_EXPORTER_OTLP_ENDPOINT and
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT. As with OTEL_EXPORTER_OTLP_ENDPOINT,
// HTTP exports go to the path "v1/metrics" under it; an "http" scheme means
// no TLS.
func WithEndpoint(baseURL string) Option {
	return optionFunc(func(c config) config {
		c.endpoint = baseURL
		return c
	})
}

// WithInterval sets how often push exporters export, overriding
// OTEL_METRIC_EXPORT_INTERVAL (default 60s).
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.interval = d
		return c
	})
}

// WithTimeout bounds one export, overriding OTEL_METRIC_EXPORT_TIMEOUT
// (default 30s).
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.timeout = d
		return c
	})
}

// WithTemporality sets the temporality of the OTLP and console exporters,
// overriding OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE. Prometheus is
// always cumulative.
func WithTemporality(t Temporality) Option {
	return optionFunc(func(c config) config {
		c.temporality = t
		return c
	})
}

// WithServiceName sets the service.name resource attribute, overriding
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func WithServiceName(name string) Option {
	return optionFunc(func(c config) config {
		c.serviceName = name
		return c
	})
}

// WithDefaultServiceName sets the service.name used when neither
// [WithServiceName], OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names
// the service, in place of the SDK's "unknown_service:<executable>": the
// program's own name, which a deployment can still override.
func WithDefaultServiceName(name string) Option {
	return optionFunc(func(c config) config {
		c.defaultService = name
		return c
	})
}

// WithServiceVersion sets the service.version resource attribute, overriding
// OTEL_RESOURCE_ATTRIBUTES.
func WithServiceVersion(version string) Option {
	return optionFunc(func(c config) config {
		c.serviceVersion = version
		return c
	})
}

// WithAttributes adds resource attributes. They override the same keys from
// OTEL_RESOURCE_ATTRIBUTES and from detection.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return optionFunc(func(c config) config {
		c.attrs = append(slices.Clip(c.attrs), attrs...)
		return c
	})
}

// WithExponentialHistograms switches the latency histograms (instruments
// named "*.duration" with unit "s") from the semantic-convention buckets to
// base-2 exponential histograms (160 buckets, scale up to 20).
func WithExponentialHistograms() Option {
	return optionFunc(func(c config) config {
		c.exponential = true
		return c
	})
}

// WithCardinalityLimit caps the attribute sets kept per instrument in one
// collection (the SDK's default is 2000); sets over the cap are folded into
// one overflow point with otel.metric.overflow=true. Zero or less means no
// limit.
func WithCardinalityLimit(n int) Option {
	return optionFunc(func(c config) config {
		if n <= 0 {
			n = -1 // "set, unlimited": zero means "not set"
		}
		c.cardinalityLimit = n
		return c
	})
}

// WithRuntimeMetrics also reports the Go runtime metrics (go.memory.used,
// go.goroutine.count, go.gc.duration …) through the provider.
func WithRuntimeMetrics() Option {
	return optionFunc(func(c config) config {
		c.runtimeMetrics = true
		return c
	})
}

// WithConsoleWriter sets where the console exporter writes (default
// os.Stdout). A nil writer is ignored.
func WithConsoleWriter(w io.Writer) Option {
	return optionFunc(func(c config) config {
		if w != nil {
			c.console = w
		}
		return c
	})
}

// WithPrometheusListener makes the provider serve /metrics on its own
// listener at addr (such as "localhost:9464"), overriding
// OTEL_EXPORTER_PROMETHEUS_HOST and OTEL_EXPORTER_PROMETHEUS_PORT. Without it
// or those variables no listener is started: mount
// [Provider.MetricsHandler] on the application's mux instead. It implies
// the Prometheus exporter.
func WithPrometheusListener(addr string) Option {
	return optionFunc(func(c config) config {
		c.promListen = addr
		return c
	})
}

// WithReader adds a reader of the caller's own, such as an
// sdkmetric.ManualReader in tests, beside the configured exporters. The
// provider shuts it down with the rest. A nil reader is ignored.
func WithReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c config) config {
		if r != nil {
			c.readers = append(slices.Clip(c.readers), r)
		}
		return c
	})
}

// WithView adds views after the provider's own (the latency buckets).
func WithView(views ...sdkmetric.View) Option {
	return optionFunc(func(c config) config {
		c.views = append(slices.Clip(c.views), views...)
		return c
	})
}

// settings is the resolved configuration: options over environment over
// defaults, all validated.
type settings struct {
	disabled    bool
	exporters   []Kind
	protocol    Protocol
	endpoint    *url.URL // from WithEndpoint only; nil lets the OTLP exporter read its variables
	interval    time.Duration
	timeout     time.Duration
	temporality Temporality // "" lets the OTLP exporter read its variable
	promListen  string
	config
}

// newSettings applies opts over the environment (read through getenv) and
// validates the result. Every error names the option or variable and the
// value.
func newSettings(getenv func(string) string, opts []Option) (settings, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.console == nil {
		c.console = os.Stdout
	}
	s := settings{config: c}
	var errs []error

	if v := getenv("OTEL_SDK_DISABLED"); v != "" {
		b, err := parseBool(v)
		if err != nil {
			errs = append(errs, envErr("OTEL_SDK_DISABLED", v, err))
		}
		s.disabled = b
	}

	// Exporters.
	switch {
	case c.exporters != nil:
		kinds, err := checkKinds(c.exporters)
		if err != nil {
			errs = append(errs, fmt.Errorf("exporter: WithExporters: %w", err))
		}
		s.exporters = kinds
	case getenv("OTEL_METRICS_EXPORTER") != "":
		v := getenv("OTEL_METRICS_EXPORTER")
		var kinds []Kind
		for name := range strings.SplitSeq(v, ",") {
			kinds = append(kinds, Kind(strings.ToLower(strings.TrimSpace(name))))
		}
		kinds, err := checkKinds(kinds)
		if err != nil {
			errs = append(errs, envErr("OTEL_METRICS_EXPORTER", v, err))
		}
		s.exporters = kinds
	case c.defaultExporters != nil:
		kinds, err := checkKinds(c.defaultExporters)
		if err != nil {
			errs = append(errs, fmt.Errorf("exporter: WithDefaultExporters: %w", err))
		}
		s.exporters = kinds
	default:
		s.exporters = []Kind{OTLP}
	}

	// Prometheus listener.
	host, port := getenv("OTEL_EXPORTER_PROMETHEUS_HOST"), getenv("OTEL_EXPORTER_PROMETHEUS_PORT")
	switch {
	case c.promListen != "":
		s.promListen = c.promListen
	case host != "" || port != "":
		if host == "" {
			host = "localhost"
		}
		if port == "" {
			port = "9464"
		}
		if n, err := parseInt(port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, envErr("OTEL_EXPORTER_PROMETHEUS_PORT", port, errors.New("want a port number from 1 to 65535")))
		}
		s.promListen = host + ":" + port
	}
	if s.promListen != "" && !slices.Contains(s.exporters, Prometheus) {
		s.exporters = append(slices.DeleteFunc(s.exporters, func(k Kind) bool { return k == None }), Prometheus)
	}

	// OTLP transport.
	switch {
	case c.protocol != "":
		if err := checkProtocol(string(c.protocol)); err != nil {
			errs = append(errs, fmt.Errorf("exporter: WithProtocol(%q): %w", c.protocol, err))
		}
		s.protocol = c.protocol
	default:
		s.protocol = HTTPProtobuf
		for _, name := range []string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
			if v := getenv(name); v != "" {
				if err := checkProtocol(v); err != nil {
					errs = append(errs, envErr(name, v, err))
				}
				s.protocol = Protocol(v)
				break
			}
		}
	}
	if c.endpoint != "" {
		u, err := parseEndpoint(c.endpoint)
		if err != nil {
			errs = append(errs, fmt.Errorf("exporter: WithEndpoint(%q): %w", c.endpoint, err))
		}
		s.endpoint = u
	}
	if slices.Contains(s.exporters, OTLP) {
		errs = append(errs, checkOTLPEnv(getenv)...)
		// The exporter's own histogram aggregation would lose to the
		// latency view: the view follows the variable instead.
		if strings.EqualFold(getenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"), "base2_exponential_bucket_histogram") {
			s.exponential = true
		}
	}

	// Temporality.
	switch {
	case c.temporality != "":
		if err := checkTemporality(string(c.temporality)); err != nil {
			errs = append(errs, fmt.Errorf("exporter: WithTemporality(%q): %w", c.temporality, err))
		}
		s.temporality = c.temporality
	default:
		const name = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
		if v := getenv(name); v != "" {
			if err := checkTemporality(strings.ToLower(v)); err != nil {
				errs = append(errs, envErr(name, v, err))
			}
			s.temporality = Temporality(strings.ToLower(v))
		}
	}

	// Periodic reader.
	var err error
	if s.interval, err = duration(c.interval, "WithInterval", "OTEL_METRIC_EXPORT_INTERVAL", 60*time.Second, getenv); err != nil {
		errs = append(errs, err)
	}
	if s.timeout, err = duration(c.timeout, "WithTimeout", "OTEL_METRIC_EXPORT_TIMEOUT", 30*time.Second, getenv); err != nil {
		errs = append(errs, err)
	}

	// Resource.
	if v := getenv("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		if err := checkPairs(v); err != nil {
			errs = append(errs, envErr("OTEL_RESOURCE_ATTRIBUTES", v, err))
		}
	}
	for _, kv := range c.attrs {
		if !kv.Valid() {
			errs = append(errs, fmt.Errorf("exporter: WithAttributes: invalid attribute %q=%v", kv.Key, kv.Value.String()))
		}
	}
	return s, errors.Join(errs...)
}

func envErr(name, value string, err error) error {
	return fmt.Errorf("exporter: %s=%q: %w", name, value, err)
}

func checkKinds(kinds []Kind) ([]Kind, error) {
	var out []Kind
	for _, k := range kinds {
		switch k {
		case OTLP, Prometheus, Console:
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		case None:
		default:
			return nil, fmt.Errorf("unknown exporter %q (want otlp, prometheus, console or none)", string(k))
		}
	}
	if slices.Contains(kinds, None) && len(out) > 0 {
		return nil, errors.New(`"none" cannot be combined with other exporters`)
	}
	return out, nil
}

func checkProtocol(p string) error {
	switch Protocol(p) {
	case GRPC, HTTPProtobuf:
		return nil
	case "http/json":
		return errors.New(`protocol "http/json" is not supported by the Go OTLP exporters (want grpc or http/protobuf)`)
	}
	return fmt.Errorf("unknown protocol %q (want grpc or http/protobuf)", p)
}

func checkTemporality(t string) error {
	switch Temporality(t) {
	case Cumulative, Delta, LowMemory:
		return nil
	}
	return fmt.Errorf("unknown temporality %q (want cumulative, delta or lowmemory)", t)
}

// parseEndpoint accepts an absolute http or https URL with a host.
func parseEndpoint(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("want an http:// or https:// URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("missing host")
	}
	return u, nil
}

// checkOTLPEnv validates the OTEL_EXPORTER_OTLP_* variables that the OTLP
// exporters read themselves: they would log a malformed value and go on
// with a default, which hides a broken deployment.
func checkOTLPEnv(getenv func(string) string) []error {
	var errs []error
	for _, sig := range []string{"", "METRICS_"} {
		p := "OTEL_EXPORTER_OTLP_" + sig
		if v := getenv(p + "ENDPOINT"); v != "" {
			if _, err := parseEndpoint(v); err != nil {
				errs = append(errs, envErr(p+"ENDPOINT", v, err))
			}
		}
		if v := getenv(p + "HEADERS"); v != "" {
			if err := checkPairs(v); err != nil {
				errs = append(errs, envErr(p+"HEADERS", v, err))
			}
		}
		if v := getenv(p + "TIMEOUT"); v != "" {
			if n, err := parseInt(v); err != nil || n < 0 {
				errs = append(errs, envErr(p+"TIMEOUT", v, errors.New("want a non-negative integer of milliseconds")))
			}
		}
		if v := getenv(p + "COMPRESSION"); v != "" && v != "gzip" && v != "none" {
			errs = append(errs, envErr(p+"COMPRESSION", v, errors.New("want gzip or none")))
		}
		if v := getenv(p + "INSECURE"); v != "" {
			if _, err := parseBool(v); err != nil {
				errs = append(errs, envErr(p+"INSECURE", v, err))
			}
		}
		for _, f := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
			if v := getenv(p + f); v != "" {
				if _, err := os.Stat(v); err != nil {
					errs = append(errs, envErr(p+f, v, err))
				}
			}
		}
	}
	const agg = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
	if v := strings.ToLower(getenv(agg)); v != "" && v != "explicit_bucket_histogram" && v != "base2_exponential_bucket_histogram" {
		errs = append(errs, envErr(agg, getenv(agg), errors.New("want explicit_bucket_histogram or base2_exponential_bucket_histogram")))
	}
	return errs
}

// checkPairs validates a W3C-baggage-like list "k1=v1,k2=v2" as used by
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES.
func checkPairs(v string) error {
	for pair := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("malformed pair %q (want key=value)", pair)
		}
		if _, err := url.PathUnescape(strings.TrimSpace(val)); err != nil {
			return fmt.Errorf("malformed value in %q: %w", pair, err)
		}
	}
	return nil
}

// duration resolves an interval-like setting: the option if set, else the
// variable (integer milliseconds, > 0), else def.
func duration(opt time.Duration, optName, env string, def time.Duration, getenv func(string) string) (time.Duration, error) {
	if opt != 0 {
		if opt < 0 {
			return def, fmt.Errorf("exporter: %s(%v): want a positive duration", optName, opt)
		}
		return opt, nil
	}
	v := getenv(env)
	if v == "" {
		return def, nil
	}
	n, err := parseInt(v)
	if err != nil || n <= 0 {
		return def, envErr(env, v, errors.New("want a positive integer of milliseconds"))
	}
	return time.Duration(n) * time.Millisecond, nil
}

func parseInt(v string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("want true or false")
}
