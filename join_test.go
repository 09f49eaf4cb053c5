package kpikit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/operational"
)

// points returns every int64 sum, int64 gauge and float64 gauge point by
// "name{attributes}".
func points(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	key := func(name string, s attribute.Set) string {
		return name + "{" + s.Encoded(attribute.DefaultEncoder()) + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			}
		}
	}
	return out
}

// TestFailuresCost runs the two halves together over real HTTP: a shop
// whose /cart fails with a 500 for a known set of users, through the
// operational middleware, with a customer funnel and activity called with
// the request's context.
func TestFailuresCost(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	activity, err := customer.NewActivity("shop", customer.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer activity.Close()
	funnel, err := customer.NewFunnel("checkout", []string{"visit", "cart", "pay"},
		customer.WithMeterProvider(mp), customer.WithRevenueFrom(activity))
	if err != nil {
		t.Fatal(err)
	}
	defer funnel.Close()
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}

	failCart := map[string]bool{"u00": true, "u01": true, "u02": true, "u03": true, "u04": true, "u16": true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /visit", func(w http.ResponseWriter, r *http.Request) {
		funnel.Step(r.Context(), r.URL.Query().Get("user"), "visit")
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		funnel.Step(r.Context(), user, "cart")
		if failCart[user] {
			http.Error(w, "cart service down", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /pay", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		funnel.Step(r.Context(), user, "pay")
		activity.Purchase(r.Context(), user, time.Time{}, "USD", 2000) // $20
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway) // no customer call: nobody to count
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()
	call := func(method, path, user string) int {
		req, _ := http.NewRequest(method, srv.URL+path+"?user="+user, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	for i := range 20 {
		call("GET", "/visit", fmt.Sprintf("u%02d", i))
	}
	for i := range 15 {
		u := fmt.Sprintf("u%02d", i)
		if got, want := call("POST", "/cart", u), map[bool]int{true: 500, false: 200}[failCart[u]]; got != want {
			t.Fatalf("cart of %s: %d, want %d", u, got, want)
		}
	}
	// u16 fails at the cart five times at once: one impaired attempt.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { call("POST", "/cart", "u16") })
	}
	wg.Wait()
	call("GET", "/broken", "u17")
	for _, u := range []string{"u00", "u05", "u06", "u07", "u08", "u09", "u10", "u11", "u12", "u13"} {
		call("POST", "/pay", u) // u00, impaired, pays; 9 clean ones do
	}

	p := points(t, reader)
	day := time.Now().UTC().Format(time.DateOnly)
	// Attempts at visit 20, of which impaired 6 (u00–u04, u16); at pay 10,
	// of which impaired 1 (u00).
	const uFirst, uLast, iFirst, iLast = 20.0, 10.0, 6.0, 1.0
	lost := iFirst * ((uLast-iLast)/(uFirst-iFirst) - iLast/iFirst) // 6 × (9/14 − 1/6) = 2.857…
	arppu := 20.0                                                   // $200 over 10 paying users
	for k, want := range map[string]float64{
		"customer.funnel.impaired_users{error.type=500,funnel=checkout,funnel.step=cart,funnel.step.index=2}": 6,
		"customer.funnel.impaired_step_users{funnel=checkout,funnel.step=visit,funnel.step.index=1}":          iFirst,
		"customer.funnel.impaired_step_users{funnel=checkout,funnel.step=pay,funnel.step.index=3}":            iLast,
		"customer.funnel.lost_users{funnel=checkout}":                                                         lost,
		"customer.revenue.at_risk{currency=USD,funnel=checkout}":                                              lost * arppu,
		"kpikit.affected_users{error.type=500,http.route=/cart,period=" + day + "}":                           6,
	} {
		if got, ok := p[k]; !ok || diff(got, want) > 1e-9 {
			t.Errorf("%s = %v (reported %v), want %v", k, got, ok, want)
		}
	}
	if v, ok := p["kpikit.affected_users{error.type=502,http.route=/broken,period="+day+"}"]; ok {
		t.Errorf("a failure with no customer call counted %v users", v)
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}
