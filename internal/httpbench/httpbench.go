// Package httpbench holds what the HTTP middleware benchmarks share: a
// ResponseWriter with the optional interfaces of net/http's HTTP/1 writer
// that allocates nothing, and the routed handler they serve, so that the
// benchmarks measure the middleware alone.
package httpbench

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// Writer is a ResponseWriter with the optional interfaces of net/http's
// HTTP/1 writer (Flusher, Hijacker, ReaderFrom, StringWriter, deadlines,
// full duplex, CloseNotifier). It discards what it is given.
type Writer struct{ H http.Header }

// NewWriter returns a Writer with an empty header.
func NewWriter() *Writer { return &Writer{H: http.Header{}} }

func (w *Writer) Header() http.Header               { return w.H }
func (w *Writer) Write(b []byte) (int, error)       { return len(b), nil }
func (w *Writer) WriteString(s string) (int, error) { return len(s), nil }
func (w *Writer) WriteHeader(int)                   {}
func (w *Writer) Flush()                            {}
func (w *Writer) FlushError() error                 { return nil }
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, http.ErrNotSupported
}
func (w *Writer) ReadFrom(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }
func (w *Writer) SetReadDeadline(time.Time) error     { return nil }
func (w *Writer) SetWriteDeadline(time.Time) error    { return nil }
func (w *Writer) EnableFullDuplex() error             { return nil }

// CloseNotify implements the deprecated http.CloseNotifier, as net/http's
// writer still does.
func (w *Writer) CloseNotify() <-chan bool { return nil }

var hello = []byte("hello")

// Mux returns a ServeMux with one route, "GET /users/{id}", whose handler
// writes a status and five bytes.
func Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(hello)
	})
	return mux
}
