package operational_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/operational"
)

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true, "_OTHER": true,
}

// FuzzMiddleware feeds raw request lines and headers through net/http's
// parser and a handler whose behaviour (status codes, writes, panics) comes
// from the input, and checks that every recorded attribute value is from a
// bounded set and that the raw path never becomes one.
func FuzzMiddleware(f *testing.F) {
	f.Add("GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, uint8(0))
	f.Add("get /users/x HTTP/1.0\r\n\r\n", 0, uint8(1))
	f.Add("PROPFIND /a/b/c?d=e HTTP/1.1\r\nHost: \xff\r\n\r\n", 1000, uint8(2))
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 503, uint8(3))
	f.Add("DELETE /users/"+strings.Repeat("9", 5000)+" HTTP/1.1\r\nX: "+strings.Repeat("y", 9000)+"\r\n\r\n", 103, uint8(4))
	f.Add("GET http://evil.example/users/2 HTTP/1.1\r\n\r\n", 101, uint8(5))
	f.Fuzz(func(t *testing.T, raw string, status int, behaviour uint8) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		mp, r := newProvider()
		mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
			if behaviour&1 != 0 {
				_, _ = io.Copy(io.Discard, r.Body)
			}
			if behaviour&2 != 0 {
				w.WriteHeader(status)
			}
			if behaviour&4 != 0 {
				_, _ = io.WriteString(w, r.URL.Path)
			}
			if behaviour&8 != 0 {
				panic("fuzz")
			}
			if behaviour&16 != 0 {
				panic(http.ErrAbortHandler)
			}
		})
		func() {
			defer func() { _ = recover() }()
			mw.Handler(mux).ServeHTTP(&minimalWriter{}, req)
		}()
		for _, sm := range collectRM(t, r).ScopeMetrics {
			for _, m := range sm.Metrics {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok {
					continue
				}
				for _, dp := range h.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						v := kv.Value.String()
						switch kv.Key {
						case "http.request.method":
							if !knownMethods[v] {
								t.Errorf("method %q", v)
							}
						case "http.route":
							if v != "/users/{id}" {
								t.Errorf("route %q", v)
							}
						case "http.response.status_code":
							if c, _ := strconv.Atoi(v); c < 100 || c > 999 {
								t.Errorf("status %q", v)
							}
						case "url.scheme":
							if v != "http" && v != "https" {
								t.Errorf("scheme %q", v)
							}
						case "network.protocol.version":
							if v != "1.0" && v != "1.1" && v != "2" && v != "3" {
								t.Errorf("protocol %q", v)
							}
						case "error.type":
							if c, err := strconv.Atoi(v); v != "panic" && (err != nil || c < 500 || c > 999) {
								t.Errorf("error.type %q", v)
							}
						default:
							t.Errorf("unexpected attribute %s=%q", kv.Key, v)
						}
					}
				}
			}
		}
	})
}

// The fuzz seeds' status codes through httptest's recorder, which panics
// on invalid codes as net/http does: each is recorded once, with the status
// the client saw (or 500 and error.type=panic when the writer panicked),
// the writer's panic goes on to the caller, and an invalid code is counted.
func TestFuzzSeedsWithRecorder(t *testing.T) {
	tests := []struct {
		code      int
		wantAttrs string // recorded duration data point
		wantPanic bool
		invalid   int64 // kpikit.dropped{reason=invalid_status_code}
	}{
		{0, "error.type=panic," + fmt.Sprintf(base11, 500), true, 1},
		{99, "error.type=panic," + fmt.Sprintf(base11, 500), true, 1},
		{100, fmt.Sprintf(base11, 200), false, 0}, // informational: the final status is the implicit 200
		{101, fmt.Sprintf(base11, 101), false, 0},
		{499, fmt.Sprintf(base11, 499), false, 0},
		{999, "error.type=999," + fmt.Sprintf(base11, 999), false, 0},
		{1000, "error.type=panic," + fmt.Sprintf(base11, 500), true, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			mw, r := newMiddleware(t)
			var rec any
			func() {
				defer func() { rec = recover() }()
				mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.code) })).
					ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}()
			if (rec != nil) != tt.wantPanic {
				t.Errorf("WriteHeader(%d): panic %v, want panic %v", tt.code, rec, tt.wantPanic)
			}
			got := collect(t, r)
			if diff := cmp.Diff([]point{{tt.wantAttrs, 1}}, got[operational.MetricServerRequestDuration]); diff != "" {
				t.Errorf("WriteHeader(%d): duration (-want +got):\n%s", tt.code, diff)
			}
			wantDropped := []point{
				{"kpikit.component=operational.http.server,reason=affected_limit", 0},
				{"kpikit.component=operational.http.server,reason=invalid_status_code", tt.invalid},
				{"kpikit.component=operational.http.server,reason=route_limit", 0},
			}
			if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
				t.Errorf("WriteHeader(%d): dropped (-want +got):\n%s", tt.code, diff)
			}
		})
	}
}
