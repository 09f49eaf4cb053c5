package redisstore

import (
	"context"
	"math/bits"

	"github.com/redis/go-redis/v9"
)

// Settings resolves opts as [New] does, for a caller that writes to Redis
// itself: the client (a new one when [WithClient] was not given; own then
// says the caller must close it), the key prefix and the buffer size,
// rounded up to a power of two. Invalid options are an error.
func Settings(opts ...Option) (client *redis.Client, own bool, prefix string, bufferSize int, err error) {
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

// newClient makes the client of c's connection options. It honours
// context deadlines, so that [Timeout] and the deadline of a Shutdown
// bound every wait on the server.
func newClient(c config) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: c.addr, Username: c.username, Password: c.password, DB: c.db, TLSConfig: c.tls,
		ContextTimeoutEnabled: true,
	})
}

// Bound returns ctx bounded by [Timeout].
func Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Timeout)
}

// Permanent reports whether err is Redis refusing a command for good (wrong
// type, bad argument, script error), as opposed to a connection problem or
// a server that is loading, busy or read-only: retry only when it is false.
func Permanent(err error) bool { return permanent(err) }
