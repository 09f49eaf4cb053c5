package operational_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/kpikit/kpikit/operational"
)

// Two Middlewares on one provider each report their own requests in
// flight.
func TestActiveRequestsOfSeveralMiddlewares(t *testing.T) {
	mp, r := newProvider()
	release := make(chan struct{})
	var started sync.WaitGroup
	block := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { started.Done(); <-release })
	var done sync.WaitGroup
	for range 2 {
		mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		h := mw.Handler(block)
		started.Add(1)
		done.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	}
	started.Wait()
	got := collect(t, r)[operational.MetricServerActiveRequests]
	close(release)
	done.Wait()
	if len(got) != 1 || got[0].Value != 2 {
		t.Fatalf("%s = %v, want one point of 2", operational.MetricServerActiveRequests, got)
	}
}
