package customer

import (
	"crypto/tls"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file holds the options that choose where a recorder keeps its
// state: in memory (the default), in memory with a snapshot file, or in
// Redis shared by replicas.

// WithSnapshot applies to [NewActivity]. It keeps the state in memory and
// also in the file at path: [NewActivity] loads the file when it exists,
// the recorder writes it every interval (zero: only on shutdown) and on
// [Activity.Shutdown] or [Activity.Close], so that a restart loses at most
// one interval. The file is replaced atomically. A corrupt file, or one
// written by a recorder with another period, horizon or currencies, is
// moved aside, reported through the OTel error handler, and the recorder
// starts empty. The path must not be empty and the interval not negative;
// it excludes [WithRedis].
func WithSnapshot(path string, interval time.Duration) Option {
	return optionFunc(func(c config) config {
		c.snapPath, c.snapInterval = path, interval
		c.given |= givenSnapshot
		return c
	})
}

// State is where recorders keep state shared by replicas:
// customer/redisstate provides it (redisstate.New). It is implemented only
// within this module.
type State interface{ shared.Backend }

// WithState applies to [NewActivity], [NewFunnel] and [NewGoal]. It keeps
// an activity's distinct-user sets, first-seen cohorts and money totals, or
// a funnel's or goal's user progress and counts, in st, shared by every
// replica that uses the same store and recorder name, so that every
// replica reports the same global values. Recording never waits for the
// store: events are buffered and written in the background (see the
// package documentation, "State"). A nil st is an error: the state would
// stay in memory, per replica. It excludes [WithSnapshot] and
// [WithMaxUsers].
func WithState(st State) Option {
	return optionFunc(func(c config) config {
		c.given |= givenRedis
		if st == nil {
			return c.fail(invalidf("WithState(nil): a nil state would keep the state in memory, per replica"))
		}
		c.shared, c.redisOn = st, true
		return c
	})
}

// WithRedis applies to [NewActivity], [NewFunnel] and [NewGoal]. It keeps
// an activity's distinct-user sets, first-seen cohorts and money totals, or
// a funnel's or goal's user progress and counts, in the Redis server at
// addr (host:port), shared by every replica that uses the same server, key
// prefix and recorder name, so that every replica reports the same global
// values. Recording never waits for Redis: events are buffered and written
// in the background (see the package documentation, "State").
// [WithRedisAuth], [WithRedisDB], [WithRedisTLS], [WithRedisKeyPrefix] and
// [WithRedisBufferSize] refine it; [WithRedisClient] replaces the address.
// An empty addr means localhost:6379.
func WithRedis(addr string) Option {
	var ro []redisstore.Option
	if addr != "" {
		ro = append(ro, redisstore.WithAddr(addr))
	}
	return redisBase(ro)
}

// WithRedisClient applies to [NewActivity], [NewFunnel] and [NewGoal]. It
// keeps the state in Redis, as [WithRedis] does, through the caller's
// client, which the recorder never closes: a *redis.Client, a
// *redis.ClusterClient (Redis Cluster, see [WithRedisCluster]) or a
// failover client of Sentinel. Give the client ContextTimeoutEnabled, so that the recorder's
// deadlines bound its round trips; otherwise the client's own read and
// write timeouts do. A nil client is an error: the state would stay in
// memory, per replica.
func WithRedisClient(client redis.UniversalClient) Option {
	if redisstore.IsNil(client) {
		return optionFunc(func(c config) config {
			c.given |= givenRedis
			return c.fail(invalidf("WithRedisClient(nil): a nil client would keep the state in memory, per replica"))
		})
	}
	return redisBase([]redisstore.Option{redisstore.WithClient(client)})
}

func redisBase(ro []redisstore.Option) Option {
	o := redisOption(ro)
	return optionFunc(func(c config) config {
		c = o.apply(c)
		c.redisOn = true
		return c
	})
}

// WithRedisCluster applies to [NewActivity], [NewFunnel] and [NewGoal]
// instead of [WithRedis]: it keeps the state in the Redis Cluster that has
// nodes at addrs (host:port each; one reachable node is enough, the client
// discovers the others). Every key carries a hash tag, so that each command
// and script touches one slot; see the package documentation, "State", for
// how a recorder's keys spread over the masters. [WithRedisAuth],
// [WithRedisTLS], [WithRedisKeyPrefix] and [WithRedisBufferSize] refine
// it; [WithRedisDB] is an error (a cluster has database 0 only).
func WithRedisCluster(addrs ...string) Option {
	return redisBase([]redisstore.Option{redisstore.WithClusterAddrs(addrs...)})
}

// WithRedisAuth applies with [WithRedis]: the ACL user name (empty for the
// default user) and password.
func WithRedisAuth(username, password string) Option {
	return redisOption([]redisstore.Option{redisstore.WithUsername(username), redisstore.WithPassword(password)})
}

// WithRedisDB applies with [WithRedis]: the database number (default 0).
func WithRedisDB(db int) Option {
	return redisOption([]redisstore.Option{redisstore.WithDB(db)})
}

// WithRedisTLS applies with [WithRedis]: connect with TLS using cfg. A nil
// cfg is an error: the connection would not use TLS.
func WithRedisTLS(cfg *tls.Config) Option {
	if cfg == nil {
		return optionFunc(func(c config) config {
			c.given |= givenRedis
			return c.fail(invalidf("WithRedisTLS(nil): a nil TLS configuration would connect without TLS"))
		})
	}
	return redisOption([]redisstore.Option{redisstore.WithTLS(cfg)})
}

// WithRedisKeyPrefix applies with [WithRedis]: the prefix of every key the
// recorder writes (default "kpikit:"). Replicas that share state use the
// same prefix; separate environments on one server use different ones.
func WithRedisKeyPrefix(prefix string) Option {
	return redisOption([]redisstore.Option{redisstore.WithKeyPrefix(prefix)})
}

// WithRedisBufferSize applies with [WithRedis]: how many writes are held
// while Redis is slow or unreachable (default 65,536, rounded up to a power
// of two). When it is full the oldest write is dropped and counted on
// kpikit.dropped with reason "store_unavailable".
func WithRedisBufferSize(n int) Option {
	return redisOption([]redisstore.Option{redisstore.WithBufferSize(n)})
}

func redisOption(ro []redisstore.Option) Option {
	return optionFunc(func(c config) config {
		c.redis = append(c.redis[:len(c.redis):len(c.redis)], ro...)
		c.given |= givenRedis
		return c
	})
}
