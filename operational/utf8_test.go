package operational_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/operational"
)

// An attribute value that is not valid UTF-8 would fail every OTLP export
// that carries it (protobuf strings must be UTF-8): a name given at
// construction is an error, and a value met while recording is folded into
// _OTHER and counted, like a value over the length limit.
func TestInvalidUTF8(t *testing.T) {
	if _, err := operational.NewOperation("db.query\xff"); !errors.Is(err, operational.ErrInvalidOption) {
		t.Errorf("NewOperation(invalid UTF-8) = %v, want ErrInvalidOption", err)
	}
	if _, err := operational.NewErrorCounter("\xffjob"); !errors.Is(err, operational.ErrInvalidOption) {
		t.Errorf("NewErrorCounter(invalid UTF-8) = %v, want ErrInvalidOption", err)
	}

	t.Run("route", func(t *testing.T) {
		mw, r := newMiddleware(t, operational.WithRouteFunc(func(r *http.Request) string { return r.Header.Get("X-Route") }))
		h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for _, route := range []string{"/ok", "/bad\xff"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("X-Route", route)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		got := collect(t, r)
		var routes []string
		for _, p := range got[operational.MetricServerRequestDuration] {
			routes = append(routes, p.Attrs[strings.Index(p.Attrs, "http.route="):])
		}
		want := []string{"http.route=/ok,network.protocol.version=1.1,url.scheme=http", "http.route=_OTHER,network.protocol.version=1.1,url.scheme=http"}
		if diff := cmp.Diff(want, routes); diff != "" {
			t.Errorf("routes (-want +got):\n%s", diff)
		}
		wantDropped := []point{
			{"kpikit.component=operational.http.server,reason=affected_limit", 0},
			{"kpikit.component=operational.http.server,reason=invalid_status_code", 0},
			{"kpikit.component=operational.http.server,reason=route_limit", 1},
		}
		if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
			t.Errorf("dropped (-want +got):\n%s", diff)
		}
	})

	t.Run("error type", func(t *testing.T) {
		mp, r := newProvider()
		op, err := operational.NewOperation("db.query", operational.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		op.Record(context.Background(), time.Millisecond, namedErr("bad\xff"))
		got := collect(t, r)
		want := []point{{"error.type=_OTHER,operation.name=db.query", 1}}
		if diff := cmp.Diff(want, got["kpikit.operation.duration"]); diff != "" {
			t.Errorf("duration (-want +got):\n%s", diff)
		}
		wantDropped := []point{
			{"kpikit.component=operational.operation,reason=affected_limit", 0},
			{"kpikit.component=operational.operation,reason=error_type_limit", 1},
		}
		if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
			t.Errorf("dropped (-want +got):\n%s", diff)
		}
	})
}
