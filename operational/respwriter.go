package operational

import (
	"bufio"
	"context"
	"errors"
	"github.com/kpikit/kpikit/internal/outcome"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/felixge/httpsnoop"
)

// errClosed is returned by every call through a ResponseWriter that the
// middleware handed out, once the handler it was given to has returned.
var errClosed = errors.New("operational: ResponseWriter used after the handler returned")

// Bits of respState.hdr above the 16 bits of the status code.
const (
	hdrWrote    = 1 << 16 // the final status is known
	hdrGone     = 1 << 17 // the client had gone when the status was decided
	hdrHijacked = 1 << 18 // the connection was hijacked
	hdrClosed   = 1 << 19 // the handler returned: every call is refused
)

// respState observes one response. It is allocated per request and
// never reused, so that a goroutine the handler left behind, writing after
// ServeHTTP returned (which net/http forbids), can reach only its own
// request's state, and the state refuses it: once the handler returned,
// every method fails with an error or does nothing, and nothing is passed
// on to the connection, which may already serve the next request.
//
// Its fields are atomics because such a late call may run concurrently
// with the recording of the request. Every call into rw holds mu shared,
// and close takes it exclusively, so that a call let through while the
// handler ran is out of rw before ServeHTTP returns.
type respState struct {
	rw  http.ResponseWriter // the writer the handler was given to wrap
	ctx context.Context
	m   *Middleware
	mu  sync.RWMutex

	hdr     atomic.Uint32 // status code | hdrWrote | hdrGone | hdrHijacked | hdrClosed
	written atomic.Int64

	hr *handlerRequest // the handler's request, with the outcome; nil without
}

// handlerRequest is the request the handler gets: a copy of the server's
// with a context that holds the request's outcome.
type handlerRequest struct {
	oc   outcome.Context
	fail failure
	req  http.Request
}

// enter reports whether the handler is still running and, if it is, holds
// off close until leave is called.
func (s *respState) enter() bool {
	s.mu.RLock()
	if s.hdr.Load()&hdrClosed != 0 {
		s.mu.RUnlock()
		return false
	}
	return true
}

func (s *respState) leave() { s.mu.RUnlock() }

// observeHeader notes the status of a WriteHeader call, or the implicit 200
// of a first write or flush. 1xx other than 101 are informational, not
// final; codes net/http rejects are counted and recorded as 500. Once the
// connection was hijacked nothing more is sent through the writer (net/http
// refuses it), so the status is left as it was.
func (s *respState) observeHeader(code int) {
	const done = hdrWrote | hdrHijacked
	h := s.hdr.Load()
	if h&done != 0 {
		return
	}
	switch {
	case !validStatus(code):
		s.m.invalidStatus.Add(s.ctx, 1)
		code = http.StatusInternalServerError
	case code < 200 && code != http.StatusSwitchingProtocols:
		return
	}
	v := uint32(code) | hdrWrote
	if clientGone(s.ctx) {
		v |= hdrGone
	}
	for !s.hdr.CompareAndSwap(h, h|v) {
		if h = s.hdr.Load(); h&done != 0 {
			return
		}
	}
}

// beforeWrite is called before a body write or a flush is passed on: it
// reports whether the handler is still running, as enter, and notes the
// implicit 200 that either sends when no status was written.
func (s *respState) beforeWrite() bool {
	if !s.enter() {
		return false
	}
	if s.hdr.Load()&hdrWrote == 0 {
		s.observeHeader(http.StatusOK)
	}
	return true
}

func (s *respState) writeHeader(next func(int), code int) {
	if !s.enter() {
		return
	}
	defer s.leave()
	s.observeHeader(code)
	next(code)
}

func (s *respState) write(next func([]byte) (int, error), b []byte) (int, error) {
	if !s.beforeWrite() {
		return 0, errClosed
	}
	defer s.leave()
	n, err := next(b)
	s.written.Add(int64(n))
	return n, err
}

func (s *respState) writeString(next func(string) (int, error), str string) (int, error) {
	if !s.beforeWrite() {
		return 0, errClosed
	}
	defer s.leave()
	n, err := next(str)
	s.written.Add(int64(n))
	return n, err
}

func (s *respState) readFrom(next func(io.Reader) (int64, error), src io.Reader) (int64, error) {
	if !s.beforeWrite() {
		return 0, errClosed
	}
	defer s.leave()
	n, err := next(src)
	s.written.Add(n)
	return n, err
}

func (s *respState) hijack(next func() (net.Conn, *bufio.ReadWriter, error)) (net.Conn, *bufio.ReadWriter, error) {
	if !s.enter() {
		return nil, nil, errClosed
	}
	defer s.leave()
	c, rw, err := next()
	if err == nil {
		s.hdr.Or(hdrHijacked)
	}
	return c, rw, err
}

// guard passes a call on while the handler runs, and refuses it with
// errClosed after.
func (s *respState) guard(next func() error) error {
	if !s.enter() {
		return errClosed
	}
	defer s.leave()
	return next()
}

// guardWrite is guard for a call that sends the response (a flush), which
// sends the implicit 200 when no status was written.
func (s *respState) guardWrite(next func() error) error {
	if !s.beforeWrite() {
		return errClosed
	}
	defer s.leave()
	return next()
}

// header returns the header map of the wrapped writer, or, once the
// handler returned, a map of its own that goes nowhere.
func (s *respState) header(next func() http.Header) http.Header {
	if !s.enter() {
		return http.Header{}
	}
	defer s.leave()
	return next()
}

// notify returns the CloseNotify channel of the wrapped writer, or, once
// the handler returned, one that has fired: the request is over.
func (s *respState) notify(next func() <-chan bool) <-chan bool {
	if !s.enter() {
		ch := make(chan bool, 1)
		ch <- true
		return ch
	}
	defer s.leave()
	return next()
}

// close waits for the calls under way to return, refuses every later one
// and returns the final state bits.
func (s *respState) close() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hdr.Or(hdrClosed)
}

// final decides the status to record from the state bits h, once the
// handler returned (returned) or panicked with rec.
func (s *respState) final(h uint32, rec any, returned bool) (status int, errPanic bool) {
	wrote := h&hdrWrote != 0
	switch {
	case !returned && rec != nil && rec != any(http.ErrAbortHandler):
		return http.StatusInternalServerError, true
	case h&hdrHijacked != 0 && !wrote:
		return http.StatusSwitchingProtocols, false
	case wrote && h&hdrGone != 0:
		return StatusClientClosedRequest, false
	case wrote:
		return int(h & 0xffff), false
	case clientGone(s.ctx):
		return StatusClientClosedRequest, false
	case !returned:
		// Aborted (http.ErrAbortHandler or runtime.Goexit) before any
		// response: the client gets a broken connection.
		return http.StatusInternalServerError, false
	}
	return http.StatusOK, false
}

// Optional interfaces of a ResponseWriter, as httpsnoop knows them.
type (
	flushErrorer interface{ FlushError() error }
	deadliner    interface {
		SetReadDeadline(time.Time) error
		SetWriteDeadline(time.Time) error
	}
	fullDuplexEnabler interface{ EnableFullDuplex() error }
	closeNotifier     interface{ CloseNotify() <-chan bool } // http.CloseNotifier, deprecated but still implemented
)

// Bits of a writer's shape: the optional interfaces it implements.
const (
	shFlusher = 1 << iota
	shFlushError
	shCloseNotifier
	shHijacker
	shReaderFrom
	shDeadliner
	shFullDuplex
	shPusher
	shStringWriter
)

// The shapes of the writers net/http and httptest hand to handlers, which
// the middleware wraps with one allocation; any other shape is wrapped by
// httpsnoop.
const (
	shapeHTTP1    = shFlusher | shFlushError | shCloseNotifier | shHijacker | shReaderFrom | shDeadliner | shFullDuplex | shStringWriter
	shapeHTTP2    = shFlusher | shFlushError | shCloseNotifier | shDeadliner | shFullDuplex | shPusher | shStringWriter
	shapeRecorder = shFlusher | shStringWriter
)

// shapeOf returns the optional interfaces w implements.
func shapeOf(w http.ResponseWriter) uint16 {
	var sh uint16
	if _, ok := w.(http.Flusher); ok {
		sh |= shFlusher
	}
	if _, ok := w.(flushErrorer); ok {
		sh |= shFlushError
	}
	if _, ok := w.(closeNotifier); ok {
		sh |= shCloseNotifier
	}
	if _, ok := w.(http.Hijacker); ok {
		sh |= shHijacker
	}
	if _, ok := w.(io.ReaderFrom); ok {
		sh |= shReaderFrom
	}
	if _, ok := w.(deadliner); ok {
		sh |= shDeadliner
	}
	if _, ok := w.(fullDuplexEnabler); ok {
		sh |= shFullDuplex
	}
	if _, ok := w.(http.Pusher); ok {
		sh |= shPusher
	}
	if _, ok := w.(io.StringWriter); ok {
		sh |= shStringWriter
	}
	return sh
}

// wrap returns the ResponseWriter the handler gets and the state that
// observes it. The wrapper has exactly the optional interfaces of w, and
// Unwrap for [http.ResponseController].
//
// httpsnoop's hooks are functions that the wrapper keeps, so without a
// pool each hooked method costs closures per request (see hooks). For the three shapes net/http and httptest
// produce, one struct per request is both the state and the wrapper: one
// allocation, with a method set checked against the shape by the tests.
func (m *Middleware) wrap(ctx context.Context, w http.ResponseWriter) (http.ResponseWriter, *respState) {
	sh := shapeOf(w)
	switch sh {
	case shapeHTTP1:
		x := &http1Writer{respWriter{respState{rw: w, ctx: ctx, m: m}}}
		return x, &x.respState
	case shapeHTTP2:
		x := &http2Writer{respWriter{respState{rw: w, ctx: ctx, m: m}}}
		return x, &x.respState
	case shapeRecorder:
		x := &recorderWriter{respWriter{respState{rw: w, ctx: ctx, m: m}}}
		return x, &x.respState
	}
	s := &respState{rw: w, ctx: ctx, m: m}
	return httpsnoop.Wrap(w, s.hooks(sh)), s
}

// hooks returns the httpsnoop hooks of s for a writer of shape sh: hooks
// only for the methods the writer has, since each costs two closures per
// request. Every call is refused once the handler returned, as in
// respWriter.
func (s *respState) hooks(sh uint16) httpsnoop.Hooks {
	h := httpsnoop.Hooks{
		Header: func(next httpsnoop.HeaderFunc) httpsnoop.HeaderFunc {
			return func() http.Header { return s.header(next) }
		},
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(code int) { s.writeHeader(next, code) }
		},
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			return func(b []byte) (int, error) { return s.write(next, b) }
		},
	}
	if sh&shStringWriter != 0 {
		h.WriteString = func(next httpsnoop.WriteStringFunc) httpsnoop.WriteStringFunc {
			return func(str string) (int, error) { return s.writeString(next, str) }
		}
	}
	if sh&shCloseNotifier != 0 {
		h.CloseNotify = func(next httpsnoop.CloseNotifyFunc) httpsnoop.CloseNotifyFunc {
			return func() <-chan bool { return s.notify(next) }
		}
	}
	if sh&shReaderFrom != 0 {
		h.ReadFrom = func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
			return func(src io.Reader) (int64, error) { return s.readFrom(next, src) }
		}
	}
	if sh&shHijacker != 0 {
		h.Hijack = func(next httpsnoop.HijackFunc) httpsnoop.HijackFunc {
			return func() (net.Conn, *bufio.ReadWriter, error) { return s.hijack(next) }
		}
	}
	if sh&shFlusher != 0 {
		h.Flush = func(next httpsnoop.FlushFunc) httpsnoop.FlushFunc {
			return func() { _ = s.guardWrite(func() error { next(); return nil }) }
		}
	}
	if sh&shFlushError != 0 {
		h.FlushError = func(next httpsnoop.FlushErrorFunc) httpsnoop.FlushErrorFunc {
			return func() error { return s.guardWrite(next) }
		}
	}
	if sh&shPusher != 0 {
		h.Push = func(next httpsnoop.PushFunc) httpsnoop.PushFunc {
			return func(target string, opts *http.PushOptions) error {
				return s.guard(func() error { return next(target, opts) })
			}
		}
	}
	if sh&shDeadliner != 0 {
		h.SetReadDeadline = func(next httpsnoop.SetReadDeadlineFunc) httpsnoop.SetReadDeadlineFunc {
			return func(t time.Time) error { return s.guard(func() error { return next(t) }) }
		}
		h.SetWriteDeadline = func(next httpsnoop.SetWriteDeadlineFunc) httpsnoop.SetWriteDeadlineFunc {
			return func(t time.Time) error { return s.guard(func() error { return next(t) }) }
		}
	}
	if sh&shFullDuplex != 0 {
		h.EnableFullDuplex = func(next httpsnoop.EnableFullDuplexFunc) httpsnoop.EnableFullDuplexFunc {
			return func() error { return s.guard(next) }
		}
	}
	return h
}

// respWriter is the wrapper of the plain ResponseWriter methods; the shape
// types below add the optional ones. Each passes the call to the respState
// method that httpsnoop's hooks use too.
type respWriter struct{ respState }

// Header returns the header map of the wrapped writer, or, once the
// handler returned, a map of its own that goes nowhere.
func (w *respWriter) Header() http.Header { return w.header(w.rw.Header) }

// WriteHeader records code and passes it on.
func (w *respWriter) WriteHeader(code int) { w.writeHeader(w.rw.WriteHeader, code) }

// Write passes b on and counts what was written.
func (w *respWriter) Write(b []byte) (int, error) { return w.write(w.rw.Write, b) }

// Unwrap returns the wrapped writer, for [http.ResponseController].
func (w *respWriter) Unwrap() http.ResponseWriter { return w.rw }

// The optional methods, shared by the shape types that have them.

func (w *respWriter) flush() {
	_ = w.guardWrite(func() error { w.rw.(http.Flusher).Flush(); return nil })
}

func (w *respWriter) flushError() error { return w.guardWrite(w.rw.(flushErrorer).FlushError) }

func (w *respWriter) closeNotify() <-chan bool { return w.notify(w.rw.(closeNotifier).CloseNotify) }

func (w *respWriter) writeStr(s string) (int, error) {
	return w.writeString(w.rw.(io.StringWriter).WriteString, s)
}

func (w *respWriter) readFromSrc(src io.Reader) (int64, error) {
	return w.readFrom(w.rw.(io.ReaderFrom).ReadFrom, src)
}

func (w *respWriter) hijackConn() (net.Conn, *bufio.ReadWriter, error) {
	return w.hijack(w.rw.(http.Hijacker).Hijack)
}

func (w *respWriter) setReadDeadline(t time.Time) error {
	return w.guard(func() error { return w.rw.(deadliner).SetReadDeadline(t) })
}

func (w *respWriter) setWriteDeadline(t time.Time) error {
	return w.guard(func() error { return w.rw.(deadliner).SetWriteDeadline(t) })
}

func (w *respWriter) enableFullDuplex() error {
	return w.guard(w.rw.(fullDuplexEnabler).EnableFullDuplex)
}

func (w *respWriter) push(target string, opts *http.PushOptions) error {
	return w.guard(func() error { return w.rw.(http.Pusher).Push(target, opts) })
}

// http1Writer has the shape of net/http's HTTP/1 writer.
type http1Writer struct{ respWriter }

func (w *http1Writer) Flush()                                { w.flush() }
func (w *http1Writer) FlushError() error                     { return w.flushError() }
func (w *http1Writer) CloseNotify() <-chan bool              { return w.closeNotify() }
func (w *http1Writer) WriteString(s string) (int, error)     { return w.writeStr(s) }
func (w *http1Writer) ReadFrom(src io.Reader) (int64, error) { return w.readFromSrc(src) }
func (w *http1Writer) SetReadDeadline(t time.Time) error     { return w.setReadDeadline(t) }
func (w *http1Writer) SetWriteDeadline(t time.Time) error    { return w.setWriteDeadline(t) }
func (w *http1Writer) EnableFullDuplex() error               { return w.enableFullDuplex() }
func (w *http1Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.hijackConn()
}

// http2Writer has the shape of net/http's HTTP/2 writer.
type http2Writer struct{ respWriter }

func (w *http2Writer) Flush()                                           { w.flush() }
func (w *http2Writer) FlushError() error                                { return w.flushError() }
func (w *http2Writer) CloseNotify() <-chan bool                         { return w.closeNotify() }
func (w *http2Writer) WriteString(s string) (int, error)                { return w.writeStr(s) }
func (w *http2Writer) SetReadDeadline(t time.Time) error                { return w.setReadDeadline(t) }
func (w *http2Writer) SetWriteDeadline(t time.Time) error               { return w.setWriteDeadline(t) }
func (w *http2Writer) EnableFullDuplex() error                          { return w.enableFullDuplex() }
func (w *http2Writer) Push(target string, opts *http.PushOptions) error { return w.push(target, opts) }

// recorderWriter has the shape of httptest.ResponseRecorder.
type recorderWriter struct{ respWriter }

func (w *recorderWriter) Flush()                            { w.flush() }
func (w *recorderWriter) WriteString(s string) (int, error) { return w.writeStr(s) }
