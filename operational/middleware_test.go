package operational_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/operational"
)

const base11 = "http.request.method=GET,http.response.status_code=%d,network.protocol.version=1.1,url.scheme=http"

func newMiddleware(t testing.TB, opts ...operational.Option) (*operational.Middleware, *sdkmetric.ManualReader) {
	t.Helper()
	mp, r := newProvider()
	mw, err := operational.NewMiddleware(append([]operational.Option{operational.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return mw, r
}

// minimalWriter is a ResponseWriter with no optional interface that, unlike
// net/http, accepts any status code.
type minimalWriter struct {
	h    http.Header
	code int
}

func (w *minimalWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *minimalWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *minimalWriter) WriteHeader(code int)        { w.code = code }

func TestMiddlewareStatus(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
		size    int64
	}{
		{"nothing written is 200", func(http.ResponseWriter, *http.Request) {}, fmt.Sprintf(base11, 200), 0},
		{"write only is 200", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }, fmt.Sprintf(base11, 200), 5},
		{"write string", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hey") }, fmt.Sprintf(base11, 200), 3},
		{"404", func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }, fmt.Sprintf(base11, 404), 19},
		{"503 is an error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }, "error.type=503," + fmt.Sprintf(base11, 503), 0},
		{"1xx is not final", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(103); w.WriteHeader(201) }, fmt.Sprintf(base11, 201), 0},
		{"first status wins", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(202); w.WriteHeader(500) }, fmt.Sprintf(base11, 202), 0},
		{"write then status", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("x")); w.WriteHeader(500) }, fmt.Sprintf(base11, 200), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, r := newMiddleware(t)
			mw.Handler(tt.handler).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
			got := collect(t, r)
			want := []point{{tt.want, 1}}
			if diff := cmp.Diff(want, got[operational.MetricServerRequestDuration]); diff != "" {
				t.Errorf("duration points (-want +got):\n%s", diff)
			}
			sizes := histSums(t, r, operational.MetricServerResponseBodySize)
			if sizes[tt.want] != tt.size {
				t.Errorf("response size = %d, want %d", sizes[tt.want], tt.size)
			}
			wantActive := []point{{"http.request.method=GET,url.scheme=http", 0}}
			if diff := cmp.Diff(wantActive, got[operational.MetricServerActiveRequests]); diff != "" {
				t.Errorf("active requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMiddlewareInstruments(t *testing.T) {
	mw, r := newMiddleware(t)
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, 100))
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", strings.NewReader("abc")))
	set := attribute.NewSet(
		attribute.String("http.request.method", "POST"),
		attribute.Int("http.response.status_code", 200),
		attribute.String("network.protocol.version", "1.1"),
		attribute.String("url.scheme", "http"))
	rm := collectRM(t, r)
	byName := map[string]metricdata.Metrics{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		byName[m.Name] = m
	}
	if rm.ScopeMetrics[0].Scope.Name != operational.ScopeName {
		t.Errorf("scope = %q", rm.ScopeMetrics[0].Scope.Name)
	}
	wantSize := func(name, desc string, v int64) metricdata.Metrics {
		return metricdata.Metrics{Name: name, Description: desc, Unit: "By", Data: metricdata.Histogram[int64]{
			Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.HistogramDataPoint[int64]{{
				Attributes: set, Count: 1, Sum: v, Bounds: operational.SizeBuckets,
				BucketCounts: bucketCounts(operational.SizeBuckets, float64(v)),
				Min:          metricdata.NewExtrema(v), Max: metricdata.NewExtrema(v),
			}},
		}}
	}
	metricdatatest.AssertEqual(t, wantSize(operational.MetricServerRequestBodySize, "Size of HTTP server request bodies.", 3),
		byName[operational.MetricServerRequestBodySize], metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, wantSize(operational.MetricServerResponseBodySize, "Size of HTTP server response bodies.", 100),
		byName[operational.MetricServerResponseBodySize], metricdatatest.IgnoreTimestamp())

	d := byName[operational.MetricServerRequestDuration]
	if d.Unit != "s" {
		t.Errorf("duration unit = %q", d.Unit)
	}
	dps := d.Data.(metricdata.Histogram[float64]).DataPoints
	if len(dps) != 1 || !cmp.Equal(dps[0].Bounds, operational.DurationBuckets) || !dps[0].Attributes.Equals(&set) {
		t.Errorf("duration points = %+v", dps)
	}
	a := byName[operational.MetricServerActiveRequests]
	if a.Unit != "{request}" {
		t.Errorf("active unit = %q", a.Unit)
	}
	if s := a.Data.(metricdata.Sum[int64]); s.IsMonotonic {
		t.Error("active requests is monotonic")
	}
}

func bucketCounts(bounds []float64, v float64) []uint64 {
	c := make([]uint64, len(bounds)+1)
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	c[i] = 1
	return c
}

func TestMiddlewareInvalidStatus(t *testing.T) {
	for _, code := range []int{0, 99, 1000, -1} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			mw, r := newMiddleware(t)
			w := &minimalWriter{}
			mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(code)
			})).ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
			if w.code != code {
				t.Errorf("writer got %d, want the handler's %d passed through", w.code, code)
			}
			got := collect(t, r)
			want := []point{{"error.type=500," + fmt.Sprintf(base11, 500), 1}}
			if diff := cmp.Diff(want, got[operational.MetricServerRequestDuration]); diff != "" {
				t.Errorf("duration (-want +got):\n%s", diff)
			}
			wantDropped := []point{
				{"kpikit.component=operational.http.server,reason=affected_limit", 0},
				{"kpikit.component=operational.http.server,reason=invalid_status_code", 1},
				{"kpikit.component=operational.http.server,reason=route_limit", 0},
			}
			if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
				t.Errorf("dropped (-want +got):\n%s", diff)
			}
		})
	}
}

// net/http panics on an invalid status: the request is then a panic.
func TestMiddlewareInvalidStatusNetHTTP(t *testing.T) {
	mw, r := newMiddleware(t)
	func() {
		defer func() { _ = recover() }()
		mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(1000)
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}()
	got := collect(t, r)
	want := []point{{"error.type=panic," + fmt.Sprintf(base11, 500), 1}}
	if diff := cmp.Diff(want, got[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

func TestMiddlewarePanic(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"panic", "boom", "error.type=panic," + fmt.Sprintf(base11, 500)},
		{"panic error", errors.New("boom"), "error.type=panic," + fmt.Sprintf(base11, 500)},
		{"abort handler", http.ErrAbortHandler, "error.type=500," + fmt.Sprintf(base11, 500)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, r := newMiddleware(t)
			var got any
			func() {
				defer func() { got = recover() }()
				mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
					panic(tt.value)
				})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
			}()
			if got != tt.value {
				t.Errorf("recovered %v, want the handler's panic %v to continue", got, tt.value)
			}
			pts := collect(t, r)
			if diff := cmp.Diff([]point{{tt.want, 1}}, pts[operational.MetricServerRequestDuration]); diff != "" {
				t.Errorf("duration (-want +got):\n%s", diff)
			}
			wantActive := []point{{"http.request.method=GET,url.scheme=http", 0}}
			if diff := cmp.Diff(wantActive, pts[operational.MetricServerActiveRequests]); diff != "" {
				t.Errorf("active (-want +got):\n%s", diff)
			}
		})
	}
}

// Abort after a status was sent keeps that status.
func TestMiddlewareAbortAfterStatus(t *testing.T) {
	mw, r := newMiddleware(t)
	func() {
		defer func() { _ = recover() }()
		mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("partial"))
			panic(http.ErrAbortHandler)
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}()
	if diff := cmp.Diff([]point{{fmt.Sprintf(base11, 200), 1}}, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

func TestMiddlewareMethodsAndProtocols(t *testing.T) {
	tests := []struct {
		method, proto string
		want          string
	}{
		{"GET", "HTTP/1.1", "http.request.method=GET,http.response.status_code=200,network.protocol.version=1.1,url.scheme=http"},
		{"PATCH", "HTTP/1.0", "http.request.method=PATCH,http.response.status_code=200,network.protocol.version=1.0,url.scheme=http"},
		{"get", "HTTP/2.0", "http.request.method=_OTHER,http.response.status_code=200,network.protocol.version=2,url.scheme=http"},
		{"PROPFIND", "HTTP/1.1", "http.request.method=_OTHER,http.response.status_code=200,network.protocol.version=1.1,url.scheme=http"},
		{strings.Repeat("X", 10000), "HTTP/1.1", "http.request.method=_OTHER,http.response.status_code=200,network.protocol.version=1.1,url.scheme=http"},
		{"GET", "HTTP/1.7", "http.request.method=GET,http.response.status_code=200,url.scheme=http"},
	}
	for _, tt := range tests {
		t.Run(tt.method[:min(len(tt.method), 10)]+" "+tt.proto, func(t *testing.T) {
			mw, r := newMiddleware(t)
			req := httptest.NewRequest("GET", "/x", nil)
			req.Method = tt.method
			req.Proto = tt.proto
			req.ProtoMajor, req.ProtoMinor, _ = http.ParseHTTPVersion(tt.proto)
			mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), req)
			if diff := cmp.Diff([]point{{tt.want, 1}}, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
				t.Errorf("duration (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMiddlewareTLSScheme(t *testing.T) {
	mw, r := newMiddleware(t)
	srv := httptest.NewTLSServer(mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	srv.Close()
	want := []point{{"http.request.method=GET,http.response.status_code=200,network.protocol.version=1.1,url.scheme=https", 1}}
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

// The route comes from the pattern ServeMux sets on the request the
// middleware passed it: a copy of the server's whose context holds the
// request's outcome; the pattern is set on the server's request too, for
// the middlewares outside.
func TestMiddlewareRouteFromServeMux(t *testing.T) {
	mw, r := newMiddleware(t)
	mux := http.NewServeMux()
	var inner *http.Request
	mux.HandleFunc("GET /users/{id}", func(_ http.ResponseWriter, r *http.Request) { inner = r })
	mux.HandleFunc("POST example.com/items/{id}/", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/plain", func(http.ResponseWriter, *http.Request) {})
	var outer *http.Request
	h := mw.Handler(mux)
	capture := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { outer = r; h.ServeHTTP(w, r) })

	capture.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/42", nil))
	if inner == nil || inner.Pattern != "GET /users/{id}" || outer.Pattern != inner.Pattern {
		t.Fatalf("pattern %q inside, %q outside", inner.Pattern, outer.Pattern)
	}
	if outcome.From(inner.Context()) == nil || outcome.From(outer.Context()) != nil {
		t.Fatal("the handler's request has no outcome, or the server's has one")
	}
	capture.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/43", nil))
	capture.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "http://example.com/items/7/x", nil))
	capture.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/plain", nil))
	capture.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nothing/here", nil))

	want := []point{
		{"http.request.method=GET,http.response.status_code=200,http.route=/plain,network.protocol.version=1.1,url.scheme=http", 1},
		{"http.request.method=GET,http.response.status_code=200,http.route=/users/{id},network.protocol.version=1.1,url.scheme=http", 2},
		{"http.request.method=GET,http.response.status_code=404,network.protocol.version=1.1,url.scheme=http", 1},
		{"http.request.method=POST,http.response.status_code=200,http.route=/items/{id}/,network.protocol.version=1.1,url.scheme=http", 1},
	}
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

// A middleware between this one and the mux that replaces the request hides
// the pattern: no route is recorded (documented; WithRouteFunc is the fix).
func TestMiddlewareRouteHiddenByWithContext(t *testing.T) {
	mw, r := newMiddleware(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(http.ResponseWriter, *http.Request) {})
	type key struct{}
	replacing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, 1)))
	})
	mw.Handler(replacing).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/1", nil))
	want := []point{{fmt.Sprintf(base11, 200), 1}}
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

func TestMiddlewareRouteFuncAndLimit(t *testing.T) {
	mw, r := newMiddleware(t,
		operational.WithRouteFunc(func(r *http.Request) string { return r.URL.Path }),
		operational.WithValueLimit(2))
	h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, p := range []string{"/a", "/b", "/a", "/c", "/d", "/" + strings.Repeat("x", 300)} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	got := collect(t, r)
	want := []point{
		{"http.request.method=GET,http.response.status_code=200,http.route=/a,network.protocol.version=1.1,url.scheme=http", 2},
		{"http.request.method=GET,http.response.status_code=200,http.route=/b,network.protocol.version=1.1,url.scheme=http", 1},
		{"http.request.method=GET,http.response.status_code=200,http.route=_OTHER,network.protocol.version=1.1,url.scheme=http", 3},
	}
	if diff := cmp.Diff(want, got[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
	wantDropped := []point{
		{"kpikit.component=operational.http.server,reason=affected_limit", 0},
		{"kpikit.component=operational.http.server,reason=invalid_status_code", 0},
		{"kpikit.component=operational.http.server,reason=route_limit", 3},
	}
	if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}

func TestMiddlewareFilterAttributesServerAddress(t *testing.T) {
	mw, r := newMiddleware(t,
		operational.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }),
		operational.WithAttributes(attribute.String("tier", "gold")),
		operational.WithServerAddress("api.example.com"))
	called := 0
	h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called++ }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	if called != 2 {
		t.Errorf("handler called %d times, want 2", called)
	}
	got := collect(t, r)
	want := []point{{"http.request.method=GET,http.response.status_code=200,network.protocol.version=1.1,server.address=api.example.com,tier=gold,url.scheme=http", 1}}
	if diff := cmp.Diff(want, got[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
	wantActive := []point{{"http.request.method=GET,server.address=api.example.com,tier=gold,url.scheme=http", 0}}
	if diff := cmp.Diff(wantActive, got[operational.MetricServerActiveRequests]); diff != "" {
		t.Errorf("active (-want +got):\n%s", diff)
	}
}

func TestMiddlewareRequestBodySize(t *testing.T) {
	tests := []struct {
		name string
		body io.Reader
		cl   int64
		want int64
	}{
		{"known length", strings.NewReader("12345"), 5, 5},
		{"unknown length counted as read", strings.NewReader("1234567"), -1, 7},
		{"no body", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, r := newMiddleware(t)
			req := httptest.NewRequest("POST", "/x", tt.body)
			req.ContentLength = tt.cl
			mw.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			})).ServeHTTP(httptest.NewRecorder(), req)
			sums := histSums(t, r, operational.MetricServerRequestBodySize)
			if len(sums) != 1 {
				t.Fatalf("points = %v", sums)
			}
			for _, v := range sums {
				if v != tt.want {
					t.Errorf("request size = %d, want %d", v, tt.want)
				}
			}
		})
	}
}

func TestMiddlewareDisabled(t *testing.T) {
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418) })).
		ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 418 {
		t.Errorf("code = %d", w.Code)
	}
	// With no provider option, the global (no-op by default) provider is used.
	if _, err := operational.NewMiddleware(); err != nil {
		t.Fatal(err)
	}
}

func TestMiddlewareNil(t *testing.T) {
	mw, r := newMiddleware(t)
	w := httptest.NewRecorder()
	mw.Handler(nil).ServeHTTP(w, httptest.NewRequest("GET", "/kpikit-test-unregistered", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("nil handler (DefaultServeMux) answered %d, want 404", w.Code)
	}
	if len(collect(t, r)[operational.MetricServerRequestDuration]) != 1 {
		t.Error("request through nil handler not recorded")
	}
	var nilMW *operational.Middleware
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	w = httptest.NewRecorder()
	nilMW.Handler(ok).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 204 {
		t.Errorf("nil middleware answered %d, want 204", w.Code)
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opt  operational.Option
	}{
		{"zero value limit", operational.WithValueLimit(0)},
		{"negative value limit", operational.WithValueLimit(-5)},
		{"reserved attribute", operational.WithAttributes(attribute.String("http.route", "/x"))},
		{"invalid attribute", operational.WithAttributes(attribute.KeyValue{})},
		{"empty server address", operational.WithServerAddress("")},
		{"huge server address", operational.WithServerAddress(strings.Repeat("a", 300))},
		{"server address not UTF-8", operational.WithServerAddress("api\xff")},
		{"attribute value not UTF-8", operational.WithAttributes(attribute.String("tier", "web\xff"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := operational.NewMiddleware(tt.opt)
			if !errors.Is(err, operational.ErrInvalidOption) || mw != nil {
				t.Errorf("NewMiddleware = %v, %v; want nil, ErrInvalidOption", mw, err)
			}
			tr, err := operational.NewTransport(nil, tt.opt)
			if !errors.Is(err, operational.ErrInvalidOption) || tr != nil {
				t.Errorf("NewTransport = %v, %v; want nil, ErrInvalidOption", tr, err)
			}
		})
	}
	// Options of another recorder are rejected, naming the option.
	wrongKind := []struct {
		name string
		err  error
		want string
	}{
		{"route func on a Transport", second(operational.NewTransport(nil, operational.WithRouteFunc(func(*http.Request) string { return "" }))),
			"WithRouteFunc does not apply to a Transport"},
		{"server address on a Transport", second(operational.NewTransport(nil, operational.WithServerAddress("api"))),
			"WithServerAddress does not apply to a Transport"},
		{"body sizes on an Operation", second(operational.NewOperation("db.query", operational.WithoutBodySizes())),
			"WithoutBodySizes does not apply to an Operation"},
		{"filter on an ErrorCounter", second(operational.NewErrorCounter("job", operational.WithFilter(func(*http.Request) bool { return true }))),
			"WithFilter does not apply to an ErrorCounter"},
		{"filter on an Operation", second(operational.NewOperation("db.query", operational.WithFilter(func(*http.Request) bool { return true }))),
			"WithFilter does not apply to an Operation"},
	}
	for _, tt := range wrongKind {
		if !errors.Is(tt.err, operational.ErrInvalidOption) || !strings.Contains(fmt.Sprint(tt.err), tt.want) {
			t.Errorf("%s: error %v, want ErrInvalidOption saying %q", tt.name, tt.err, tt.want)
		}
	}
	// Options that apply to every recorder are accepted by each.
	for _, opt := range []operational.Option{operational.WithValueLimit(5), operational.WithAttributes(attribute.String("tier", "web"))} {
		if _, err := operational.NewOperation("db.query", opt); err != nil {
			t.Errorf("NewOperation: %v", err)
		}
		if _, err := operational.NewErrorCounter("job", opt); err != nil {
			t.Errorf("NewErrorCounter: %v", err)
		}
	}

	// Nil options and nil values are ignored.
	if _, err := operational.NewMiddleware(nil, operational.WithMeterProvider(nil),
		operational.WithFilter(nil), operational.WithRouteFunc(nil)); err != nil {
		t.Errorf("nil options: %v", err)
	}
}

// serve runs h behind the middleware on a real server; done is closed once
// the middleware recorded each request.
func serve(t *testing.T, mw *operational.Middleware, h http.Handler) (srv *httptest.Server, done chan struct{}) {
	t.Helper()
	done = make(chan struct{}, 16)
	wrapped := mw.Handler(h)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		wrapped.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, done
}

func TestMiddlewareClientGone(t *testing.T) {
	mw, r := newMiddleware(t)
	started := make(chan struct{})
	srv, done := serve(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		http.Error(w, "gave up", http.StatusInternalServerError)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	go func() { <-started; cancel() }()
	if _, err := srv.Client().Do(req); err == nil {
		t.Fatal("request succeeded")
	}
	<-done
	want := []point{{fmt.Sprintf(base11, 499), 1}}
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

func TestMiddlewareServerSentEvents(t *testing.T) {
	mw, r := newMiddleware(t)
	next := make(chan struct{})
	srv, done := serve(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("wrapped writer is not a Flusher")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 3 {
			_, _ = fmt.Fprintf(w, "data: %d\n\n", i)
			if i == 0 {
				f.Flush()
			} else if err := rc.Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
			<-next // the client has read the event: flushing worked
		}
	}))
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{}
	}
	<-done
	sizes := histSums(t, r, operational.MetricServerResponseBodySize)
	if got := sizes[fmt.Sprintf(base11, 200)]; got != int64(3*len("data: 0\n\n")) {
		t.Errorf("response size = %d (%v)", got, sizes)
	}
}

func TestMiddlewareReaderFromAndController(t *testing.T) {
	mw, r := newMiddleware(t)
	const body = "0123456789abcdef"
	srv, done := serve(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("wrapped writer is not an io.ReaderFrom")
		}
		if _, ok := w.(http.Hijacker); !ok {
			t.Error("wrapped writer is not an http.Hijacker")
		}
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader(body))
	}))
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != body {
		t.Errorf("body = %q", b)
	}
	<-done
	if got := histSums(t, r, operational.MetricServerResponseBodySize)[fmt.Sprintf(base11, 202)]; got != int64(len(body)) {
		t.Errorf("response size = %d, want %d", got, len(body))
	}
}

// A writer without optional interfaces stays without them.
func TestMiddlewareKeepsInterfaceSet(t *testing.T) {
	mw, _ := newMiddleware(t)
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if _, ok := w.(http.Flusher); ok {
			t.Error("gained Flusher")
		}
		if _, ok := w.(http.Hijacker); ok {
			t.Error("gained Hijacker")
		}
		if _, ok := w.(io.ReaderFrom); ok {
			t.Error("gained ReaderFrom")
		}
	})).ServeHTTP(&minimalWriter{}, httptest.NewRequest("GET", "/", nil))
}

func TestMiddlewareConcurrent(t *testing.T) {
	mw, r := newMiddleware(t)
	mux := http.NewServeMux()
	for i := range 8 {
		mux.HandleFunc(fmt.Sprintf("GET /r%d/{id}", i), func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200 + i)
		})
	}
	h := mw.Handler(mux)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/r%d/%d", (g+i)%8, i), nil))
			}
		}()
	}
	wg.Wait()
	var total int64
	pts := collect(t, r)[operational.MetricServerRequestDuration]
	for _, p := range pts {
		total += p.Value
	}
	if total != 1600 || len(pts) != 8 {
		t.Errorf("total = %d over %d points, want 1600 over 8", total, len(pts))
	}
}

func TestMiddlewareActiveDuringRequest(t *testing.T) {
	mw, r := newMiddleware(t)
	var during map[string][]point
	h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		during = collect(t, r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
	want := []point{{"http.request.method=POST,url.scheme=http", 1}}
	if diff := cmp.Diff(want, during[operational.MetricServerActiveRequests]); diff != "" {
		t.Errorf("active while serving (-want +got):\n%s", diff)
	}
	want = []point{{"http.request.method=POST,url.scheme=http", 0}}
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricServerActiveRequests]); diff != "" {
		t.Errorf("active after serving (-want +got):\n%s", diff)
	}
}

func TestMiddlewareWithoutBodySizes(t *testing.T) {
	mw, r := newMiddleware(t, operational.WithoutBodySizes())
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello"))
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", strings.NewReader("abc")))
	got := collect(t, r)
	for _, name := range []string{operational.MetricServerRequestBodySize, operational.MetricServerResponseBodySize} {
		if _, ok := got[name]; ok {
			t.Errorf("%s recorded with WithoutBodySizes", name)
		}
	}
	if len(got[operational.MetricServerRequestDuration]) != 1 || len(got[operational.MetricServerActiveRequests]) != 1 {
		t.Errorf("duration or active requests missing: %v", got)
	}
}

// second returns the error of a constructor's results.
func second[T any](_ T, err error) error { return err }
