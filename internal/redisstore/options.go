package redisstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/selfobs"
)

// Defaults of the options.
const (
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
	// earlier deadline, when the client honours context deadlines
	// (ContextTimeoutEnabled); otherwise its own read and write timeouts
	// bound the wait.
	Timeout = 5 * time.Second
)

// Option configures [New].
type Option interface{ apply(config) config }

type config struct {
	client        redis.UniversalClient
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
	if c.client == nil && len(c.errs) == 0 {
		errs = append(errs, errors.New("redisstore: no client: give one with WithClient"))
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

// WithClient gives the client the store writes through (required); the
// store never closes it. Give it ContextTimeoutEnabled, so that [Timeout],
// [WriteTimeout] and the deadline of a Shutdown end a round trip in
// flight. A nil client is an error.
func WithClient(client redis.UniversalClient) Option {
	return optionFunc(func(c config) config {
		if isNil(client) {
			c.errs = append(c.errs[:len(c.errs):len(c.errs)], errors.New("redisstore: WithClient(nil)"))
			return c
		}
		c.client = client
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
