package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// isNil reports whether client is nil, also a nil pointer of the go-redis
// client types in a non-nil interface.
func isNil(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case nil:
		return true
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

// WriteTimeout bounds one background write (a flushed batch, a hand-over
// of money, a resolution of first-seen cohorts): shorter than [Timeout],
// so that a server that stops answering is reported within a few flush
// intervals.
const WriteTimeout = 1500 * time.Millisecond

// BoundWrite returns ctx bounded by [WriteTimeout].
func BoundWrite(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, WriteTimeout)
}

// Bound returns ctx bounded by [Timeout].
func Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Timeout)
}

// Permanent reports whether err is Redis refusing a command for good (wrong
// type, bad argument, script error), as opposed to a connection problem or
// a server that is loading, busy or read-only: retry only when it is false.
func Permanent(err error) bool { return permanent(err) }
