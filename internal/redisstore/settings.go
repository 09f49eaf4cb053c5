package redisstore

import (
	"context"
	"math/bits"
	"time"

	"github.com/redis/go-redis/v9"
)

// Settings resolves opts as [New] does, for a caller that writes to Redis
// itself: the client (a new one when [WithClient] was not given; own then
// says the caller must close it), the key prefix and the buffer size,
// rounded up to a power of two. Invalid options are an error.
func Settings(opts ...Option) (client redis.UniversalClient, own bool, prefix string, bufferSize int, err error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, false, "", 0, err
	}
	client = c.client
	if client == nil {
		own = true
		client = newClient(c)
	}
	return client, own, c.prefix, 1 << bits.Len(uint(c.bufferSize-1)), nil
}

// Check validates opts as [New] does, without making a client.
func Check(opts ...Option) error {
	_, err := newConfig(opts)
	return err
}

// Timeouts of the clients the store makes: a server that accepts
// connections and never answers ends a round trip within ClientTimeout
// (and the caller's context deadline, which the clients honour, within
// its own), so that it is reported after a few flush intervals.
const (
	DialTimeout   = 2 * time.Second
	ClientTimeout = time.Second
)

// newClient makes the client of c's connection options: a cluster client
// with [WithClusterAddrs], otherwise a client of one server. Both honour
// context deadlines, so that [Timeout] and the deadline of a Shutdown
// bound every wait on the server, and both have dial, read, write and
// pool timeouts of their own.
func newClient(c config) redis.UniversalClient {
	if len(c.cluster) > 0 {
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: c.cluster, Username: c.username, Password: c.password, TLSConfig: c.tls,
			ContextTimeoutEnabled: true,
			DialTimeout:           DialTimeout, ReadTimeout: ClientTimeout, WriteTimeout: ClientTimeout,
			PoolTimeout: ClientTimeout,
		})
	}
	return redis.NewClient(&redis.Options{
		Addr: c.addr, Username: c.username, Password: c.password, DB: c.db, TLSConfig: c.tls,
		ContextTimeoutEnabled: true,
		DialTimeout:           DialTimeout, ReadTimeout: ClientTimeout, WriteTimeout: ClientTimeout,
		PoolTimeout: ClientTimeout,
	})
}

// IsNil reports whether client is nil, also a nil pointer of the go-redis
// client types in a non-nil interface.
func IsNil(client redis.UniversalClient) bool {
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
