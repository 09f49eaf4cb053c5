package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/errcapture"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
)

// captureErrors records what is reported through the OTel error handler
// until the test ends.
func captureErrors(tb testing.TB) func() []error { return errcapture.Capture(tb) }

func newStore(tb testing.TB, opts ...redisstore.Option) *redisstore.Store {
	tb.Helper()
	s, err := redisstore.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Short: a test that left Redis down should not wait for it.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// clientAt is WithClient of a client of the server at addr that honours
// context deadlines, closed when the test ends.
func clientAt(tb testing.TB, addr string) redisstore.Option {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = c.Close() })
	return redisstore.WithClient(c)
}

func newClient(tb testing.TB, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func flush(tb testing.TB, s *redisstore.Store, d time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		tb.Fatalf("Flush: %v (stats %+v)", err, s.Stats())
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
