package operational_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kpikit/kpikit/internal/httpbench"
	"github.com/kpikit/kpikit/internal/outcome"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

type nopSink struct{}

func (nopSink) Failed(outcome.Link, string) {}

// Allocation budgets of the hot paths.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	mp, _ := newProvider()
	ctx := context.Background()
	op, _ := operational.NewOperation("db.query", operational.WithMeterProvider(mp))
	ec, _ := operational.NewErrorCounter("cache.refresh", operational.WithMeterProvider(mp))
	mw, _ := operational.NewMiddleware(operational.WithMeterProvider(mp))
	withSLOs, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithSLOs(benchSLOs...))
	if err != nil {
		t.Fatal(err)
	}
	opSLO, err := operational.NewOperation("db.slo", operational.WithMeterProvider(mp), operational.WithSLOs(
		slo.SLO{Name: "db", Objective: 0.99, SLI: slo.OperationLatency{Operation: "db.slo", Threshold: 100 * time.Millisecond}}))
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := operational.NewTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1}, nil
	}), operational.WithMeterProvider(mp))

	bare := httpbench.Mux()
	wrapped := mw.Handler(httpbench.Mux())
	wrappedSLOs := withSLOs.Handler(httpbench.Mux())
	w := httpbench.NewWriter()
	req := httptest.NewRequest("GET", "/users/42", nil)
	creq := httptest.NewRequest("GET", "http://api.internal/x", nil)
	errOther := errors.New("boom")

	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"Operation.Record", 0, func() { op.Record(ctx, time.Millisecond, nil) }},
		{"Operation.Record error", 0, func() { op.Record(ctx, time.Millisecond, errOther) }},
		{"Operation.Record canceled", 0, func() { op.Record(ctx, time.Millisecond, context.Canceled) }},
		{"Timer", 0, func() { op.Start(ctx).End(nil) }},
		{"Operation.Record with an SLO", 0, func() { opSLO.Record(ctx, time.Millisecond, nil) }},
		{"Operation.Record error with an SLO", 0, func() { opSLO.Record(ctx, time.Millisecond, errOther) }},
		{"Timer with an SLO", 0, func() { opSLO.Start(ctx).End(nil) }},
		{"ErrorCounter.Add", 0, func() { ec.Add(ctx, context.DeadlineExceeded) }},
		{"ErrorType", 0, func() { _ = operational.ErrorType(errOther) }},
		{"Transport.RoundTrip", 1, func() { _, _ = tr.RoundTrip(creq) }}, // the base's response
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn()
			if got := testing.AllocsPerRun(100, tt.fn); got > tt.max {
				t.Errorf("%s: %v allocs, want at most %v", tt.name, got, tt.max)
			}
		})
	}

	// The middleware's budget, above the bare handler: the per-request
	// wrapper of net/http's writer shapes (httpbench.Writer has the HTTP/1
	// one), or httpsnoop's wrapper with its hooks for others; and the
	// handler's copy of the request, holding the request's outcome, which
	// WithoutOutcome saves.
	noOutcome, err := operational.NewMiddleware(operational.WithMeterProvider(mp), operational.WithoutOutcome())
	if err != nil {
		t.Fatal(err)
	}
	wrappedNoOutcome := noOutcome.Handler(httpbench.Mux())
	t.Run("Middleware", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			w    http.ResponseWriter
			max  float64
		}{
			{"http1", w, 2},
			{"recorder", httptest.NewRecorder(), 2},
			{"other", &countingWriter{}, 12}, // httpsnoop: its state, ours, and a method value and two closures per hooked method (3)
		} {
			wrapped.ServeHTTP(tt.w, req)
			base := testing.AllocsPerRun(100, func() { bare.ServeHTTP(tt.w, req) })
			got := testing.AllocsPerRun(100, func() { wrapped.ServeHTTP(tt.w, req) })
			if over := got - base; over > tt.max {
				t.Errorf("middleware, %s writer: %v allocs over the bare handler's %v, want at most %v", tt.name, over, base, tt.max)
			}
			wrappedNoOutcome.ServeHTTP(tt.w, req)
			if over := testing.AllocsPerRun(100, func() { wrappedNoOutcome.ServeHTTP(tt.w, req) }) - base; over > tt.max-1 {
				t.Errorf("middleware without outcome, %s writer: %v allocs over the bare handler's %v, want at most %v", tt.name, over, base, tt.max-1)
			}
			// A failure with a user linked adds nothing.
			failing := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				outcome.From(r.Context()).Link(outcome.Link{Sink: nopSink{}, User: "u-42"})
				w.WriteHeader(http.StatusInternalServerError)
			}))
			failing.ServeHTTP(tt.w, req)
			bareFailing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
			if over := testing.AllocsPerRun(100, func() { failing.ServeHTTP(tt.w, req) }) - testing.AllocsPerRun(100, func() { bareFailing.ServeHTTP(tt.w, req) }); over > tt.max {
				t.Errorf("middleware, failing request, %s writer: %v allocs over the bare handler's, want at most %v", tt.name, over, tt.max)
			}
			// Four SLOs selecting the request add nothing.
			wrappedSLOs.ServeHTTP(tt.w, req)
			if withSLOs := testing.AllocsPerRun(100, func() { wrappedSLOs.ServeHTTP(tt.w, req) }); withSLOs != got {
				t.Errorf("middleware with four SLOs, %s writer: %v allocs, without SLOs %v", tt.name, withSLOs, got)
			}
		}
	})
}
