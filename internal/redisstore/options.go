package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/selfobs"
)

// Defaults of the options.
const (
	DefaultAddr          = "localhost:6379"
	DefaultKeyPrefix     = "kpikit:"
	DefaultBufferSize    = 1 << 16
	DefaultBatchSize     = 1024
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
	// MinBackoff is the first retry delay after a failed flush; it doubles
	// per failure up to the maximum backoff.
	MinBackoff = 50 * time.Millisecond
	// Timeout bounds one round trip to Redis (a flushed batch, a read),
	// retries of the client included, when the caller's context has no
	// earlier deadline. The client the store makes itself honours context
	// deadlines; a client given with [WithClient] honours them only when
	// its ContextTimeoutEnabled option is set, and otherwise its own read
	// and write timeouts bound the wait.
	Timeout = 5 * time.Second
)

// Option configures [New].
type Option interface{ apply(config) config }

type config struct {
	client        redis.UniversalClient
	addr          string
	cluster       []string
	username      string
	password      string
	db            int
	tls           *tls.Config
	connSet       bool // any of addr, username, password, db, tls was given
	prefix        string
	ttl           time.Duration
	bufferSize    int
	batchSize     int
	flushInterval time.Duration
	maxBackoff    time.Duration
	drop          selfobs.Reason
	errs          []error // of options whose value cannot work
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

func newConfig(opts []Option) (config, error) {
	c := config{
		addr:          DefaultAddr,
		prefix:        DefaultKeyPrefix,
		bufferSize:    DefaultBufferSize,
		batchSize:     DefaultBatchSize,
		flushInterval: DefaultFlushInterval,
		maxBackoff:    DefaultMaxBackoff,
	}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	errs := append([]error(nil), c.errs...)
	if c.client != nil && c.connSet {
		errs = append(errs, errors.New("redisstore: connection options given together with a client"))
	}
	if c.addr == "" {
		errs = append(errs, errors.New("redisstore: empty address"))
	}
	if len(c.cluster) > 0 && (c.addr != DefaultAddr || c.db != 0) {
		errs = append(errs, fmt.Errorf("redisstore: cluster addresses %q given with a server address %q or database %d", c.cluster, c.addr, c.db))
	}
	if c.db < 0 {
		errs = append(errs, fmt.Errorf("redisstore: database %d is negative", c.db))
	}
	if c.ttl < 0 || c.ttl > 0 && c.ttl < time.Second {
		errs = append(errs, fmt.Errorf("redisstore: ttl %v must be zero or at least 1s", c.ttl))
	}
	if c.bufferSize < 1 || c.bufferSize > 1<<26 {
		errs = append(errs, fmt.Errorf("redisstore: buffer size %d out of range 1..%d", c.bufferSize, 1<<26))
	}
	if c.batchSize < 1 {
		errs = append(errs, fmt.Errorf("redisstore: batch size %d must be positive", c.batchSize))
	}
	if c.flushInterval <= 0 {
		errs = append(errs, fmt.Errorf("redisstore: flush interval %v must be positive", c.flushInterval))
	}
	if c.maxBackoff < MinBackoff {
		errs = append(errs, fmt.Errorf("redisstore: max backoff %v is under %v", c.maxBackoff, MinBackoff))
	}
	return c, errors.Join(errs...)
}

// WithClient makes the store use client instead of connecting itself; the
// store never closes it. It cannot be combined with [WithAddr],
// [WithUsername], [WithPassword], [WithDB] or [WithTLS]. A nil client is
// an error.
func WithClient(client redis.UniversalClient) Option {
	return optionFunc(func(c config) config {
		if IsNil(client) {
			c.errs = append(c.errs[:len(c.errs):len(c.errs)], errors.New("redisstore: WithClient(nil)"))
			return c
		}
		c.client = client
		return c
	})
}

// WithAddr sets the server's host:port (default [DefaultAddr]).
func WithAddr(addr string) Option {
	return optionFunc(func(c config) config { c.addr, c.connSet = addr, true; return c })
}

// WithClusterAddrs connects to the Redis Cluster that has nodes at addrs
// (host:port each; one is enough, the client discovers the others)
// instead of one server. It excludes [WithAddr] and [WithDB].
func WithClusterAddrs(addrs ...string) Option {
	return optionFunc(func(c config) config {
		c.cluster, c.connSet = append([]string(nil), addrs...), true
		if len(addrs) == 0 {
			c.errs = append(c.errs[:len(c.errs):len(c.errs)], errors.New("redisstore: WithClusterAddrs without an address"))
		}
		for _, a := range addrs {
			if a == "" {
				c.errs = append(c.errs[:len(c.errs):len(c.errs)], errors.New("redisstore: WithClusterAddrs with an empty address"))
			}
		}
		return c
	})
}

// WithUsername sets the ACL user name.
func WithUsername(user string) Option {
	return optionFunc(func(c config) config { c.username, c.connSet = user, true; return c })
}

// WithPassword sets the password (AUTH).
func WithPassword(password string) Option {
	return optionFunc(func(c config) config { c.password, c.connSet = password, true; return c })
}

// WithDB selects the logical database (default 0).
func WithDB(db int) Option {
	return optionFunc(func(c config) config { c.db, c.connSet = db, true; return c })
}

// WithTLS connects with TLS using cfg. A nil cfg is an error: the
// connection would not use TLS.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(c config) config {
		if cfg == nil {
			c.errs = append(c.errs[:len(c.errs):len(c.errs)], errors.New("redisstore: WithTLS(nil)"))
			return c
		}
		c.tls, c.connSet = cfg, true
		return c
	})
}

// WithKeyPrefix prepends prefix to every key made by [Store.Key] (default
// [DefaultKeyPrefix]); use one prefix per application and environment.
func WithKeyPrefix(prefix string) Option {
	return optionFunc(func(c config) config { c.prefix = prefix; return c })
}

// WithTTL gives every key written by [Store.PFAdd] and [Store.IncrBy] an
// expiry of ttl, refreshed by each flush that writes the key, and is the
// default expiry of [Store.SetNX]. Tie it to the retained horizon so that
// old periods expire. Zero (the default) sets no expiry; otherwise at
// least one second.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c config) config { c.ttl = ttl; return c })
}

// WithBufferSize sets how many events wait for Redis at most (default
// [DefaultBufferSize], rounded up to a power of two); when it is full the
// oldest are dropped. One batch being written or retried is held on top.
func WithBufferSize(n int) Option {
	return optionFunc(func(c config) config { c.bufferSize = n; return c })
}

// WithBatchSize sets how many events one pipeline carries at most
// (default [DefaultBatchSize]); a buffer holding a full batch wakes the
// flusher before its interval.
func WithBatchSize(n int) Option {
	return optionFunc(func(c config) config { c.batchSize = n; return c })
}

// WithFlushInterval sets how often buffered events are written (default
// [DefaultFlushInterval]). It is also the de-duplication window: a PFADD
// already waiting in the buffer is not buffered again.
func WithFlushInterval(d time.Duration) Option {
	return optionFunc(func(c config) config { c.flushInterval = d; return c })
}

// WithMaxBackoff caps the delay between retries of a failed flush (default
// [DefaultMaxBackoff]; at least [MinBackoff]).
func WithMaxBackoff(d time.Duration) Option {
	return optionFunc(func(c config) config { c.maxBackoff = d; return c })
}

// WithDropCounter counts events dropped because Redis could not take them
// (buffer overflow, shutdown before they were written, enqueued after
// shutdown) on r, typically the reason "store_unavailable" of the
// recorder's [selfobs.Counter]. The store adds from its flusher goroutine,
// never on the hot path.
func WithDropCounter(r selfobs.Reason) Option {
	return optionFunc(func(c config) config { c.drop = r; return c })
}
