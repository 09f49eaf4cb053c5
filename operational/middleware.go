package operational

import (
	"context"

	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/slo"
)

// Metric names and units of the server middleware, from the OpenTelemetry
// HTTP semantic conventions.
const (
	MetricServerRequestDuration  = "http.server.request.duration"
	MetricServerActiveRequests   = "http.server.active_requests"
	MetricServerRequestBodySize  = "http.server.request.body.size"
	MetricServerResponseBodySize = "http.server.response.body.size"
	MetricClientRequestDuration  = "http.client.request.duration"
)

// StatusClientClosedRequest is the status recorded for a request whose
// client went away before a response was sent (the code nginx uses). It is
// never sent to a client.
const StatusClientClosedRequest = 499

// DurationBuckets are the explicit bucket boundaries, in seconds, of the
// duration histograms, as the semantic conventions advise.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// SizeBuckets are the explicit bucket boundaries, in bytes, of the body size
// histograms: powers of four from 64 B to 1 GiB.
var SizeBuckets = []float64{0, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30}

// Selfobs component names and reasons.
const (
	componentServer      = "operational.http.server"
	reasonInvalidStatus  = "invalid_status_code"
	reasonRouteLimit     = "route_limit"
	componentClient      = "operational.http.client"
	reasonAddressLimit   = "server_address_limit"
	reasonErrorTypeLimit = "error_type_limit"
)

// Bits of the per-request enabled mask.
const (
	enDuration = 1 << iota
	enRequestSize
	enResponseSize
)

// Middleware records the OpenTelemetry HTTP server metrics of the handlers
// it wraps. Create it once with [NewMiddleware] and wrap any number of
// handlers with [Middleware.Handler]; it is safe for concurrent use.
type Middleware struct {
	duration     metric.Float64Histogram
	requestSize  metric.Int64Histogram
	responseSize metric.Int64Histogram

	filter    func(*http.Request) bool
	routeFunc func(*http.Request) string
	noOutcome bool
	base      []attribute.KeyValue // static attributes and server.address
	limit     int

	// Active requests are counted in atomics, not through the SDK on every
	// request, and observed at collection: the metric is the same
	// non-monotonic sum at a fraction of the cost.
	active     [len(methodNames)][2]activeCount
	activeOpts [len(methodNames)][2][]metric.ObserveOption

	routes     cowMap[string, *routeEntry]
	noRoute    *routeEntry
	otherRoute *routeEntry
	nsets      atomic.Int64

	invalidStatus selfobs.Reason
	routeLimit    selfobs.Reason

	sloSet
	slos []*sloMatch

	affected affected
}

// routeEntry holds the attribute sets of one route and the SLOs that
// select it.
type routeEntry struct {
	route string // "" records no http.route
	slos  []*sloMatch
	setCache
}

// NewMiddleware returns a Middleware that records into the MeterProvider of
// [WithMeterProvider] (default: the global one). Options with nonsense
// values make it return a nil Middleware and an error wrapping
// [ErrInvalidOption]. If the provider fails to create an instrument, the
// error is returned together with a Middleware that records the other
// instruments.
func NewMiddleware(opts ...Option) (*Middleware, error) {
	c, err := newConfig(kindMiddleware, opts)
	if err == nil {
		err = checkSLOs(c.slos, slo.Middleware, "slo.HTTPAvailability or slo.HTTPLatency")
	}
	if err != nil {
		return nil, err
	}
	meter := c.mp.Meter(ScopeName)
	m := &Middleware{
		filter:    c.filter,
		routeFunc: c.routeFunc,
		noOutcome: c.noOutcome,
		limit:     c.valueLimit,
	}
	m.base = append(m.base, c.attrs...)
	if c.serverAddress != "" {
		m.base = append(m.base, keyServerAddress.String(c.serverAddress))
	}
	var errs []error
	m.duration, err = meter.Float64Histogram(MetricServerRequestDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(durationBoundaries(c.slos)...))
	errs = append(errs, err)
	// Every Middleware of a provider reports the same instrument, and the
	// SDK keeps only the callbacks given when it was first created: each
	// Middleware registers its own.
	active, err := meter.Int64ObservableUpDownCounter(MetricServerActiveRequests,
		metric.WithUnit("{request}"),
		metric.WithDescription("Number of active HTTP server requests."))
	errs = append(errs, err)
	if err == nil {
		_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			m.observeActive(o, active)
			return nil
		}, active)
		errs = append(errs, err)
	}
	if !c.noBodySizes {
		m.requestSize, err = meter.Int64Histogram(MetricServerRequestBodySize,
			metric.WithUnit("By"),
			metric.WithDescription("Size of HTTP server request bodies."),
			metric.WithExplicitBucketBoundaries(SizeBuckets...))
		errs = append(errs, err)
		m.responseSize, err = meter.Int64Histogram(MetricServerResponseBodySize,
			metric.WithUnit("By"),
			metric.WithDescription("Size of HTTP server response bodies."),
			metric.WithExplicitBucketBoundaries(SizeBuckets...))
		errs = append(errs, err)
	}
	dropped, err := selfobs.New(meter, componentServer)
	errs = append(errs, err)
	m.duration = orNopFloat64Histogram(m.duration)
	m.requestSize, m.responseSize = orNopInt64Histogram(m.requestSize), orNopInt64Histogram(m.responseSize)
	if dropped != nil {
		m.invalidStatus = dropped.Reason(reasonInvalidStatus)
		m.routeLimit = dropped.Reason(reasonRouteLimit)
	}
	errs = append(errs, m.affected.init(meter, keyRoute, m.baseCopy(), dropped))

	for mi := range methodNames {
		for si := range 2 {
			kvs := append(m.baseCopy(), keyMethod.String(methodNames[mi]), keyScheme.String(schemeNames[si]))
			m.activeOpts[mi][si] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
		}
	}
	errs = append(errs, m.sloSet.init(meter, c.slos))
	m.slos = compileHTTP(m.trackers)
	m.noRoute = &routeEntry{slos: m.routeSLOs("")}
	m.otherRoute = &routeEntry{route: other, slos: m.routeSLOs(other)}
	return m, errors.Join(errs...)
}

// activeCount is the number of requests in flight of one method and
// scheme; used turns true at the first request, after which the count is
// reported even when it is back to zero.
type activeCount struct {
	n    atomic.Int64
	used atomic.Bool
}

func (m *Middleware) observeActive(o metric.Observer, inst metric.Int64ObservableUpDownCounter) {
	for mi := range m.active {
		for si := range m.active[mi] {
			if a := &m.active[mi][si]; a.used.Load() {
				o.ObserveInt64(inst, a.n.Load(), m.activeOpts[mi][si]...)
			}
		}
	}
}

func (m *Middleware) baseCopy() []attribute.KeyValue {
	return append(make([]attribute.KeyValue, 0, len(m.base)+7), m.base...)
}

// Handler wraps next so that every request it serves is recorded. A nil
// next is [http.DefaultServeMux], as for [http.Server]. Its method value has
// the usual middleware shape, func(http.Handler) http.Handler, for routers
// that take one (chi's Use, gorilla's Use).
//
// Wrap the router itself (the [http.ServeMux]), not the handlers it routes
// to, so that http.route is known: the route is read from
// [http.Request.Pattern] after next returns, and ServeMux sets it on the
// request it was given. A middleware between this one and the mux that
// replaces the request (r.WithContext) hides the pattern; use
// [WithRouteFunc] then.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if next == nil {
		next = http.DefaultServeMux
	}
	if m == nil {
		return next
	}
	return &handler{m: m, next: next}
}

type handler struct {
	m    *Middleware
	next http.Handler
}

func (m *Middleware) enabled(ctx context.Context) uint8 {
	var en uint8
	if m.duration.Enabled(ctx) {
		en |= enDuration
	}
	if m.requestSize.Enabled(ctx) {
		en |= enRequestSize
	}
	if m.responseSize.Enabled(ctx) {
		en |= enResponseSize
	}
	return en
}

// ServeHTTP serves r through the wrapped handler and records it once, when
// the handler returns or panics.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	if m.filter != nil && !m.filter(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	method := methodIndex(r.Method)
	var scheme uint32
	if r.TLS != nil {
		scheme = 1
	}
	active := &m.active[method][scheme]
	active.n.Add(1)
	if !active.used.Load() {
		active.used.Store(true)
	}
	en := m.enabled(ctx)
	// With nothing to record, the request is only counted as active,
	// unless its outcome is wanted: customer recorders, on a provider of
	// their own maybe, learn of its failure.
	if en == 0 && m.slos == nil && m.noOutcome {
		defer active.n.Add(-1)
		h.next.ServeHTTP(w, r)
		return
	}
	ww, s := m.wrap(ctx, w)
	// The handler gets a copy of r whose context holds the request's
	// outcome, for the customer recorders it calls: the server's own
	// request, its body included, is left as it was.
	in := r
	if !m.noOutcome {
		hr := new(handlerRequest)
		hr.oc.Set(ctx)
		hr.req = *r.WithContext(&hr.oc)
		in, s.hr = &hr.req, hr
	}
	var body *countingBody
	if in.ContentLength < 0 && en&enRequestSize != 0 && in.Body != nil && in.Body != http.NoBody {
		body = &countingBody{rc: in.Body}
		in.Body = body
	}
	start := time.Now()
	returned := false
	defer func() {
		var rec any
		if !returned {
			rec = recover()
		}
		elapsed := time.Since(start)
		active.n.Add(-1)
		status, errPanic := s.final(s.close(), rec, returned)
		reqSize := r.ContentLength
		if body != nil {
			reqSize = body.n.Load()
		}
		// What ServeMux and the handler set on the copy, the server and
		// the middlewares outside this one expect on their request: the
		// pattern, and a parsed multipart form, whose temporary files the
		// server removes.
		if in != r {
			if r.Pattern == "" {
				r.Pattern = in.Pattern
			}
			if r.MultipartForm == nil {
				r.MultipartForm = in.MultipartForm
			}
		}
		respSize := s.written.Load()
		if r.Method == http.MethodHead {
			// net/http accepts and discards what a handler writes in
			// answer to HEAD: no body was sent.
			respSize = 0
		}
		m.record(ctx, in, s.hr, en, method, scheme, status, errPanic, start, elapsed, reqSize, respSize)
		if rec != nil {
			panic(rec)
		}
	}()
	h.next.ServeHTTP(ww, in)
	returned = true
}

// record looks up the attribute set of the request and records it.
func (m *Middleware) record(ctx context.Context, r *http.Request, hr *handlerRequest, en uint8, method, scheme uint32, status int, errPanic bool, start time.Time, elapsed time.Duration, reqSize, respSize int64) {
	var e *routeEntry
	if m.routeFunc != nil {
		e = m.route(ctx, m.routeFunc(r), false)
	} else {
		e = m.route(ctx, r.Pattern, true)
	}
	errType := serverErrorType(status, errPanic)
	if e.slos != nil && countSLOs(e.slos, method, start.UnixNano()+int64(elapsed), errType != "", elapsed) {
		errType = ErrorTypeSlow // a success a latency SLO found too slow
	}
	if hr != nil {
		m.affected.finish(context.Background(), &hr.oc.Outcome, &hr.fail, e.route, errType, start)
	}
	proto := protoIndex(r.ProtoMajor, r.ProtoMinor)
	key := method | scheme<<4 | proto<<5 | uint32(status)<<8
	if errPanic {
		key |= 1 << 18
	}
	opts, ok := e.sets.load(key)
	if !ok {
		opts = e.add(key, &m.nsets, m.serverAttrs(e.route, method, scheme, proto, status, errPanic))
	}
	if en&enDuration != 0 {
		m.duration.Record(ctx, elapsed.Seconds(), opts...)
	}
	if en&enRequestSize != 0 && reqSize >= 0 {
		m.requestSize.Record(ctx, reqSize, opts...)
	}
	if en&enResponseSize != 0 {
		m.responseSize.Record(ctx, respSize, opts...)
	}
}

func (m *Middleware) serverAttrs(route string, method, scheme, proto uint32, status int, errPanic bool) []attribute.KeyValue {
	kvs := append(m.baseCopy(),
		keyMethod.String(methodNames[method]),
		keyScheme.String(schemeNames[scheme]),
		keyStatus.Int(status))
	if route != "" {
		kvs = append(kvs, keyRoute.String(route))
	}
	if proto != 0 {
		kvs = append(kvs, keyProtoVersion.String(protoNames[proto]))
	}
	if errType := serverErrorType(status, errPanic); errType != "" {
		kvs = append(kvs, keyErrorType.String(errType))
	}
	return kvs
}

// serverErrorType returns the error.type of a request that ended with
// status, or panicked: "panic", the code of a 5xx, or "" for a success. It
// does not allocate.
func serverErrorType(status int, errPanic bool) string {
	switch {
	case errPanic:
		return errPanicType
	case status >= 500:
		return serverErrorText(status)
	}
	return ""
}

// route returns the entry of a route pattern, adding it while under the
// value limit.
func (m *Middleware) route(ctx context.Context, pattern string, fromMux bool) *routeEntry {
	if pattern == "" {
		return m.noRoute
	}
	if e, ok := m.routes.load(pattern); ok {
		return e
	}
	if recordable(pattern) {
		e, ok := m.routes.loadOrCreate(pattern, m.limit, func() *routeEntry {
			route := pattern
			if fromMux {
				route = muxRoute(pattern)
			}
			route = strings.Clone(route)
			return &routeEntry{route: route, slos: m.routeSLOs(route)}
		})
		if ok {
			return e
		}
	}
	m.routeLimit.Add(ctx, 1)
	return m.otherRoute
}

// muxRoute turns a ServeMux pattern, "[METHOD ][HOST]/[PATH]", into the
// path template the semantic conventions want in http.route.
func muxRoute(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimLeft(pattern[i:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// countingBody counts the bytes a handler reads from a request body of
// unknown length.
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64 // read by the recording while a late reader may add
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// clientGone reports whether the request context was canceled: the client
// closed the connection or reset the stream.
func clientGone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}
