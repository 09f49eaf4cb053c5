package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
)

// incrScript applies a batch's increments at most once per (store, batch
// sequence): KEYS[1] holds the last applied sequence of this store,
// ARGV[1] is the batch's sequence, ARGV[2] the guard's expiry in seconds,
// KEYS[i+1] / ARGV[i+2] the counters and their increments. A retry of a
// batch that Redis applied but whose reply was lost changes nothing. It
// returns the number of increments Redis refused (wrong type, overflow).
const incrScript = `
local seq = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq <= last then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local failed = 0
for i = 2, #KEYS do
  local r = redis.pcall('INCRBY', KEYS[i], ARGV[i + 1])
  if type(r) == 'table' and r.err then failed = failed + 1 end
end
return failed
`

// guardTTL is how long the increment guard of a store outlives its last
// batch: a retry after a longer outage may apply increments twice.
const guardTTL = 7 * 24 * time.Hour

// scratch is the flusher's reusable batch-building state.
type scratch struct {
	pfIndex map[string]int
	pf      []pfGroup
	incr    map[string]int
	incrs   []incrEntry
	ttlKeys map[string]bool // the keys to expire: whether each has a companion
	expires map[string]time.Duration
	order   []string
	spKey   map[string][2]int // HyperLogLog key: its call and pair in sparse
	spTag   map[string]int    // hash tag: its call in sparse
	sparse  []sparseCall
}

type pfGroup struct {
	key     string
	members []any
}

type incrEntry struct {
	key string
	n   int64
}

func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flushPending()
			return
		case <-t.C:
		case <-s.kick:
		}
		s.flushPending()
	}
}

// flushPending writes batches until the buffer is empty. A failed batch is
// retried with capped exponential backoff and kept; after Shutdown the
// retries end with the run context, and the batch and the buffer are
// counted as dropped.
func (s *Store) flushPending() {
	for {
		s.take()
		if len(s.batch) == 0 {
			s.reportDrops()
			return
		}
		if !s.writeWithRetry() {
			s.abandon()
			return
		}
	}
}

// writeWithRetry writes s.batch until it succeeds; it returns false when
// the run context ended first.
func (s *Store) writeWithRetry() bool {
	backoff := Backoff{Max: s.cfg.maxBackoff}
	var seq uint64 // assigned once, kept across retries
	for attempt := 1; ; attempt++ {
		rejected, err := s.write(&seq)
		if err == nil {
			s.settle(uint64(len(s.batch)), 0, 0, uint64(rejected))
			s.reportDrops()
			return true
		}
		if s.runCtx.Err() != nil {
			return false
		}
		if attempt&(attempt-1) == 0 { // 1st, 2nd, 4th, 8th … failure
			otel.Handle(fmt.Errorf("redisstore: writing %d buffered events failed (attempt %d, retrying in up to %v): %w",
				len(s.batch), attempt, backoff.Delay(), err))
		}
		s.reportDrops()
		timer := time.NewTimer(backoff.Next())
		select {
		case <-timer.C:
		case <-s.runCtx.Done():
			timer.Stop()
			return false
		case <-s.stop:
			// Shutting down: keep retrying without delay until the run
			// context ends.
			timer.Stop()
		}
	}
}

// abandon counts the current batch and everything buffered as dropped.
// Each batch is settled before the next is taken, so that a concurrent
// giveUp counts every event once.
func (s *Store) abandon() {
	for len(s.batch) > 0 {
		s.settle(0, uint64(len(s.batch)), batchEvents(s.batch), 0)
		s.take()
	}
	s.reportDrops()
}

// batchEvents returns the number of events in b.
func batchEvents(b []record) uint64 {
	var n uint64
	for i := range b {
		if b[i].ev > 0 {
			n++
		}
	}
	return n
}

// reportDrops adds the events lost since the last call to the drop
// counter.
func (s *Store) reportDrops() {
	s.mu.Lock()
	d := s.st.Lost - s.reported
	s.reported = s.st.Lost
	s.mu.Unlock()
	if d > 0 {
		s.cfg.drop.Add(context.Background(), int64(d))
	}
}

// write sends s.batch in one pipeline. It returns the number of commands
// Redis refused and a non-nil error when the batch must be retried. When
// Redis lost the sparse script (NOSCRIPT, after a restart or a failover),
// it is loaded and the whole batch sent again: every command of a batch
// may be applied twice.
func (s *Store) write(seq *uint64) (int, error) {
	ctx, cancel := BoundWrite(s.runCtx)
	defer cancel()
	s.scratch.build(s.batch)
	for loaded := false; ; loaded = true {
		rejected, noScript, err := s.send(ctx, seq)
		if !noScript {
			return rejected, err
		}
		if loaded {
			return 0, errors.New("redisstore: Redis lost the sparse script again after loading it")
		}
		if err := sparseScript.Load(ctx, s.client).Err(); err != nil {
			return 0, err
		}
	}
}

// build groups the commands of batch in s.
func (sc *scratch) build(batch []record) {
	sc.reset()
	for i := range batch {
		r := &batch[i]
		switch r.op {
		case opPFAdd:
			if r.sparse && !r.full {
				sc.addMember(r)
				sc.ttlKeys[r.key] = true
				break
			}
			g, ok := sc.pfIndex[r.key]
			if !ok {
				g = len(sc.pf)
				sc.pfIndex[r.key] = g
				sc.pf = append(sc.pf, pfGroup{key: r.key})
			}
			sc.pf[g].members = append(sc.pf[g].members, Member(uint64(r.v)))
			sc.ttlKeys[r.key] = sc.ttlKeys[r.key] || r.sparse
		case opSparse:
			sc.addSparse(r)
			sc.ttlKeys[r.key] = true
		case opIncrBy:
			j, ok := sc.incr[r.key]
			if ok {
				if sum := sc.incrs[j].n + r.v; (sum > sc.incrs[j].n) == (r.v > 0) {
					sc.incrs[j].n = sum
					break
				}
			}
			sc.incr[r.key] = len(sc.incrs) // overflow or new key: a new entry
			sc.incrs = append(sc.incrs, incrEntry{key: r.key, n: r.v})
			if _, ok := sc.ttlKeys[r.key]; !ok {
				sc.ttlKeys[r.key] = false
			}
		case opExpire:
			if _, ok := sc.expires[r.key]; !ok {
				sc.order = append(sc.order, r.key)
			}
			sc.expires[r.key] = time.Duration(r.aux)
		}
	}
}

// send writes the commands that build grouped in one pipeline: the sparse
// scripts (the keys with companions), PFADD, SET NX, the increments and
// the expiries. noScript reports that Redis did not have the sparse
// script.
func (s *Store) send(ctx context.Context, seq *uint64) (rejected int, noScript bool, err error) {
	sc := &s.scratch
	pipe := s.client.Pipeline()
	for i := range sc.sparse {
		c := &sc.sparse[i]
		c.cmd = sparseScript.EvalSha(ctx, pipe, c.keys, c.args()...)
	}
	for _, g := range sc.pf {
		pipe.PFAdd(ctx, g.key, g.members...)
	}
	for i := range s.batch {
		if r := &s.batch[i]; r.op == opSetNX {
			ttl := time.Duration(r.aux)
			if ttl == 0 {
				ttl = s.cfg.ttl
			}
			pipe.SetNX(ctx, r.key, r.v, ttl)
		}
	}
	var incr *redis.Cmd
	if len(sc.incrs) > 0 {
		if *seq == 0 {
			s.seq++
			*seq = s.seq
		}
		keys := make([]string, 0, len(sc.incrs)+1)
		args := make([]any, 0, len(sc.incrs)+2)
		keys = append(keys, s.cfg.prefix+"_applied:"+s.instance)
		args = append(args, *seq, int64(guardTTL/time.Second))
		for _, e := range sc.incrs {
			keys = append(keys, e.key)
			args = append(args, e.n)
		}
		incr = pipe.Eval(ctx, incrScript, keys, args...)
	}
	if s.cfg.ttl > 0 {
		for k, companion := range sc.ttlKeys {
			if _, ok := sc.expires[k]; !ok {
				pipe.Expire(ctx, k, s.cfg.ttl)
				if companion {
					pipe.Expire(ctx, k+SparseSuffix, s.cfg.ttl)
				}
			}
		}
	}
	for _, k := range sc.order {
		pipe.Expire(ctx, k, sc.expires[k])
	}
	cmds, err := pipe.Exec(ctx)
	if err == nil || errors.Is(err, redis.Nil) {
		err = nil
	}
	for i := range sc.sparse {
		if e := sc.sparse[i].cmd.Err(); e != nil && redis.HasErrorPrefix(e, "NOSCRIPT") {
			return 0, true, nil
		}
	}
	var rerr error
	for _, c := range cmds {
		e := c.Err()
		if e == nil || errors.Is(e, redis.Nil) {
			continue
		}
		if !permanent(e) {
			return 0, false, e
		}
		rejected++
		if rerr == nil {
			rerr = fmt.Errorf("redisstore: redis refused %s %s: %w", c.Name(), argKey(c), e)
		}
	}
	if err != nil && rejected == 0 {
		return 0, false, err
	}
	if incr != nil && incr.Err() == nil {
		if n, _ := incr.Int64(); n > 0 {
			rejected += int(n)
			if rerr == nil {
				rerr = fmt.Errorf("redisstore: redis refused %d INCRBY commands (wrong type or overflow)", n)
			}
		}
	}
	for i := range sc.sparse {
		if c := &sc.sparse[i]; c.cmd.Err() == nil {
			if n, _ := c.cmd.Int64(); n > 0 {
				rejected += int(n)
				if rerr == nil {
					rerr = fmt.Errorf("redisstore: redis refused %d commands on %d keys with companions (another type), the first %q", n, len(c.keys)/2, c.keys[1])
				}
			}
		}
	}
	if rerr != nil {
		otel.Handle(rerr)
	}
	return rejected, false, nil
}

// permanent reports whether e is Redis refusing a command for good (wrong
// type, bad argument), as opposed to a connection problem or a server that
// is loading, busy or read-only.
func permanent(e error) bool {
	var re redis.Error
	if !errors.As(e, &re) {
		return false
	}
	msg := e.Error()
	for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "OOM", "NOAUTH", "WRONGPASS", "NOPERM"} {
		if strings.HasPrefix(msg, p) {
			return false
		}
	}
	return true
}

func argKey(c redis.Cmder) string {
	if a := c.Args(); len(a) > 1 {
		if k, ok := a[1].(string); ok {
			return strconv.Quote(k)
		}
	}
	return ""
}

func (sc *scratch) reset() {
	if sc.pfIndex == nil {
		sc.pfIndex = make(map[string]int)
		sc.incr = make(map[string]int)
		sc.ttlKeys = make(map[string]bool)
		sc.expires = make(map[string]time.Duration)
		sc.spKey = make(map[string][2]int)
		sc.spTag = make(map[string]int)
	}
	clear(sc.spKey)
	clear(sc.spTag)
	clear(sc.sparse)
	sc.sparse = sc.sparse[:0]
	clear(sc.pfIndex)
	clear(sc.incr)
	clear(sc.ttlKeys)
	clear(sc.expires)
	clear(sc.pf)
	sc.pf = sc.pf[:0]
	sc.incrs = sc.incrs[:0]
	sc.order = sc.order[:0]
}

// Member returns the PFADD member written for a user hash h: 16 lower-case
// hex digits, zero-padded.
func Member(h uint64) string {
	var b [16]byte
	return string(appendMember(b[:0], h))
}

// appendMember appends [Member](h) to b.
func appendMember(b []byte, h uint64) []byte {
	const digits = "0123456789abcdef"
	for sh := 60; sh >= 0; sh -= 4 {
		b = append(b, digits[h>>sh&15])
	}
	return b
}
