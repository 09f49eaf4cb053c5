package redisstate

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file counts distinct users from the companions of the HyperLogLog
// keys (redisstore.SparseSuffix): the fingerprints of a key's users in the
// table of sketch's sparse tier, written beside every PFADD (see sentSet).
// Read GETs the companions of every key of a union in the round trip of
// its PFCOUNT, and reports the estimate of the union of their sets, as
// exact as the same set in memory, while that is trustworthy, and PFCOUNT
// otherwise: when a companion is full (its users did not fit, about
// 7,000) or corrupt, when the union of the sets does not fit a sparse
// table, when PFCOUNT says the union is larger than a sparse table holds,
// or when the two disagree by more than PFCOUNT's error could explain (a
// key written by a version without companions, a companion lost).

// largeUnion is the PFCOUNT from which a union is counted with PFCOUNT
// without reading its companions: 10,500 users do not fit the second
// sparse tier of a union (10,053 fingerprints) whatever PFCOUNT's error
// (0.81%, three standard errors 255 users).
const largeUnion = 10_500

// agree reports whether the estimate of the companions, est, and pf, the
// PFCOUNT of the same keys, agree: within 1 + 5% of pf, more than six
// standard errors of PFCOUNT (at most 0.81%, and much less for small
// counts, where Redis counts by linear counting).
func agree(est uint64, pf int64) bool {
	d := int64(est) - pf
	return max(d, -d) <= 1+pf/20
}

// companions are the companions of one Read, by the name of their
// HyperLogLog key, and their parsed sets.
type companions struct {
	a    *activity
	want map[string]*companion
	errs []error // of corrupt companions
}

type companion struct {
	sent   *sentSet // of the key on this replica; nil when it has none
	cmd    *redis.StringCmd
	parsed bool
	set    *sketch.Set // nil: empty (absent) or, when !ok, not to be used
	ok     bool
}

func newCompanions(a *activity) *companions {
	return &companions{a: a, want: make(map[string]*companion)}
}

// get adds GET of the companion of key name to pipe, unless it is queued
// already or sent says it is full.
func (c *companions) get(ctx context.Context, pipe redis.Pipeliner, name string, sent *sentSet) {
	if cp, ok := c.want[name]; ok {
		if cp.sent == nil {
			cp.sent = sent
		}
		return
	}
	cp := &companion{sent: sent}
	if sent != nil && sent.full.Load() {
		cp.parsed = true
	} else {
		cp.cmd = pipe.Get(ctx, name+redisstore.SparseSuffix)
	}
	c.want[name] = cp
}

// set returns the set of the companion of key name, nil when it is
// absent, and ok false when it cannot count the key: full, corrupt, or not
// read.
func (c *companions) set(name string) (*sketch.Set, bool) {
	cp := c.want[name]
	if cp == nil {
		return nil, false
	}
	if !cp.parsed {
		cp.parsed = true
		cp.set, cp.ok = c.parse(name, cp)
	}
	return cp.set, cp.ok
}

func (c *companions) parse(name string, cp *companion) (*sketch.Set, bool) {
	b, err := cp.cmd.Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, true
	case err != nil:
	case len(b) == len(redisstore.SparseFull):
		if cp.sent != nil {
			cp.sent.full.Store(true)
		}
		return nil, false
	default:
		var s *sketch.Set
		if s, err = sketch.FromSparse(b); err == nil {
			return s, true
		}
	}
	c.a.corrupt.Add(1)
	c.errs = append(c.errs, fmt.Errorf("redisstate: activity %q: the companion of %q cannot be read, PFCOUNT counts it: %w", c.a.name, name, err))
	return nil, false
}

// union is the union of the companions of keys added one by one. The
// sets are merged when an estimate is asked for, all those added since
// the last one in one sketch.Union: a rolling window of 30 days asked at
// 1, 7 and 30 days is three unions, not thirty merges.
type union struct {
	c       *companions
	sets    []*sketch.Set // added since the last estimate (the union so far first)
	merged  *sketch.Set   // the union at the last estimate
	pending bool          // sets were added since
	bad     bool          // a companion cannot count its key, or the union is dense
}

// add adds the companion of key name.
func (u *union) add(name string) {
	if u.bad {
		return
	}
	switch s, ok := u.c.set(name); {
	case !ok:
		u.bad = true
	case s != nil:
		u.sets = append(u.sets, s)
		u.pending = true
	}
}

// estimate returns the estimate of the union so far, and ok false when it
// cannot count the keys.
func (u *union) estimate() (n uint64, ok bool) {
	if u.bad {
		return 0, false
	}
	if u.pending {
		u.merged = u.sets[0]
		if len(u.sets) > 1 {
			u.merged = sketch.Union(u.sets...)
		}
		u.sets, u.pending = append(u.sets[:0], u.merged), false
		if !u.merged.Exact() && !u.merged.Sparse() && !u.merged.Packed() {
			u.bad = true // dense: PFCOUNT counts as well
			return 0, false
		}
	}
	if u.merged == nil {
		return 0, true
	}
	return u.merged.Estimate(), true
}

// figure returns the distinct users of keys whose PFCOUNT is pf and whose
// companions' estimate is est (ok false: they cannot count).
func (c *companions) figure(est uint64, ok bool, pf int64) uint64 {
	if !ok || pf >= largeUnion {
		return uint64(max(pf, 0))
	}
	if !agree(est, pf) {
		c.a.disagreed.Add(1)
		return uint64(max(pf, 0))
	}
	return est
}

// count returns the distinct users of the union of names, whose PFCOUNT
// is pf.
func (c *companions) count(pf int64, names ...string) uint64 {
	if pf >= largeUnion {
		return uint64(pf)
	}
	u := union{c: c}
	for _, n := range names {
		u.add(n)
	}
	est, ok := u.estimate()
	return c.figure(est, ok, pf)
}
