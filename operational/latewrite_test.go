package operational_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A handler that leaves a goroutine writing to its ResponseWriter after
// ServeHTTP returned (a bug net/http forbids, but a common one) must not
// reach any other request: every clean response carries exactly its own
// body, and the late writes fail. Run under -race, the test also fails on
// any unsynchronized access between the late writer and the middleware.
func TestMiddlewareLateWriteStaysInItsRequest(t *testing.T) {
	mw, _ := newMiddleware(t)
	var late sync.WaitGroup
	var mu sync.Mutex
	var lateErrs, lateOK int
	mux := http.NewServeMux()
	mux.HandleFunc("/leak", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "leak")
		late.Go(func() {
			for range 200 {
				_, err := w.Write([]byte("LEAK"))
				w.WriteHeader(http.StatusTeapot)
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				mu.Lock()
				if err != nil {
					lateErrs++
				} else {
					lateOK++
				}
				mu.Unlock()
				time.Sleep(50 * time.Microsecond)
			}
		})
	})
	mux.HandleFunc("/clean/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "clean-"+r.PathValue("id"))
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()

	const clients, rounds = 8, 60
	var wg sync.WaitGroup
	errs := make(chan string, clients*rounds)
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range rounds {
				path := fmt.Sprintf("/clean/%d-%d", c, i)
				if i%3 == 0 {
					path = "/leak"
				}
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					errs <- fmt.Sprintf("GET %s: %v", path, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				want := "leak"
				if path != "/leak" {
					want = "clean-" + strings.TrimPrefix(path, "/clean/")
				}
				if err != nil || string(body) != want || resp.StatusCode != http.StatusOK {
					errs <- fmt.Sprintf("GET %s = %d %q, %v; want 200 %q", path, resp.StatusCode, body, err, want)
				}
			}
		})
	}
	wg.Wait()
	late.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 10 {
			t.Error(e)
		}
	}
	if n > 10 {
		t.Errorf("... %d bad responses in all", n)
	}
	if lateErrs == 0 {
		t.Errorf("late writes: %d failed, %d succeeded; want them refused once the handler returned", lateErrs, lateOK)
	}
}

// Each writer shape the middleware wraps refuses every call once the
// handler returned, and nothing reaches the writer it wrapped.
func TestMiddlewareRefusesCallsAfterReturn(t *testing.T) {
	for _, tt := range writerShapes() {
		t.Run(tt.name, func(t *testing.T) {
			mw, _ := newMiddleware(t)
			var kept http.ResponseWriter
			inner := tt.w()
			mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				kept = w
			})).ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
			calls := inner.(interface{ count() int })
			before := calls.count()

			if n, err := kept.Write([]byte("x")); n != 0 || err == nil {
				t.Errorf("Write = %d, %v; want 0 and an error", n, err)
			}
			kept.WriteHeader(http.StatusTeapot)
			if w, ok := kept.(io.StringWriter); ok {
				if n, err := w.WriteString("x"); n != 0 || err == nil {
					t.Errorf("WriteString = %d, %v; want 0 and an error", n, err)
				}
			}
			if w, ok := kept.(io.ReaderFrom); ok {
				if n, err := w.ReadFrom(strings.NewReader("x")); n != 0 || err == nil {
					t.Errorf("ReadFrom = %d, %v; want 0 and an error", n, err)
				}
			}
			if w, ok := kept.(http.Hijacker); ok {
				if c, _, err := w.Hijack(); c != nil || err == nil {
					t.Errorf("Hijack = %v, %v; want nil and an error", c, err)
				}
			}
			if w, ok := kept.(http.Flusher); ok {
				w.Flush()
			}
			if w, ok := kept.(interface{ FlushError() error }); ok && w.FlushError() == nil {
				t.Error("FlushError = nil, want an error")
			}
			if w, ok := kept.(http.Pusher); ok && w.Push("/x", nil) == nil {
				t.Error("Push = nil, want an error")
			}
			if w, ok := kept.(interface{ SetReadDeadline(time.Time) error }); ok && w.SetReadDeadline(time.Now()) == nil {
				t.Error("SetReadDeadline = nil, want an error")
			}
			if w, ok := kept.(interface{ SetWriteDeadline(time.Time) error }); ok && w.SetWriteDeadline(time.Now()) == nil {
				t.Error("SetWriteDeadline = nil, want an error")
			}
			if w, ok := kept.(interface{ EnableFullDuplex() error }); ok && w.EnableFullDuplex() == nil {
				t.Error("EnableFullDuplex = nil, want an error")
			}
			if got := calls.count(); got != before {
				t.Errorf("%d calls reached the wrapped writer after the handler returned", got-before)
			}
		})
	}
}

// The wrapper has exactly the optional interfaces of the writer it wraps,
// in every shape, and unwraps to it.
func TestMiddlewareWrapperShapes(t *testing.T) {
	for _, tt := range writerShapes() {
		t.Run(tt.name, func(t *testing.T) {
			mw, _ := newMiddleware(t)
			inner := tt.w()
			mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if got, want := shape(w), shape(inner); got != want {
					t.Errorf("wrapper has %s, want the wrapped writer's %s", got, want)
				}
				if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != inner {
					t.Error("Unwrap does not return the wrapped writer")
				}
				// Every optional method still reaches the wrapped writer.
				before := inner.(interface{ count() int }).count()
				n := exercise(w)
				if got := inner.(interface{ count() int }).count() - before; got != n {
					t.Errorf("%d of %d calls reached the wrapped writer", got, n)
				}
			})).ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
		})
	}
}

// exercise calls every optional method w has and returns how many calls it
// made, plain Write included.
func exercise(w http.ResponseWriter) int {
	n := 1
	_, _ = w.Write([]byte("x"))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
		n++
	}
	if f, ok := w.(interface{ FlushError() error }); ok {
		_ = f.FlushError()
		n++
	}
	if f, ok := w.(interface{ CloseNotify() <-chan bool }); ok {
		f.CloseNotify()
		n++
	}
	if f, ok := w.(http.Hijacker); ok {
		_, _, _ = f.Hijack()
		n++
	}
	if f, ok := w.(io.ReaderFrom); ok {
		_, _ = f.ReadFrom(strings.NewReader("x"))
		n++
	}
	if f, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = f.SetReadDeadline(time.Time{})
		n++
	}
	if f, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = f.SetWriteDeadline(time.Time{})
		n++
	}
	if f, ok := w.(interface{ EnableFullDuplex() error }); ok {
		_ = f.EnableFullDuplex()
		n++
	}
	if f, ok := w.(http.Pusher); ok {
		_ = f.Push("/x", nil)
		n++
	}
	if f, ok := w.(io.StringWriter); ok {
		_, _ = f.WriteString("x")
		n++
	}
	return n
}

// shape names the optional interfaces of w.
func shape(w http.ResponseWriter) string {
	var s []string
	add := func(ok bool, name string) {
		if ok {
			s = append(s, name)
		}
	}
	_, ok := w.(http.Flusher)
	add(ok, "Flusher")
	_, ok = w.(interface{ FlushError() error })
	add(ok, "FlushError")
	_, ok = w.(interface{ CloseNotify() <-chan bool })
	add(ok, "CloseNotifier")
	_, ok = w.(http.Hijacker)
	add(ok, "Hijacker")
	_, ok = w.(io.ReaderFrom)
	add(ok, "ReaderFrom")
	_, ok = w.(interface{ SetReadDeadline(time.Time) error })
	add(ok, "SetReadDeadline")
	_, ok = w.(interface{ SetWriteDeadline(time.Time) error })
	add(ok, "SetWriteDeadline")
	_, ok = w.(interface{ EnableFullDuplex() error })
	add(ok, "EnableFullDuplex")
	_, ok = w.(http.Pusher)
	add(ok, "Pusher")
	_, ok = w.(io.StringWriter)
	add(ok, "StringWriter")
	return "{" + strings.Join(s, ",") + "}"
}

type shapeCase struct {
	name string
	w    func() http.ResponseWriter
}

// writerShapes returns writers of the shapes net/http's HTTP/1 and HTTP/2
// servers and httptest hand to handlers, and of others (wrapped by
// httpsnoop), each counting the calls that reach it.
func writerShapes() []shapeCase {
	return []shapeCase{
		{"http1", func() http.ResponseWriter { return &http1Shape{} }},
		{"http2", func() http.ResponseWriter { return &http2Shape{} }},
		{"recorder", func() http.ResponseWriter { return &recorderShape{} }},
		{"minimal", func() http.ResponseWriter { return &countingWriter{} }},
		{"flusher-hijacker", func() http.ResponseWriter { return &flushHijackShape{} }},
		{"all", func() http.ResponseWriter { return &allShape{} }},
	}
}

// countingWriter is a minimal ResponseWriter that counts the calls it gets.
type countingWriter struct {
	mu sync.Mutex
	n  int
	h  http.Header
}

func (w *countingWriter) hit() {
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
}

func (w *countingWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *countingWriter) Header() http.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *countingWriter) Write(b []byte) (int, error) { w.hit(); return len(b), nil }
func (w *countingWriter) WriteHeader(int)             { w.hit() }

// The shapes, built from the method sets above on one counting writer.
type http1Shape struct {
	countingWriter
}

func (w *http1Shape) Flush()            { w.hit() }
func (w *http1Shape) FlushError() error { w.hit(); return nil }
func (w *http1Shape) CloseNotify() <-chan bool {
	w.hit()
	return nil
}
func (w *http1Shape) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hit()
	return nil, nil, http.ErrNotSupported
}
func (w *http1Shape) ReadFrom(r io.Reader) (int64, error) { w.hit(); return io.Copy(io.Discard, r) }
func (w *http1Shape) SetReadDeadline(time.Time) error     { w.hit(); return nil }
func (w *http1Shape) SetWriteDeadline(time.Time) error    { w.hit(); return nil }
func (w *http1Shape) EnableFullDuplex() error             { w.hit(); return nil }
func (w *http1Shape) WriteString(s string) (int, error)   { w.hit(); return len(s), nil }

type http2Shape struct {
	countingWriter
}

func (w *http2Shape) Flush()            { w.hit() }
func (w *http2Shape) FlushError() error { w.hit(); return nil }
func (w *http2Shape) CloseNotify() <-chan bool {
	w.hit()
	return nil
}
func (w *http2Shape) SetReadDeadline(time.Time) error      { w.hit(); return nil }
func (w *http2Shape) SetWriteDeadline(time.Time) error     { w.hit(); return nil }
func (w *http2Shape) EnableFullDuplex() error              { w.hit(); return nil }
func (w *http2Shape) Push(string, *http.PushOptions) error { w.hit(); return nil }
func (w *http2Shape) WriteString(s string) (int, error)    { w.hit(); return len(s), nil }

type recorderShape struct {
	countingWriter
}

func (w *recorderShape) Flush()                            { w.hit() }
func (w *recorderShape) WriteString(s string) (int, error) { w.hit(); return len(s), nil }

type flushHijackShape struct {
	countingWriter
}

func (w *flushHijackShape) Flush() { w.hit() }
func (w *flushHijackShape) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hit()
	return nil, nil, http.ErrNotSupported
}

type allShape struct {
	http1Shape
}

func (w *allShape) Push(string, *http.PushOptions) error { w.hit(); return nil }

// The shapes above must match what net/http really hands to handlers.
func TestWriterShapesMatchNetHTTP(t *testing.T) {
	got := make(chan string, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Proto + " " + shape(w)
	})
	srv1 := httptest.NewServer(h)
	defer srv1.Close()
	srv2 := httptest.NewUnstartedServer(h)
	srv2.EnableHTTP2 = true
	srv2.StartTLS()
	defer srv2.Close()
	for _, c := range []struct {
		srv  *httptest.Server
		want string
	}{
		{srv1, "HTTP/1.1 " + shape(&http1Shape{})},
		{srv2, "HTTP/2.0 " + shape(&http2Shape{})},
	} {
		resp, err := c.srv.Client().Get(c.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if g := <-got; g != c.want {
			t.Errorf("net/http writer: %s, want %s", g, c.want)
		}
	}
	if g, w := shape(httptest.NewRecorder()), shape(&recorderShape{}); g != w {
		t.Errorf("httptest.ResponseRecorder: %s, want %s", g, w)
	}
}

// The middleware gives the server its own request body back, so that
// net/http treats an unread 100-continue body as without the middleware:
// no "100 Continue" is sent, the body is not read, the connection closes.
func TestMiddlewareRestoresRequestBody(t *testing.T) {
	var seen io.ReadCloser
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "no thanks")
	})
	mw, _ := newMiddleware(t)
	wrapped := mw.Handler(inner)
	for _, tt := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", inner},
		{"middleware", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			orig := r.Body
			wrapped.ServeHTTP(w, r)
			if r.Body != orig {
				seen = r.Body
			}
		})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "no thanks" || !resp.Close {
				t.Errorf("response %d %q close=%v; want 200 \"no thanks\", connection closed without reading the body", resp.StatusCode, body, resp.Close)
			}
			if seen != nil {
				t.Errorf("r.Body is %T after the middleware returned, want the server's own", seen)
			}
		})
	}
}
