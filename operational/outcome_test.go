package operational_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

// told records what a linked recorder is told: "user:step:error.type".
type told struct {
	mu  sync.Mutex
	got []string
}

func (s *told) Failed(l outcome.Link, errorType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, l.User+":"+string(rune('0'+l.Step))+":"+errorType)
}

func (s *told) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.got
	s.got = nil
	return g
}

// affectedUsers returns kpikit.affected_users by attributes.
func affectedUsers(t *testing.T, r interface {
	Collect(context.Context, *metricdata.ResourceMetrics) error
}) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != operational.MetricAffectedUsers {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				out[enc(dp.Attributes)] = dp.Value
			}
		}
	}
	return out
}

func TestMiddlewareTellsLinkedRecordersOfFailures(t *testing.T) {
	mp, r := newProvider()
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithSLOs(
		slo.SLO{Name: "fast", Objective: 0.9, SLI: slo.HTTPLatency{Threshold: 30 * time.Millisecond, Routes: []string{"/slow"}}}))
	if err != nil {
		t.Fatal(err)
	}
	s := &told{}
	link := func(r *http.Request, step int) {
		o := outcome.From(r.Context())
		if o == nil {
			t.Fatal("no outcome in the handler's context")
		}
		o.Link(outcome.Link{Sink: s, User: r.URL.Query().Get("user"), Step: step})
	}
	late := make(chan *http.Request, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pay", func(w http.ResponseWriter, r *http.Request) {
		link(r, 2)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { link(r, 0) })
	mux.HandleFunc("GET /bad-request", func(w http.ResponseWriter, r *http.Request) {
		link(r, 0)
		w.WriteHeader(http.StatusBadRequest)
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /panic-linked", func(_ http.ResponseWriter, r *http.Request) { link(r, 1); panic("boom") })
	mux.HandleFunc("GET /slow", func(_ http.ResponseWriter, r *http.Request) {
		link(r, 3)
		time.Sleep(50 * time.Millisecond)
	})
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, r *http.Request) {
		late <- r // linked after the handler returned
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := mw.Handler(mux)
	serve := func(method, target string) {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, target, nil))
	}
	tests := []struct {
		method, target string
		want           []string
	}{
		{"POST", "/pay?user=ann", []string{"ann:2:503"}},
		{"POST", "/pay?user=bob", []string{"bob:2:503"}},
		{"POST", "/pay?user=ann", []string{"ann:2:503"}},
		{"GET", "/ok?user=cid", nil},
		{"GET", "/bad-request?user=cid", nil},
		{"GET", "/panic?user=dan", nil}, // no customer call: nobody to tell
		{"GET", "/panic-linked?user=eve", []string{"eve:1:panic"}},
		{"GET", "/slow?user=fay", []string{"fay:3:" + operational.ErrorTypeSlow}},
	}
	for _, tt := range tests {
		serve(tt.method, tt.target)
		if diff := cmp.Diff(tt.want, s.take()); diff != "" {
			t.Errorf("%s %s: told (-want +got):\n%s", tt.method, tt.target, diff)
		}
	}
	// A client that went away is not a failure, even when the handler
	// then wrote a 503 into the void: the request is recorded as 499.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/pay?user=gus", nil).WithContext(ctx))
	if got := s.take(); len(got) != 0 {
		t.Errorf("client gone: told %v", got)
	}
	serve("GET", "/late?user=hal")
	lr := <-late
	link(lr, 4)
	if got := s.take(); len(got) != 1 || got[0] != "hal:4:500" {
		t.Errorf("a link after the failed request ended: told %v", got)
	}

	day := time.Now().UTC().Format(time.DateOnly)
	want := map[string]int64{
		"error.type=503,http.route=/pay,period=" + day:                                2, // ann twice, bob
		"error.type=panic,http.route=/panic-linked,period=" + day:                     1,
		"error.type=" + operational.ErrorTypeSlow + ",http.route=/slow,period=" + day: 1,
		"error.type=500,http.route=/late,period=" + day:                               1, // hal, linked after the end
	}
	got := affectedUsers(t, r)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", operational.MetricAffectedUsers, diff)
	}
}

func TestOperationStartContext(t *testing.T) {
	mp, r := newProvider()
	op, err := operational.NewOperation("db.query", operational.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	s := &told{}
	run := func(parent context.Context, user string, fail error) {
		ctx, timer := op.StartContext(parent)
		outcome.From(ctx).Link(outcome.Link{Sink: s, User: user, Step: 1})
		timer.End(fail)
	}
	run(context.Background(), "ann", errors.New("boom"))
	run(context.Background(), "bob", nil)
	run(context.Background(), "cid", context.Canceled)
	run(context.Background(), "dan", context.DeadlineExceeded)
	if diff := cmp.Diff([]string{"ann:1:_OTHER", "dan:1:context_deadline_exceeded"}, s.take()); diff != "" {
		t.Errorf("told (-want +got):\n%s", diff)
	}
	// Inside a request, the request's outcome hears of the link too.
	var req outcome.Context
	req.Set(context.Background())
	run(&req, "eve", nil)
	req.Outcome.Finish(true, "500", nil)
	if diff := cmp.Diff([]string{"eve:1:500"}, s.take()); diff != "" {
		t.Errorf("told (-want +got):\n%s", diff)
	}
	got := affectedUsers(t, r)
	day := time.Now().UTC().Format(time.DateOnly)
	want := map[string]int64{
		"error.type=_OTHER,operation.name=db.query,period=" + day:                    1,
		"error.type=context_deadline_exceeded,operation.name=db.query,period=" + day: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", operational.MetricAffectedUsers, diff)
	}
	var nilOp *operational.Operation
	if ctx, timer := nilOp.StartContext(context.Background()); ctx != context.Background() {
		t.Error("a nil Operation changed the context")
	} else {
		timer.End(errors.New("boom"))
	}
}

// TestAffectedUsersOfSeveralRecorders checks that every Middleware and
// Operation of a provider reports its affected users, whichever was
// created first.
func TestAffectedUsersOfSeveralRecorders(t *testing.T) {
	mp, r := newProvider()
	op, err := operational.NewOperation("db.query", operational.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	var mws []*operational.Middleware
	for range 2 {
		mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		mws = append(mws, mw)
	}
	s := &told{}
	for i, mw := range mws {
		h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			outcome.From(r.Context()).Link(outcome.Link{Sink: s, User: "u" + strconv.Itoa(i)})
			w.WriteHeader(http.StatusInternalServerError + i)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	ctx, timer := op.StartContext(context.Background())
	outcome.From(ctx).Link(outcome.Link{Sink: s, User: "u2"})
	timer.End(errors.New("boom"))

	day := time.Now().UTC().Format(time.DateOnly)
	want := map[string]int64{
		"error.type=500,period=" + day:                            1,
		"error.type=501,period=" + day:                            1,
		"error.type=_OTHER,operation.name=db.query,period=" + day: 1,
	}
	if diff := cmp.Diff(want, affectedUsers(t, r)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", operational.MetricAffectedUsers, diff)
	}
}

func TestAffectedSetsAreBounded(t *testing.T) {
	mp, r := newProvider()
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithRouteFunc(func(r *http.Request) string { return r.URL.Path }))
	if err != nil {
		t.Fatal(err)
	}
	s := &told{}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcome.From(r.Context()).Link(outcome.Link{Sink: s, User: "u"})
		w.WriteHeader(http.StatusInternalServerError)
	}))
	const routes = 300
	for i := range routes {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/r"+strconv.Itoa(i), nil))
	}
	if got := len(affectedUsers(t, r)); got != 256 {
		t.Errorf("%d sets reported, want the 256 kept", got)
	}
	if got := sloPoints(t, r); got["kpikit.dropped kpikit.component=operational.http.server,reason=affected_limit"] != routes-256 {
		t.Errorf("affected_limit = %v, want %d", got["kpikit.dropped kpikit.component=operational.http.server,reason=affected_limit"], routes-256)
	}
	if n := len(s.take()); n != routes {
		t.Errorf("the recorder was told %d times, want %d: the bound is on the sets only", n, routes)
	}
}

func TestMiddlewareWithoutOutcome(t *testing.T) {
	mp, _ := newProvider()
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithoutOutcome())
	if err != nil {
		t.Fatal(err)
	}
	var inner *http.Request
	h := mw.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { inner = r }))
	outer := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(httptest.NewRecorder(), outer)
	if inner != outer || outcome.From(inner.Context()) != nil {
		t.Fatal("WithoutOutcome: the handler got another request, or an outcome")
	}
	if _, err := operational.NewTransport(nil, operational.WithoutOutcome()); err == nil {
		t.Fatal("WithoutOutcome applies to a Transport")
	}
}
