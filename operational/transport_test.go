package operational_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/operational"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newTransport(t testing.TB, base http.RoundTripper, opts ...operational.Option) (*operational.Transport, *sdkmetric.ManualReader) {
	t.Helper()
	mp, r := newProvider()
	tr, err := operational.NewTransport(base, append([]operational.Option{operational.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tr, r
}

func TestTransportStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var code int
		_, _ = fmt.Sscanf(r.URL.Path, "/%d", &code)
		w.WriteHeader(code)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "http.request.method=GET,http.response.status_code=%d,network.protocol.version=1.1,server.address=127.0.0.1,server.port=" + port + ",url.scheme=http"
	tests := []struct {
		code int
		want string
	}{
		{200, fmt.Sprintf(base, 200)},
		{302, fmt.Sprintf(base, 302)},
		{404, "error.type=404," + fmt.Sprintf(base, 404)},
		{503, "error.type=503," + fmt.Sprintf(base, 503)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			tr, r := newTransport(t, srv.Client().Transport)
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/%d", srv.URL, tt.code), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if diff := cmp.Diff([]point{{tt.want, 1}}, collect(t, r)[operational.MetricClientRequestDuration]); diff != "" {
				t.Errorf("duration (-want +got):\n%s", diff)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportErrors(t *testing.T) {
	const base = "http.request.method=POST,server.address=svc.internal,server.port=443,url.scheme=https"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"dns", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "svc.internal", IsNotFound: true}}, "dns_error"},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection_refused"},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection_reset"},
		{"timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, "timeout"},
		{"deadline", context.DeadlineExceeded, "context_deadline_exceeded"},
		{"canceled", context.Canceled, "context_canceled"},
		{"other", errors.New("weird"), "_OTHER"},
		{"named", namedErr("quota"), "quota"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, r := newTransport(t, roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, tt.err }))
			req, _ := http.NewRequest("POST", "https://svc.internal/x", nil)
			if _, err := tr.RoundTrip(req); err != tt.err {
				t.Errorf("error = %v, want the base's %v", err, tt.err)
			}
			want := []point{{"error.type=" + tt.want + "," + base, 1}}
			if diff := cmp.Diff(want, collect(t, r)[operational.MetricClientRequestDuration]); diff != "" {
				t.Errorf("duration (-want +got):\n%s", diff)
			}
		})
	}
}

// Real failures through http.Client: a refused connection and a timeout.
func TestTransportRealErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	tests := []struct {
		name          string
		url           string
		timeout       time.Duration
		headerTimeout time.Duration
		want          string
	}{
		{"refused", "http://" + closedAddr + "/", 0, 0, "error.type=connection_refused"},
		{"client timeout is a context deadline", slow.URL, 50 * time.Millisecond, 0, "error.type=context_deadline_exceeded"},
		{"response header timeout (it Is DeadlineExceeded)", slow.URL, 0, 50 * time.Millisecond, "error.type=context_deadline_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := http.DefaultTransport.(*http.Transport).Clone()
			base.ResponseHeaderTimeout = tt.headerTimeout
			defer base.CloseIdleConnections()
			tr, r := newTransport(t, base)
			c := &http.Client{Transport: tr, Timeout: tt.timeout}
			_, err := c.Get(tt.url)
			if err == nil {
				t.Fatal("request succeeded")
			}
			pts := collect(t, r)[operational.MetricClientRequestDuration]
			if len(pts) != 1 || !strings.HasPrefix(pts[0].Attrs, tt.want+",") {
				t.Errorf("error %v: points = %v, want one starting with %s", err, pts, tt.want)
			}
		})
	}
}

func TestTransportAddressLimitAndFilter(t *testing.T) {
	tr, r := newTransport(t, roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, ProtoMajor: 2, Body: http.NoBody}, nil
	}), operational.WithValueLimit(1), operational.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/skip" }))
	for _, u := range []string{"http://a:8080/", "http://b/", "https://[::1]:9443/", "http://a:8080/skip"} {
		req, _ := http.NewRequest("GET", u, nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, r)
	want := []point{
		{"http.request.method=GET,http.response.status_code=200,network.protocol.version=2,server.address=_OTHER,url.scheme=http", 1},
		{"http.request.method=GET,http.response.status_code=200,network.protocol.version=2,server.address=_OTHER,url.scheme=https", 1},
		{"http.request.method=GET,http.response.status_code=200,network.protocol.version=2,server.address=a,server.port=8080,url.scheme=http", 1},
	}
	if diff := cmp.Diff(want, got[operational.MetricClientRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
	wantDropped := []point{
		{"kpikit.component=operational.http.client,reason=error_type_limit", 0},
		{"kpikit.component=operational.http.client,reason=server_address_limit", 2},
	}
	if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}

func TestTransportNil(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	// A nil base is http.DefaultTransport.
	tr, r := newTransport(t, nil)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if len(collect(t, r)[operational.MetricClientRequestDuration]) != 1 {
		t.Error("not recorded")
	}
	// A nil *Transport sends through http.DefaultTransport unrecorded.
	var nilTr *operational.Transport
	resp, err = (&http.Client{Transport: nilTr}).Get(srv.URL)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("nil transport: %v, %v", resp, err)
	}
	_ = resp.Body.Close()
	nilTr.CloseIdleConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}
