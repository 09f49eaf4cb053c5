package operational_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/operational"
)

// printMetrics prints each metric's data points with their counts (for
// histograms) or values, without timestamps or durations, so the output is
// deterministic.
func printMetrics(reader *sdkmetric.ManualReader, names ...string) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !want[m.Name] {
				continue
			}
			var lines []string
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %s count=%d", enc(dp.Attributes), dp.Count))
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %s count=%d sum=%d", enc(dp.Attributes), dp.Count, dp.Sum))
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %s value=%d", enc(dp.Attributes), dp.Value))
				}
			}
			sort.Strings(lines)
			fmt.Printf("%s (%s)\n", m.Name, m.Unit)
			for _, l := range lines {
				fmt.Println(l)
			}
		}
	}
}

func ExampleNewMiddleware() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "0" {
			http.Error(w, "no such user", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, "ok")
	})
	handler := mw.Handler(mux)

	for _, path := range []string{"/users/1", "/users/2", "/users/0"} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	printMetrics(reader, operational.MetricServerRequestDuration, operational.MetricServerResponseBodySize)
	// Output:
	// http.server.request.duration (s)
	//   http.request.method=GET,http.response.status_code=200,http.route=/users/{id},network.protocol.version=1.1,url.scheme=http count=2
	//   http.request.method=GET,http.response.status_code=404,http.route=/users/{id},network.protocol.version=1.1,url.scheme=http count=1
	// http.server.response.body.size (By)
	//   http.request.method=GET,http.response.status_code=200,http.route=/users/{id},network.protocol.version=1.1,url.scheme=http count=2 sum=4
	//   http.request.method=GET,http.response.status_code=404,http.route=/users/{id},network.protocol.version=1.1,url.scheme=http count=1 sum=13
}

func ExampleNewOperation() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	query, err := operational.NewOperation("db.get_user", operational.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	getUser := func(ctx context.Context, id int) error {
		t := query.Start(ctx)
		var err error
		if id == 0 {
			err = context.DeadlineExceeded // what a slow database returns
		}
		t.End(err)
		return err
	}
	for _, id := range []int{1, 2, 0} {
		_ = getUser(context.Background(), id)
	}
	printMetrics(reader, operational.MetricOperationDuration)
	// Output:
	// kpikit.operation.duration (s)
	//   error.type=context_deadline_exceeded,operation.name=db.get_user count=1
	//   operation.name=db.get_user count=2
}

// notFound names its own error type.
type notFound struct{ id string }

func (e notFound) Error() string   { return "not found: " + e.id }
func (notFound) ErrorType() string { return "not_found" }

func ExampleErrorCounter_Add() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	refreshErrors, err := operational.NewErrorCounter("cache.refresh", operational.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	refreshErrors.Add(ctx, fmt.Errorf("refresh: %w", notFound{"sku-1"}))
	refreshErrors.Add(ctx, errors.New("unexpected"))
	refreshErrors.Add(ctx, nil) // not an error: not counted
	printMetrics(reader, operational.MetricErrors)
	// Output:
	// kpikit.errors ({error})
	//   error.type=_OTHER,operation.name=cache.refresh value=1
	//   error.type=not_found,operation.name=cache.refresh value=1
}

func ExampleNewTransport() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer backend.Close()

	base := &http.Transport{}
	defer base.CloseIdleConnections()
	transport, err := operational.NewTransport(base, operational.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: transport}
	for _, path := range []string{"/", "/missing"} {
		resp, err := client.Get(backend.URL + path)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, dp := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints {
		status, _ := dp.Attributes.Value("http.response.status_code")
		errType, _ := dp.Attributes.Value("error.type")
		fmt.Printf("status=%d error.type=%q count=%d\n", status.AsInt64(), errType.AsString(), dp.Count)
	}
	// Unordered output:
	// status=200 error.type="" count=1
	// status=404 error.type="404" count=1
}

func ExampleErrorType() {
	fmt.Println(operational.ErrorType(fmt.Errorf("query: %w", context.Canceled)))
	fmt.Println(operational.ErrorType(notFound{"42"}))
	fmt.Println(operational.ErrorType(errors.New("boom")))
	// Output:
	// context_canceled
	// not_found
	// _OTHER
}
