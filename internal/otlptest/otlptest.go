// Package otlptest runs OTLP metric receivers in-process, over HTTP/protobuf
// and over gRPC, for tests that check what really went over the wire.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Receiver collects every export request it is sent.
type Receiver struct {
	// Endpoint is the base URL to give the exporter, such as
	// "http://127.0.0.1:43121".
	Endpoint string
	// CAFile is the PEM file of the certificate to trust, for a TLS
	// receiver.
	CAFile string

	mu      sync.Mutex
	reqs    []*colmetricspb.ExportMetricsServiceRequest
	headers []map[string][]string
	arrived chan struct{}
}

func newReceiver() *Receiver { return &Receiver{arrived: make(chan struct{}, 1)} }

func (r *Receiver) add(req *colmetricspb.ExportMetricsServiceRequest, h map[string][]string) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.headers = append(r.headers, h)
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// Requests returns the export requests received so far.
func (r *Receiver) Requests() []*colmetricspb.ExportMetricsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*colmetricspb.ExportMetricsServiceRequest(nil), r.reqs...)
}

// Headers returns the request headers (HTTP) or metadata (gRPC) of each
// request, keys in lower case.
func (r *Receiver) Headers() []map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string][]string(nil), r.headers...)
}

// WaitRequest blocks until at least one request has arrived or d passes; it
// reports whether one arrived.
func (r *Receiver) WaitRequest(d time.Duration) bool {
	if len(r.Requests()) > 0 {
		return true
	}
	select {
	case <-r.arrived:
		return true
	case <-time.After(d):
		return false
	}
}

// ResourceMetrics flattens the requests received so far.
func (r *Receiver) ResourceMetrics() []*metricspb.ResourceMetrics {
	var out []*metricspb.ResourceMetrics
	for _, req := range r.Requests() {
		out = append(out, req.GetResourceMetrics()...)
	}
	return out
}

// StartHTTP starts an OTLP/HTTP receiver on loopback that accepts
// protobuf bodies, gzip-compressed or not, at /v1/metrics. It stops when
// the test ends.
func StartHTTP(t testing.TB) *Receiver {
	t.Helper()
	r := newReceiver()
	srv := httptest.NewServer(r.httpHandler())
	t.Cleanup(srv.Close)
	r.Endpoint = srv.URL
	return r
}

// StartHTTPS is [StartHTTP] over TLS with a self-signed certificate, which
// it writes as PEM to [Receiver.CAFile].
func StartHTTPS(t testing.TB) *Receiver {
	t.Helper()
	r := newReceiver()
	srv := httptest.NewTLSServer(r.httpHandler())
	t.Cleanup(srv.Close)
	r.Endpoint = srv.URL
	r.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(r.CAFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *Receiver) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, "unexpected content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		msg := &colmetricspb.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(raw, msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := map[string][]string{}
		for k, v := range req.Header {
			h[strings.ToLower(k)] = v
		}
		r.add(msg, h)
		out, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = io.Copy(w, bytes.NewReader(out))
	})
	return mux
}

type grpcService struct {
	colmetricspb.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s grpcService) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.r.add(req, md)
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// StartGRPC starts an OTLP/gRPC receiver on loopback, without TLS. It
// stops when the test ends.
func StartGRPC(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newReceiver()
	srv := grpc.NewServer()
	colmetricspb.RegisterMetricsServiceServer(srv, grpcService{r: r})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	r.Endpoint = "http://" + ln.Addr().String()
	return r
}
