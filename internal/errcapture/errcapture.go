// Package errcapture lets tests see what the code under test reported
// through the OpenTelemetry error handler.
package errcapture

import (
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
)

// Capture installs an OTel error handler that keeps the errors reported
// until the test ends, then restores the previous handler. The returned
// function returns the errors reported so far. Tests that use it must not
// run in parallel with others that report errors: the handler is global.
func Capture(tb testing.TB) func() []error {
	tb.Helper()
	var mu sync.Mutex
	var errs []error
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}))
	tb.Cleanup(func() { otel.SetErrorHandler(prev) })
	return func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), errs...)
	}
}
