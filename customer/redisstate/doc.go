// Package redisstate keeps the state of customer recorders in Redis, shared
// by every replica that uses the same server (or cluster), key prefix and
// recorder name, so that every replica reports the same global figures.
//
// # Usage
//
//	client := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	st, err := redisstate.New(client)
//	...
//	a, err := customer.NewActivity("shop", customer.WithState(st))
//
// It takes any redis.UniversalClient: a *redis.Client, a
// *redis.ClusterClient (Redis Cluster: every key carries a hash tag, so
// that each command and script touches one slot) or a failover client of
// Sentinel. The client must honour context deadlines
// (ContextTimeoutEnabled), so that a recorder's Flush, Shutdown and Close
// return by their deadline whatever Redis does; the store never closes it.
//
// Package customer links no Redis client: only programs that import this
// package do.
//
// # Configuration
//
// [WithKeyPrefix] (default [DefaultKeyPrefix]) separates applications and
// environments on one server; [WithBufferSize] (default
// [DefaultBufferSize] events per recorder) bounds what waits for Redis.
// Nil options are ignored; a value that cannot work makes [New] fail.
//
// # Distinct users of an activity
//
// The distinct users of an activity (the active users of each day, the
// users of each cohort at each offset, the paying users of each period and
// currency) are Redis HyperLogLogs, PFADD of a fixed-size hash of the user
// id, with keys
//
//	PREFIX{a:NAME}:day:<date>
//	PREFIX{a:NAME}:cohort:<period>:<offset>:users
//	PREFIX{a:NAME}:paying:<period>:<currency>
//
// and each has a companion, the same key plus ":s" (same hash tag, same
// slot): the fingerprints of its users in the table of the sparse tier of
// the in-memory sets (23-bit fingerprints in 512 buckets of 16 two-byte
// slots, the bytes of package sketch's sparse encoding), or the one byte
// "F" once they do not fit. While a set's companions hold its users, its
// figure is the estimate of the union of their fingerprints: as exact as
// the same set in memory (0.024% relative standard error; within one
// user of the exact count up to 1,536 users), where Redis's PFCOUNT is
// off by 0.5 to 0.8%. PFCOUNT takes over for a figure when
//   - a companion of one of its keys is full: the key took about 7,000
//     users (or this replica alone sent it that many);
//   - the union of the companions does not fit the second sparse tier of
//     the in-memory sets (21-bit fingerprints, 0.049%: a month of small
//     days up to 10,053 users in all is still counted from them), or
//     PFCOUNT says the union has 10,500 users or more;
//   - a companion is corrupt (counted, and reported as the collection's
//     error), or its count and PFCOUNT disagree by more than 1 + 5% (a key
//     written by a version without companions, during a rolling upgrade).
//
// A key found without its companion when one is first written (a key of
// an earlier version) gets a full one. Figures over 10,500 users, the
// heavy ones, are PFCOUNT's as before: same error, same cost. (In memory
// a set keeps a second sparse tier up to 10,053 users; a companion holds
// only the first, about 7,000.)
//
// Memory: a companion is a string of 16,384 bytes from its first user
// until it is full, 20,552 bytes of Redis memory (MEMORY USAGE, Redis
// 7.0, jemalloc) beside 504 bytes for a HyperLogLog of 100 users and
// 14,408 from about 2,000 on; about 100 bytes once full. It expires with
// its key.
//
// # Performance
//
// Recording never waits for Redis: an activity event updates local copies
// of what it handed over and appends at most one entry to a bounded buffer
// (see the package documentation of customer, "State"). Beside its
// PFADDs, an event adds the fingerprints its replica has not sent to a
// key since the last collection (a sparse set per key, 16 KiB, kept until
// the key's companion is full), in the same buffer entry: for a key with
// few users that is one more lookup per event: an activity event costs
// about 1.3 times what it costs in memory, with companions full or not
// (figures in the package documentation of customer). The flusher writes
// a key's PFADDs and its fingerprints together with one Lua script
// (EVALSHA) per batch, which Redis runs in about 2.3 µs per new
// fingerprint and 1.2 µs per fingerprint it holds already (a shared 2-core
// AMD EPYC); once a companion is full the key's writes are plain PFADDs
// again, and a replica that finds a companion full at a collection sends
// it no more fingerprints.
//
// A collection GETs, in the round trip of its PFCOUNTs, the companions of
// every day of the horizon (but the days of a period whose union was found
// over 10,500 users), of every cohort cell and of every paying set, but
// those found full: up to 16 KiB each. With a 12-month horizon and only
// small sets that is about 450 companions, 7 MiB and 55 to 155 ms per
// collection on that machine; once the sets are large, a few GETs.
//
// # Concurrency
//
// A [Store] and the states it makes are safe for concurrent use. Each
// recorder's state owns its goroutines (a flusher, and for an activity a
// goroutine that moves money and resolves first-seen cohorts), which its
// Shutdown stops.
package redisstate
