package operational

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/selfobs"
)

// Transport is an [http.RoundTripper] that records the
// http.client.request.duration histogram of the requests it sends through
// its base RoundTripper. The duration runs until the response headers
// arrived (RoundTrip returned); reading the body is not included.
//
// A transport error is recorded with error.type from [ErrorType]; a response
// with a 4xx or 5xx status is recorded with error.type set to the status
// code. server.address and server.port come from the request URL; distinct
// addresses are capped by [WithValueLimit].
//
// Create it with [NewTransport]; it is safe for concurrent use. A nil
// *Transport sends requests through [http.DefaultTransport] unrecorded.
type Transport struct {
	base     http.RoundTripper
	duration metric.Float64Histogram
	filter   func(*http.Request) bool
	attrs    []attribute.KeyValue
	limit    int

	hosts     cowMap[string, *hostEntry]
	otherHost *hostEntry
	named     cowMap[string, uint32] // error types named by errors: index
	nnamed    atomic.Uint32
	nsets     atomic.Int64

	addressLimit   selfobs.Reason
	errorTypeLimit selfobs.Reason
}

type hostEntry struct {
	address string
	port    int // 0: the scheme's default
	setCache
}

// NewTransport returns a Transport sending requests through base; a nil base
// is [http.DefaultTransport]. The options that apply are
// [WithMeterProvider], [WithFilter], [WithAttributes] and [WithValueLimit].
func NewTransport(base http.RoundTripper, opts ...Option) (*Transport, error) {
	c, err := newConfig(kindTransport, opts)
	if err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport
	}
	meter := c.mp.Meter(ScopeName)
	h, err := meter.Float64Histogram(MetricClientRequestDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	dropped, derr := selfobs.New(meter, componentClient)
	t := &Transport{
		base:      base,
		duration:  orNopFloat64Histogram(h),
		filter:    c.filter,
		attrs:     c.attrs,
		limit:     c.valueLimit,
		otherHost: &hostEntry{address: other},
	}
	if dropped != nil {
		t.addressLimit = dropped.Reason(reasonAddressLimit)
		t.errorTypeLimit = dropped.Reason(reasonErrorTypeLimit)
	}
	return t, errors.Join(err, derr)
}

// RoundTrip sends r through the base RoundTripper and records it.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	if r == nil || r.URL == nil || (t.filter != nil && !t.filter(r)) {
		return t.base.RoundTrip(r)
	}
	ctx := r.Context()
	if !t.duration.Enabled(ctx) {
		return t.base.RoundTrip(r)
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	elapsed := time.Since(start)

	method := methodIndex(r.Method)
	scheme := schemeIndex(r.URL.Scheme)
	var proto, status, errIdx uint32
	var named string
	switch {
	case err != nil:
		kind, name := classify(err)
		if kind == kindOther {
			// net/http reports a canceled or timed-out request context
			// with its own plain errors: ask the context.
			if cerr := ctx.Err(); cerr != nil {
				kind, name = classify(cerr)
			} else if d, ok := ctx.Deadline(); ok && !start.Add(elapsed).Before(d) {
				kind = kindDeadline // the deadline passed; its timer has not fired yet
			}
		}
		named = name
		errIdx = uint32(kind) + 1
		if kind == kindNamed {
			errIdx = t.namedIndex(ctx, named)
			if errIdx == 0 {
				errIdx, named = kindOther+1, ""
			}
		}
	case resp == nil:
		errIdx = kindOther + 1
	default:
		proto = protoIndex(resp.ProtoMajor, resp.ProtoMinor)
		if validStatus(resp.StatusCode) {
			status = uint32(resp.StatusCode)
		}
	}
	e := t.host(ctx, r.URL.Host)
	key := method | scheme<<4 | proto<<6 | status<<9 | errIdx<<19
	opts, ok := e.sets.load(key)
	if !ok {
		opts = e.add(key, &t.nsets, t.clientAttrs(e, method, scheme, proto, status, errIdx, named))
	}
	t.duration.Record(ctx, elapsed.Seconds(), opts...)
	return resp, err
}

// CloseIdleConnections closes the idle connections of the base
// RoundTripper, if it has such a method.
func (t *Transport) CloseIdleConnections() {
	base := http.DefaultTransport
	if t != nil {
		base = t.base
	}
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// namedIndex returns the key index of an error type named by an error, or 0
// past the value limit. Indexes start after the built-in kinds.
func (t *Transport) namedIndex(ctx context.Context, name string) uint32 {
	if i, ok := t.named.load(name); ok {
		return i
	}
	if recordable(name) {
		i, ok := t.named.loadOrCreate(strings.Clone(name), t.limit, func() uint32 {
			return kindNamed + 1 + t.nnamed.Add(1)
		})
		if ok && i < 1<<13 {
			return i
		}
	}
	t.errorTypeLimit.Add(ctx, 1)
	return 0
}

func (t *Transport) host(ctx context.Context, hostport string) *hostEntry {
	if e, ok := t.hosts.load(hostport); ok {
		return e
	}
	if recordable(hostport) {
		e, ok := t.hosts.loadOrCreate(hostport, t.limit, func() *hostEntry {
			host, port := splitHostPort(hostport)
			return &hostEntry{address: strings.Clone(host), port: port}
		})
		if ok {
			return e
		}
	}
	t.addressLimit.Add(ctx, 1)
	return t.otherHost
}

// splitHostPort splits a URL host into its hostname and port (0 when absent
// or invalid), as url.URL's Hostname and Port do.
func splitHostPort(hostport string) (string, int) {
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		p = 0
	}
	return host, p
}

func (t *Transport) clientAttrs(e *hostEntry, method, scheme, proto, status, errIdx uint32, named string) []attribute.KeyValue {
	kvs := append(make([]attribute.KeyValue, 0, len(t.attrs)+8), t.attrs...)
	kvs = append(kvs,
		keyMethod.String(methodNames[method]),
		keyScheme.String(schemeNames[scheme]))
	if e.address != "" {
		kvs = append(kvs, keyServerAddress.String(e.address))
	}
	port := e.port
	if port == 0 && e != t.otherHost {
		switch scheme {
		case 0:
			port = 80
		case 1:
			port = 443
		}
	}
	if port != 0 {
		kvs = append(kvs, keyServerPort.Int(port))
	}
	if status != 0 {
		kvs = append(kvs, keyStatus.Int(int(status)))
	}
	if proto != 0 {
		kvs = append(kvs, keyProtoVersion.String(protoNames[proto]))
	}
	switch {
	case errIdx > kindNamed:
		kvs = append(kvs, keyErrorType.String(named))
	case errIdx != 0:
		kvs = append(kvs, keyErrorType.String(kindNames[errIdx-1]))
	case status >= 400:
		kvs = append(kvs, keyErrorType.String(statusText(int(status))))
	}
	return kvs
}
