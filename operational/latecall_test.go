package operational_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Header and CloseNotify are calls through the writer like any other: after
// the handler returned they must not reach net/http, whose HTTP/1 writer
// panics on a late CloseNotify and whose HTTP/2 writer panics on a late
// Header or CloseNotify, in a goroutine no one can recover in, which ends
// the process. The same holds when the writer the middleware wraps is
// another middleware's (the httpsnoop path).
func TestMiddlewareLateHeaderAndCloseNotifyDoNotPanic(t *testing.T) {
	calls := map[string]func(http.ResponseWriter){
		"Header": func(w http.ResponseWriter) { w.Header().Set("X-Late", "1") },
		"CloseNotify": func(w http.ResponseWriter) {
			//lint:ignore SA1019 still implemented by net/http and kept by the wrapper
			w.(http.CloseNotifier).CloseNotify()
		},
	}
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		for name, call := range calls {
			t.Run(proto+"/"+name, func(t *testing.T) { testLateCall(t, proto, call, false) })
		}
		t.Run(proto+"/Header/behind-another-middleware", func(t *testing.T) {
			testLateCall(t, proto, calls["Header"], true)
		})
	}
}

// passThrough is another middleware's writer, with none of the optional
// interfaces.
type passThrough struct{ http.ResponseWriter }

// testLateCall serves one request over proto and makes call on the
// middleware's writer once the client read the whole response; wrapped puts
// another middleware's writer under it.
func testLateCall(t *testing.T, proto string, call func(http.ResponseWriter), wrapped bool) {
	mw, _ := newMiddleware(t)
	start := make(chan struct{})
	panicked := make(chan any, 1)
	var late sync.WaitGroup
	defer late.Wait()
	var once sync.Once
	release := func() { once.Do(func() { close(start) }) }
	defer release()
	var h http.Handler = mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		late.Go(func() {
			<-start
			defer func() { panicked <- recover() }()
			call(w)
		})
		_, _ = io.WriteString(w, "ok")
	}))
	if wrapped {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(passThrough{w}, r)
		})
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = proto == "HTTP/2"
	srv.StartTLS()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if got := resp.ProtoMajor; got != int(proto[5]-'0') {
		t.Fatalf("served over %s, want %s", resp.Proto, proto)
	}
	release() // the handler returned: the whole response was read
	if rec := <-panicked; rec != nil {
		t.Errorf("a call after the handler returned panicked: %v", rec)
	}
}

// gate makes a writer's Write wait: it signals entered, then waits for
// release.
type gate struct {
	entered, release chan struct{}
}

func newGate() gate { return gate{make(chan struct{}, 1), make(chan struct{})} }

func (g gate) pass() {
	g.entered <- struct{}{}
	<-g.release
}

type gatedHTTP1 struct {
	http1Shape
	gate
}

func (w *gatedHTTP1) Write(b []byte) (int, error) { w.pass(); return len(b), nil }

type gatedMinimal struct {
	countingWriter
	gate
}

func (w *gatedMinimal) Write(b []byte) (int, error) { w.pass(); return len(b), nil }

// A late Write that was let through while the handler ran, and is still in
// the wrapped writer when the handler returns, must hold the middleware
// until it is out: once ServeHTTP returned, net/http finishes the response
// (HTTP/1 puts its buffered writer back in a pool shared by every
// connection, HTTP/2 its whole response state), and the write would land
// in whatever response holds them next.
func TestMiddlewareReturnsOnlyOnceNoCallIsInTheWriter(t *testing.T) {
	for _, tt := range []struct {
		name string
		w    func() (http.ResponseWriter, gate)
	}{
		{"http1", func() (http.ResponseWriter, gate) { w := &gatedHTTP1{gate: newGate()}; return w, w.gate }},
		{"minimal", func() (http.ResponseWriter, gate) { w := &gatedMinimal{gate: newGate()}; return w, w.gate }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mw, _ := newMiddleware(t)
			inner, g := tt.w()
			var late sync.WaitGroup
			defer late.Wait()
			var inWriter atomic.Bool
			returned := make(chan bool, 1)
			go func() {
				mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					late.Go(func() {
						inWriter.Store(true)
						_, _ = w.Write([]byte("late"))
						inWriter.Store(false)
					})
					<-g.entered // the late Write is inside the wrapped writer
				})).ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
				returned <- inWriter.Load()
			}()
			select {
			case <-returned:
				t.Error("ServeHTTP returned while a Write was still inside the wrapped writer")
				close(g.release)
			case <-time.After(100 * time.Millisecond):
				close(g.release)
				if <-returned {
					t.Error("ServeHTTP returned before the late Write came out of the wrapped writer")
				}
			}
		})
	}
}
