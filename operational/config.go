package operational

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/slo"
)

// ScopeName is the instrumentation scope of every instrument this package
// creates.
const ScopeName = "github.com/kpikit/kpikit/operational"

// DefaultValueLimit is the number of distinct http.route values a
// [Middleware], server.address values a [Transport], and error.type values
// an [Operation] or [ErrorCounter] records before folding further values into
// "_OTHER". Change it with [WithValueLimit].
const DefaultValueLimit = 1000

// maxValueLen is the longest route, server address or error type recorded
// as is; longer values fold into "_OTHER".
const maxValueLen = 256

// recordable reports whether s can be an attribute value as is: not longer
// than maxValueLen and valid UTF-8 (OTLP's protobuf strings must be, and
// one invalid value would fail every export that carries it).
func recordable(s string) bool { return len(s) <= maxValueLen && utf8.ValidString(s) }

// Errors returned by the constructors for options with nonsense values.
var (
	// ErrInvalidOption wraps every error about an option value.
	ErrInvalidOption = errors.New("operational: invalid option")
)

type config struct {
	mp            metric.MeterProvider
	filter        func(*http.Request) bool
	routeFunc     func(*http.Request) string
	attrs         []attribute.KeyValue
	serverAddress string
	valueLimit    int
	noBodySizes   bool
	noOutcome     bool
	slos          []slo.SLO
	errs          []error
}

// Option configures a [Middleware], [Transport], [Operation] or
// [ErrorCounter]. Each option documents which of them it applies to; the
// constructor of any other rejects it with an error wrapping
// [ErrInvalidOption] that names the option.
type Option interface {
	apply(config) config
	applies() (name string, to kind)
}

// kind is a set of the recorders an option applies to.
type kind uint8

const (
	kindMiddleware kind = 1 << iota
	kindTransport
	kindOperation
	kindErrorCounter
	kindAll = kindMiddleware | kindTransport | kindOperation | kindErrorCounter
)

func (k kind) String() string {
	switch k {
	case kindMiddleware:
		return "a Middleware"
	case kindTransport:
		return "a Transport"
	case kindOperation:
		return "an Operation"
	case kindErrorCounter:
		return "an ErrorCounter"
	}
	return "a recorder"
}

type option struct {
	name string
	to   kind
	fn   func(config) config
}

func (o option) apply(c config) config           { return o.fn(c) }
func (o option) applies() (name string, to kind) { return o.name, o.to }

func newOption(name string, to kind, fn func(config) config) Option {
	return option{name: name, to: to, fn: fn}
}

// WithMeterProvider sets the MeterProvider the instruments are created from.
// The default is the global provider (otel.GetMeterProvider) at construction
// time. A nil provider is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return newOption("WithMeterProvider", kindAll, func(c config) config {
		if mp != nil {
			c.mp = mp
		}
		return c
	})
}

// WithFilter sets a function that decides, per request, whether the request
// is recorded: requests for which keep returns false (health checks,
// readiness probes) are passed through untouched. It applies to
// [Middleware] and [Transport]. A nil function is ignored.
func WithFilter(keep func(*http.Request) bool) Option {
	return newOption("WithFilter", kindMiddleware|kindTransport, func(c config) config {
		if keep != nil {
			c.filter = keep
		}
		return c
	})
}

// WithRouteFunc sets the function that returns the route template of a
// request (e.g. "/users/{id}") for routers other than [http.ServeMux], such
// as chi or gorilla/mux. It is called after the inner handler returned, so a
// router that stores its match on the request or its context has done so.
// An empty result records no http.route. The result must be a template, never
// the raw path; distinct values are capped by [WithValueLimit]. It applies to
// [Middleware]. A nil function is ignored: the route then comes from
// [http.Request.Pattern].
func WithRouteFunc(route func(*http.Request) string) Option {
	return newOption("WithRouteFunc", kindMiddleware, func(c config) config {
		if route != nil {
			c.routeFunc = route
		}
		return c
	})
}

// WithAttributes adds static attributes (for example a deployment tier) to
// every measurement. Keep the set small and its values fixed: they are built
// into each cached attribute set once. Keys this package sets itself
// (http.request.method, http.route, error.type, …) are rejected. Calls
// accumulate. It applies to all recorders.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return newOption("WithAttributes", kindAll, func(c config) config {
		for _, kv := range attrs {
			switch {
			case !kv.Valid() || !utf8.ValidString(string(kv.Key)):
				c.errs = append(c.errs, fmt.Errorf("%w: attribute %q is invalid", ErrInvalidOption, kv.Key))
			case kv.Value.Type() == attribute.STRING && !utf8.ValidString(kv.Value.AsString()):
				c.errs = append(c.errs, fmt.Errorf("%w: attribute %q value %q is not valid UTF-8", ErrInvalidOption, kv.Key, kv.Value.AsString()))
			case reservedKeys[kv.Key]:
				c.errs = append(c.errs, fmt.Errorf("%w: attribute %q is set by the recorder", ErrInvalidOption, kv.Key))
			default:
				c.attrs = append(c.attrs, kv)
			}
		}
		return c
	})
}

// WithServerAddress records server.address with the given logical name of
// the server on every server-side measurement. The Host header is never
// used: it is chosen by the client and unbounded. It applies to
// [Middleware]; an empty host is an error.
func WithServerAddress(host string) Option {
	return newOption("WithServerAddress", kindMiddleware, func(c config) config {
		if host == "" || !recordable(host) {
			c.errs = append(c.errs, fmt.Errorf("%w: server address %q", ErrInvalidOption, host))
			return c
		}
		c.serverAddress = host
		return c
	})
}

// WithValueLimit caps the distinct values of the open-ended attributes:
// http.route for a [Middleware], server.address for a [Transport] and
// error.type for an [Operation] or [ErrorCounter]. Values past the cap, and
// values longer than 256 bytes or not valid UTF-8, are recorded as "_OTHER"
// and counted on the kpikit.dropped counter. The default is
// [DefaultValueLimit]; n < 1 is an error.
func WithValueLimit(n int) Option {
	return newOption("WithValueLimit", kindAll, func(c config) config {
		if n < 1 {
			c.errs = append(c.errs, fmt.Errorf("%w: value limit %d, want at least 1", ErrInvalidOption, n))
			return c
		}
		c.valueLimit = n
		return c
	})
}

// WithoutBodySizes leaves out the http.server.request.body.size and
// http.server.response.body.size histograms, which the semantic conventions
// still mark as in development. Each histogram costs one SDK measurement per
// request; without them a [Middleware] records one histogram instead of
// three. It applies to [Middleware].
func WithoutBodySizes() Option {
	return newOption("WithoutBodySizes", kindMiddleware, func(c config) config {
		c.noBodySizes = true
		return c
	})
}

// WithoutOutcome stops a [Middleware] from putting the request's outcome
// in the context of the request its handler gets: the handler then gets
// the server's own request, and customer recorders called within it cannot
// learn that the request failed (no impaired funnel attempts, no
// kpikit.affected_users). It saves a copy of the request per request,
// an allocation of 416 bytes per request and about a fifth of the
// middleware's cost (see the README's benchmarks), for
// services that record no customer KPIs. It applies to [Middleware].
func WithoutOutcome() Option {
	return newOption("WithoutOutcome", kindMiddleware, func(c config) config {
		c.noOutcome = true
		return c
	})
}

// newConfig applies opts for a recorder of kind k: an option that does
// not apply to k is an error naming it.
func newConfig(k kind, opts []Option) (config, error) {
	c := config{valueLimit: DefaultValueLimit}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if name, to := o.applies(); to&k == 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: %s does not apply to %s", ErrInvalidOption, name, k))
			continue
		}
		c = o.apply(c)
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	return c, errors.Join(c.errs...)
}
