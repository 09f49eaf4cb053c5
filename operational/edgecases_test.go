package operational_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/operational"
)

// syncBuffer is a log sink the server's goroutines may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// edgeServer runs h, wrapped by mw unless mw is nil, on a real server
// speaking HTTP/2 over TLS when h2 is set and HTTP/1.1 otherwise. done
// receives once the (wrapped) handler returned; the server's log goes to
// logs.
type edgeServer struct {
	*httptest.Server
	done chan struct{}
	logs *syncBuffer
}

func newEdgeServer(t *testing.T, mw *operational.Middleware, h http.Handler, h2 bool) *edgeServer {
	t.Helper()
	es := &edgeServer{done: make(chan struct{}, 16), logs: &syncBuffer{}}
	wrapped := h
	if mw != nil {
		wrapped = mw.Handler(h)
	}
	es.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { es.done <- struct{}{} }()
		wrapped.ServeHTTP(w, r)
	}))
	es.Config.ErrorLog = log.New(es.logs, "", 0)
	if h2 {
		es.EnableHTTP2 = true
		es.StartTLS()
	} else {
		es.Start()
	}
	t.Cleanup(es.Close)
	return es
}

// wait waits for the handler to have returned and been recorded.
func (es *edgeServer) wait(t *testing.T) {
	t.Helper()
	select {
	case <-es.done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return")
	}
}

func protos(t *testing.T, f func(t *testing.T, h2 bool, base string)) {
	t.Run("HTTP/1.1", func(t *testing.T) {
		f(t, false, "http.request.method=%s,http.response.status_code=%d,network.protocol.version=1.1,url.scheme=http")
	})
	t.Run("HTTP/2", func(t *testing.T) {
		f(t, true, "http.request.method=%s,http.response.status_code=%d,network.protocol.version=2,url.scheme=https")
	})
}

func wantDuration(t *testing.T, r *sdkmetric.ManualReader, want ...point) {
	t.Helper()
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricServerRequestDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
}

// A client that goes away before any response is recorded as 499, without
// error.type, whatever the handler then writes.
func TestEdgeClientGoneBeforeResponse(t *testing.T) {
	protos(t, func(t *testing.T, h2 bool, base string) {
		mw, r := newMiddleware(t)
		started := make(chan struct{})
		es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-r.Context().Done()
			http.Error(w, "gave up", http.StatusServiceUnavailable)
		}), h2)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", es.URL, nil)
		go func() { <-started; cancel() }()
		if resp, err := es.Client().Do(req); err == nil {
			_ = resp.Body.Close()
			t.Fatal("request succeeded")
		}
		es.wait(t)
		wantDuration(t, r, point{fmt.Sprintf(base, "GET", 499), 1})
	})
}

// A client that goes away after the status was sent is recorded with that
// status, whether the handler wrote it or a Flush sent the implicit 200
// (a server-sent events handler that flushes its headers first).
func TestEdgeClientGoneAfterStatusSent(t *testing.T) {
	for _, how := range []string{"WriteHeader", "Write", "Flush", "ResponseController.Flush"} {
		t.Run(how, func(t *testing.T) {
			protos(t, func(t *testing.T, h2 bool, base string) {
				mw, r := newMiddleware(t)
				es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					switch how {
					case "WriteHeader":
						w.WriteHeader(http.StatusOK)
					case "Write":
						_, _ = io.WriteString(w, "data: 0\n\n")
					}
					if how == "ResponseController.Flush" {
						_ = http.NewResponseController(w).Flush()
					} else {
						w.(http.Flusher).Flush()
					}
					<-r.Context().Done()
					_, _ = io.WriteString(w, "data: late\n\n") // fails or is lost
				}), h2)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", es.URL, nil)
				resp, err := es.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				cancel()
				_ = resp.Body.Close()
				es.wait(t)
				wantDuration(t, r, point{fmt.Sprintf(base, "GET", 200), 1})
			})
		})
	}
}

// A HEAD response carries no body: what the handler writes is discarded by
// net/http and is not a response body size.
func TestEdgeHeadResponseBodySize(t *testing.T) {
	protos(t, func(t *testing.T, h2 bool, base string) {
		mw, r := newMiddleware(t)
		es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.WriteString(w, "hello, world")
			if err != nil || n != 12 {
				t.Errorf("Write = %d, %v", n, err)
			}
		}), h2)
		resp, err := es.Client().Head(es.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		es.wait(t)
		key := fmt.Sprintf(base, "HEAD", 200)
		wantDuration(t, r, point{key, 1})
		if got := histSums(t, r, operational.MetricServerResponseBodySize)[key]; got != 0 {
			t.Errorf("response body size of a HEAD = %d, want 0", got)
		}
	})
}

// A HEAD handler that flushes its headers first: on HTTP/2 the server ends
// the stream with them, which cancels the request context while the
// handler still runs; the client got a 200, not a 499.
func TestEdgeHeadFlushThenReturn(t *testing.T) {
	protos(t, func(t *testing.T, h2 bool, base string) {
		mw, r := newMiddleware(t)
		es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(200 * time.Millisecond):
			}
		}), h2)
		resp, err := es.Client().Head(es.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		es.wait(t)
		wantDuration(t, r, point{fmt.Sprintf(base, "HEAD", 200), 1})
	})
}

// 204 and 304 responses have no body: net/http refuses the write, and the
// recorded size is 0.
func TestEdgeNoBodyStatusSize(t *testing.T) {
	for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			protos(t, func(t *testing.T, h2 bool, base string) {
				mw, r := newMiddleware(t)
				es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(code)
					if _, err := io.WriteString(w, "refused"); !errors.Is(err, http.ErrBodyNotAllowed) {
						t.Errorf("Write: %v, want ErrBodyNotAllowed", err)
					}
				}), h2)
				resp, err := es.Client().Get(es.URL)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				es.wait(t)
				key := fmt.Sprintf(base, "GET", code)
				wantDuration(t, r, point{key, 1})
				if got := histSums(t, r, operational.MetricServerResponseBodySize)[key]; got != 0 {
					t.Errorf("response body size = %d, want 0", got)
				}
			})
		})
	}
}

// hijackUpgrade hijacks the connection either through the Hijacker
// interface or through a ResponseController, answers the upgrade and
// echoes a line; then, as some handlers do on their way out, it calls the
// writer again, which net/http refuses.
func hijackUpgrade(t *testing.T, viaController, lateCalls bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			conn net.Conn
			brw  *bufio.ReadWriter
			err  error
		)
		if viaController {
			conn, brw, err = http.NewResponseController(w).Hijack()
		} else {
			conn, brw, err = w.(http.Hijacker).Hijack()
		}
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
		if lateCalls {
			if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrHijacked) {
				t.Errorf("Write after hijack: %v, want ErrHijacked", err)
			}
			w.WriteHeader(http.StatusInternalServerError) // logged and ignored
		}
	}
}

func TestEdgeHijack(t *testing.T) {
	for _, tt := range []struct {
		name                     string
		viaController, lateCalls bool
	}{
		{"Hijacker", false, false},
		{"ResponseController", true, false},
		{"Hijacker then Write and WriteHeader", false, true},
		{"ResponseController then Write and WriteHeader", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mw, r := newMiddleware(t)
			es := newEdgeServer(t, mw, hijackUpgrade(t, tt.viaController, tt.lateCalls), false)
			conn, err := net.Dial("tcp", es.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("upgrade: %v, %v", resp, err)
			}
			_, _ = io.WriteString(conn, "hello\n")
			if line, err := br.ReadString('\n'); err != nil || line != "echo: hello\n" {
				t.Fatalf("echo: %q, %v", line, err)
			}
			es.wait(t)
			wantDuration(t, r, point{fmt.Sprintf(base11, 101), 1})
		})
	}
}

// HTTP/2 has no hijacking: the ResponseController says so, as without the
// middleware.
func TestEdgeResponseController(t *testing.T) {
	type result struct {
		Flush, SetWriteDeadline, SetReadDeadline, EnableFullDuplex, Hijack string
	}
	errStr := func(err error) string {
		if errors.Is(err, http.ErrNotSupported) {
			return "not supported"
		}
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	run := func(t *testing.T, mw *operational.Middleware, h2 bool) (result, string) {
		var res result
		es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			res.EnableFullDuplex = errStr(rc.EnableFullDuplex())
			res.SetReadDeadline = errStr(rc.SetReadDeadline(time.Now().Add(time.Minute)))
			res.SetWriteDeadline = errStr(rc.SetWriteDeadline(time.Now().Add(time.Minute)))
			// Full duplex: answer before the request body is read.
			_, _ = io.WriteString(w, "first\n")
			res.Flush = errStr(rc.Flush())
			b, _ := io.ReadAll(r.Body)
			_, _ = fmt.Fprintf(w, "got %s\n", b)
			if h2 {
				_, _, err := rc.Hijack()
				res.Hijack = errStr(err)
			}
		}), h2)
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", es.URL, pr)
		type reply struct {
			resp *http.Response
			err  error
		}
		replies := make(chan reply, 1)
		go func() {
			resp, err := es.Client().Do(req)
			replies <- reply{resp, err}
		}()
		_, _ = io.WriteString(pw, "ping")
		rep := <-replies // the response began before the body ended
		if rep.err != nil {
			_ = pw.Close()
			t.Fatal(rep.err)
		}
		br := bufio.NewReader(rep.resp.Body)
		first, _ := br.ReadString('\n')
		_ = pw.Close()
		rest, _ := io.ReadAll(br)
		_ = rep.resp.Body.Close()
		es.wait(t)
		return res, first + string(rest)
	}
	protos(t, func(t *testing.T, h2 bool, _ string) {
		bare, bareBody := run(t, nil, h2)
		mw, _ := newMiddleware(t)
		got, gotBody := run(t, mw, h2)
		if diff := cmp.Diff(bare, got); diff != "" {
			t.Errorf("ResponseController through the middleware (-bare +middleware):\n%s", diff)
		}
		if bareBody != gotBody || gotBody != "first\ngot ping\n" {
			t.Errorf("body %q, bare %q", gotBody, bareBody)
		}
	})
}

// A write deadline set through the ResponseController applies: a handler
// that sets one in the past gets an error from its next flush, as without
// the middleware.
func TestEdgeWriteDeadlinePassed(t *testing.T) {
	protos(t, func(t *testing.T, h2 bool, _ string) {
		for _, withMW := range []bool{false, true} {
			var mw *operational.Middleware
			if withMW {
				mw, _ = newMiddleware(t)
			}
			var flushErr error
			es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				_, _ = io.WriteString(w, "before")
				_ = rc.Flush()
				if err := rc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
					t.Errorf("SetWriteDeadline: %v", err)
				}
				_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<16))
				flushErr = rc.Flush()
			}), h2)
			resp, err := es.Client().Get(es.URL)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			es.wait(t)
			if flushErr == nil {
				t.Errorf("middleware %v: Flush after a past write deadline succeeded", withMW)
			}
		}
	})
}

// http.TimeoutHandler inside the middleware: the middleware records the
// 503 it sends.
func TestEdgeTimeoutHandlerInside(t *testing.T) {
	protos(t, func(t *testing.T, h2 bool, base string) {
		mw, r := newMiddleware(t)
		release := make(chan struct{})
		innerDone := make(chan struct{})
		slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(innerDone)
			<-r.Context().Done()
			<-release
			if _, err := io.WriteString(w, "too late"); !errors.Is(err, http.ErrHandlerTimeout) {
				t.Errorf("late write: %v", err)
			}
		})
		es := newEdgeServer(t, mw, http.TimeoutHandler(slow, 20*time.Millisecond, "timed out"), h2)
		resp, err := es.Client().Get(es.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "timed out" {
			t.Errorf("response %d %q", resp.StatusCode, body)
		}
		es.wait(t)
		close(release)
		<-innerDone
		key := "error.type=503," + fmt.Sprintf(base, "GET", 503)
		wantDuration(t, r, point{key, 1})
		if got := histSums(t, r, operational.MetricServerResponseBodySize)[key]; got != int64(len("timed out")) {
			t.Errorf("response size %d", got)
		}
	})
}

// http.TimeoutHandler outside the middleware: the handler the middleware
// wraps gets the TimeoutHandler's writer, whose writes fail once the
// deadline passed, and outlives the request. The middleware records what
// the handler wrote, not the 503 the client got (see the package doc), and
// the late handler stays inside its own request.
func TestEdgeTimeoutHandlerOutside(t *testing.T) {
	for _, writes := range []bool{false, true} {
		t.Run(fmt.Sprintf("writes=%v", writes), func(t *testing.T) {
			mw, r := newMiddleware(t)
			recorded := make(chan struct{})
			slow := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				if writes {
					// Refused with ErrHandlerTimeout, or buffered and
					// dropped if it wins the race with the timeout.
					_, _ = io.WriteString(w, "too late")
				}
			}))
			h := http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(recorded)
				slow.ServeHTTP(w, r)
			}), 20*time.Millisecond, "timed out")
			es := newEdgeServer(t, nil, h, false)
			resp, err := es.Client().Get(es.URL)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("client got %d", resp.StatusCode)
			}
			es.wait(t)
			<-recorded
			wantDuration(t, r, point{fmt.Sprintf(base11, 200), 1})
		})
	}
}

// A body of unknown length (chunked) is counted as read by the handler.
func TestEdgeChunkedRequestBodySize(t *testing.T) {
	const body = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name string
		read int // -1: all
		want int64
	}{
		{"read fully", -1, int64(len(body))},
		{"read partially", 10, 10},
		{"not read", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			protos(t, func(t *testing.T, h2 bool, base string) {
				mw, r := newMiddleware(t)
				es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.ContentLength != -1 {
						t.Errorf("ContentLength = %d, want -1", r.ContentLength)
					}
					if tt.read < 0 {
						_, _ = io.Copy(io.Discard, r.Body)
					} else {
						_, _ = io.CopyN(io.Discard, r.Body, int64(tt.read))
					}
				}), h2)
				// A reader the client cannot size: sent chunked (HTTP/1)
				// or without content-length (HTTP/2).
				req, _ := http.NewRequest("POST", es.URL, io.MultiReader(strings.NewReader(body)))
				resp, err := es.Client().Do(req)
				if err == nil {
					_ = resp.Body.Close()
				}
				es.wait(t)
				key := fmt.Sprintf(base, "POST", 200)
				if got := histSums(t, r, operational.MetricServerRequestBodySize)[key]; got != tt.want {
					t.Errorf("request size %d, want %d", got, tt.want)
				}
			})
		})
	}
}

// A body of known length is recorded at its Content-Length, read or not.
func TestEdgeKnownLengthRequestBodySize(t *testing.T) {
	protos(t, func(t *testing.T, h2 bool, base string) {
		mw, r := newMiddleware(t)
		es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.CopyN(io.Discard, r.Body, 3)
		}), h2)
		resp, err := es.Client().Post(es.URL, "text/plain", strings.NewReader("0123456789"))
		if err == nil {
			_ = resp.Body.Close()
		}
		es.wait(t)
		if got := histSums(t, r, operational.MetricServerRequestBodySize)[fmt.Sprintf(base, "POST", 200)]; got != 10 {
			t.Errorf("request size %d, want 10", got)
		}
	})
}

// Expect: 100-continue with a handler that reads the body: the server asks
// for it, the body is counted.
func TestEdgeExpectContinueRead(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			mw, r := newMiddleware(t)
			es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("read: %v", err)
				}
				_, _ = fmt.Fprintf(w, "%d", len(b))
			}), false)
			conn, err := net.Dial("tcp", es.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			te := "Content-Length: 5"
			payload := "hello"
			if chunked {
				te = "Transfer-Encoding: chunked"
				payload = "5\r\nhello\r\n0\r\n\r\n"
			}
			_, _ = io.WriteString(conn, "POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"+te+"\r\n\r\n")
			br := bufio.NewReader(conn)
			line, err := br.ReadString('\n')
			if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
				t.Fatalf("interim: %q, %v", line, err)
			}
			_, _ = br.ReadString('\n')
			_, _ = io.WriteString(conn, payload)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "5" {
				t.Errorf("response %d %q", resp.StatusCode, b)
			}
			es.wait(t)
			key := fmt.Sprintf(base11, 200)
			key = strings.Replace(key, "GET", "POST", 1)
			wantDuration(t, r, point{key, 1})
			if got := histSums(t, r, operational.MetricServerRequestBodySize)[key]; got != 5 {
				t.Errorf("request size %d, want 5", got)
			}
		})
	}
}

// A panicking handler on a real server: 500 with error.type "panic", the
// panic reaches net/http, which logs it and drops the connection;
// ErrAbortHandler is not logged; a panic after the status was sent is
// still a panic.
func TestEdgePanicRealServer(t *testing.T) {
	for _, tt := range []struct {
		name     string
		value    any
		flushed  bool
		want     string
		wantLogs string
	}{
		{"panic", "boom", false, "error.type=panic,http.request.method=%[1]s,http.response.status_code=500,%[2]s", "boom"},
		{"abort", http.ErrAbortHandler, false, "error.type=500,http.request.method=%[1]s,http.response.status_code=500,%[2]s", ""},
		{"panic after 200", "boom", true, "error.type=panic,http.request.method=%[1]s,http.response.status_code=500,%[2]s", "boom"},
		{"abort after 200", http.ErrAbortHandler, true, "http.request.method=%[1]s,http.response.status_code=200,%[2]s", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			protos(t, func(t *testing.T, h2 bool, _ string) {
				mw, r := newMiddleware(t)
				es := newEdgeServer(t, mw, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tt.flushed {
						_, _ = io.WriteString(w, "partial")
						w.(http.Flusher).Flush()
					}
					panic(tt.value)
				}), h2)
				resp, err := es.Client().Get(es.URL)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
				if err == nil {
					t.Error("the client got a complete response")
				}
				es.wait(t)
				rest := "network.protocol.version=1.1,url.scheme=http"
				if h2 {
					rest = "network.protocol.version=2,url.scheme=https"
				}
				wantDuration(t, r, point{fmt.Sprintf(tt.want, "GET", rest), 1})
				// net/http logs the panic after it reset the stream or
				// closed the connection: give it a moment.
				logs := es.logs.String()
				for deadline := time.Now().Add(5 * time.Second); tt.wantLogs != "" && !strings.Contains(logs, tt.wantLogs) && time.Now().Before(deadline); logs = es.logs.String() {
					time.Sleep(time.Millisecond)
				}
				if tt.wantLogs == "" {
					es.Close() // the connections are closed: anything logged is in
					logs = es.logs.String()
					if strings.Contains(logs, "panic") {
						t.Errorf("logged: %s", logs)
					}
				} else if !strings.Contains(logs, "panic serving") || !strings.Contains(logs, tt.wantLogs) || !strings.Contains(logs, "edgecases_test.go") {
					t.Errorf("log lacks the panic and its handler's frame: %s", logs)
				}
			})
		})
	}
}

// flushWriter is a ResponseWriter of a shape the middleware wraps with
// httpsnoop: a Flusher and nothing else.
type flushWriter struct{ http.ResponseWriter }

func (w flushWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// A Flush with nothing written sends the implicit 200, whatever the shape
// of the writer: a client that goes away after it does not make a 499.
func TestEdgeFlushSendsStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap func(http.ResponseWriter) http.ResponseWriter
	}{
		{"recorder", func(w http.ResponseWriter) http.ResponseWriter { return w }},
		{"httpsnoop", func(w http.ResponseWriter) http.ResponseWriter { return flushWriter{w} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mw, r := newMiddleware(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := httptest.NewRecorder()
			mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				cancel()
			})).ServeHTTP(tt.wrap(rec), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			if rec.Code != http.StatusOK || !rec.Flushed {
				t.Errorf("recorder: %d flushed=%v", rec.Code, rec.Flushed)
			}
			wantDuration(t, r, point{fmt.Sprintf(base11, 200), 1})
		})
	}
}
