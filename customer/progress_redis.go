package customer

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file keeps the progress of funnels and goals in Redis (WithRedis,
// WithRedisClient, WithRedisCluster), shared by replicas.
//
// Recording validates the event as the memory store does (user, step,
// future, late against this replica's watermark), resolves the segment row
// when the event may start an attempt, and appends a fixed-size record to
// a bounded ring: no network, no allocation. One flusher goroutine takes
// up to progressBatch events at a time, splits them by the user's shard
// and sends one progressScript call per shard, all in one pipeline (a
// cluster client sends each node its part, the nodes in parallel).
//
// The state of a recorder is split into progressShards shards by the hash
// of the user id. Every key of a shard carries the shard's hash tag, so
// that one script call touches one slot, and names every key it touches
// in KEYS:
//
//	prefix{f:NAME:SHARD}:u:MEMBER   a user's attempt (start, mask, ended, row)
//	prefix{f:NAME:SHARD}:counts     counters "u<step>:<row>", "e<step>:<row>"
//	prefix{f:NAME:SHARD}:seq:ID     last batch of recorder instance ID applied
//
// ("g:" for goals). Collection sums the counts hashes of every shard.
//
// The rules of an attempt live in Go: advance decides, for each class of
// (steps reached, step, ended), whether an event is counted, reaches its
// step or ends the attempt, and attemptRules hands that table to the
// script, which only classifies. The script keeps the time rule of place
// (an event before the start counts at the start; an attempt lasts
// [start, start+window)), and whether an event may start an attempt is
// decided here: the event carries a row only then.

// progressScript applies the events of one shard. KEYS: the batch guard,
// the counts hash, then the users' keys. ARGV: batch sequence, window
// (µs), user-key TTL (ms), steps, count events (1/0), the rules (see
// attemptRules), the events, then the row ids. The events are 13-byte
// little-endian records (see progressRecord): index of the user's key in
// KEYS (uint16), step (uint8), event time in µs (int64), row index from 1,
// or 0 when the event cannot start an attempt (uint16). A user's attempt
// is the record (start µs int64, mask uint32, ended uint8) followed by its
// row id. It returns {-1} for a batch already applied, otherwise (elapsed
// µs, row id) per completed attempt.
//
// Lua numbers are doubles, exact for µs up to 2^53. Counter increments
// are summed per call and written once per field.
var progressScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return {-1} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 604800)
local window, ttl = tonumber(ARGV[2]), ARGV[3]
local n, events, rules = tonumber(ARGV[4]), ARGV[5] == '1', ARGV[6]
local blob = ARGV[7]
local full = 2 ^ n - 1
local pow = {}
for k = 0, 32 do pow[k] = 2 ^ k end
local function has(mask, k) return math.floor(mask / pow[k]) % 2 == 1 end
local unpack4, pack3 = struct.unpack, struct.pack
local cur = redis.call('MGET', unpack(KEYS, 3))
local S, M, E, R, fresh, dirty = {}, {}, {}, {}, {}, {}
local out, inc = {}, {}
local function add(arow, f)
  local c = inc[arow]
  if not c then c = {} inc[arow] = c end
  c[f] = (c[f] or 0) + 1
end
local pos = 1
while pos < #blob do
  local ki, k, at, ri
  ki, k, at, ri, pos = unpack4('<HBi8H', blob, pos)
  if S[ki] == nil then
    local v = cur[ki - 2]
    if v then
      S[ki], M[ki], E[ki] = unpack4('<i8I4B', v)
      R[ki] = string.sub(v, 14)
    else
      S[ki] = false
    end
  end
  local start = S[ki]
  local active = false
  if start then
    if at < start then at = start end
    active = at - start < window
  end
  if not active and ri > 0 then
    start = at
    S[ki], M[ki], E[ki], R[ki] = at, 0, 0, ARGV[7 + ri]
    fresh[ki], dirty[ki], active = true, true, true
  end
  if active then
    local mask = M[ki]
    local nx = 0
    while has(mask, nx) do nx = nx + 1 end
    local class
    if k < nx - 1 then class = 0
    elseif k == nx - 1 then class = 1
    elseif k == nx then class = 2
    elseif has(mask, k) then class = 4
    else class = 3 end
    local act = string.byte(rules, 2 * class + E[ki] + 1) - 48
    local arow = R[ki]
    if act % 2 == 1 and events then add(arow, 2 * k + 1) end
    if act % 4 >= 2 then
      mask = mask + pow[k]
      M[ki], dirty[ki] = mask, true
      add(arow, 2 * k)
      if mask == full then
        out[#out + 1] = at - start
        out[#out + 1] = arow
      end
    end
    if act >= 4 then E[ki], dirty[ki] = 1, true end
  end
end
for ki in pairs(dirty) do
  local v = pack3('<i8I4B', S[ki], M[ki], E[ki]) .. R[ki]
  if fresh[ki] then
    redis.call('SET', KEYS[ki], v, 'PX', ttl)
  else
    redis.call('SET', KEYS[ki], v, 'KEEPTTL')
  end
end
for arow, c in pairs(inc) do
  for f, v in pairs(c) do
    local kind = f % 2 == 0 and 'u' or 'e'
    redis.call('HINCRBY', KEYS[2], kind .. math.floor(f / 2) .. ':' .. arow, v)
  end
end
return out
`)

// progressRecord is the size of an event record of progressScript.
const progressRecord = 13

// ruleClasses are the classes of an event of step k for an attempt whose
// first next steps are reached, in the script's order: k below next-1,
// k = next-1, k = next, k above next and not reached, k above next and
// reached. Each class is taken with the attempt going on and ended.
const ruleClasses = 5

// attemptRules is the rule table of order for progressScript: per class
// (see ruleClasses) and per ended (false, true), a digit whose bit 0 says
// the event is counted, bit 1 that it reaches its step, bit 2 that it
// ends the attempt. It is advance applied to one attempt of each class,
// so that the rules are written once.
func attemptRules(order Order) string {
	examples := [ruleClasses]struct {
		mask uint32
		k    int
	}{
		{0b11, 0}, // below next-1: next is 2
		{0b1, 0},  // next-1
		{0, 0},    // next
		{0, 1},    // above, not reached
		{0b10, 1}, // above, reached (order Any)
	}
	b := make([]byte, 0, 2*ruleClasses)
	for _, ex := range examples {
		for _, ended := range []bool{false, true} {
			a := attempt{mask: ex.mask, ended: ended}
			o := advance(&a, ex.k, MaxSteps, order)
			d := byte('0')
			if o.counted {
				d |= 1
			}
			if o.reached >= 0 {
				d |= 2
			}
			if a.ended && !ended {
				d |= 4
			}
			b = append(b, d)
		}
	}
	return string(b)
}

// ruleClass is the class of step k for mask, as the script computes it.
func ruleClass(mask uint32, k int) int {
	next := reachedCount(mask)
	switch {
	case k < next-1:
		return 0
	case k == next-1:
		return 1
	case k == next:
		return 2
	case mask&(1<<k) != 0:
		return 4
	}
	return 3
}

const (
	progressShards    = 16   // shards of a recorder's state in Redis
	progressBatch     = 4096 // events per flush at most
	progressInterval  = 100 * time.Millisecond
	progressBackoff   = 5 * time.Second
	progressRoundTrip = 500 * time.Millisecond // bound of one flush's round trip
)

// pevent is one buffered event.
type pevent struct {
	h   uint64 // sketch.Hash of the user id
	at  int64  // event time, Unix ns
	row *row   // nil: the event cannot start an attempt
	k   int32
}

// shardOf is the shard of a user hash: other bits than the in-memory
// shards use.
func shardOf(h uint64) int { return int((h >> 32) % progressShards) }

// remoteShard is the part of a batch for one shard.
type remoteShard struct {
	events []pevent
	done   bool // Redis applied it (or refused it for good)
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// remoteProgress is the Redis side of a funnel or goal.
type remoteProgress struct {
	client   redis.UniversalClient
	own      bool
	name     string                 // "funnel NAME" or "goal NAME", for errors
	bases    [progressShards]string // prefix + "{f:NAME:SHARD}:"
	instance string
	windowUS int64
	ttlMS    int64
	rules    string
	steps    int
	events   bool
	rows     *rowTable
	ttc      metric.Float64Histogram
	lost     selfobs.Reason // events Redis did not take
	closed   selfobs.Reason // events that came after close

	mu      sync.Mutex
	ring    []pevent
	mask    int
	head, n int
	dropped int64 // dropped and not yet counted; guarded by mu
	halted  bool  // closing: no more events; guarded by mu

	clientMu     sync.Mutex
	clientClosed bool // by close

	kick     chan struct{}
	flushes  chan chan error
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	runCtx   context.Context // ends when a stop's deadline passes
	cancel   context.CancelFunc

	idMu sync.Mutex
	ids  map[*row]string
	byID map[string]*row

	// Flusher only.
	seq    uint64 // last batch sequence used
	batch  []pevent
	parts  [progressShards]remoteShard
	keyIdx map[uint64]int
	rowIdx map[*row]int
}

func newRemoteProgress(c config, kind, name string, steps int, events bool, rows *rowTable, ttc metric.Float64Histogram, d drops) (*remoteProgress, error) {
	client, own, prefix, size, err := redisstore.Settings(c.redis...)
	if err != nil {
		return nil, fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig)
	}
	var id [8]byte
	_, _ = crand.Read(id[:])
	r := &remoteProgress{
		client:   client,
		own:      own,
		name:     kind + " " + name,
		instance: hex.EncodeToString(id[:]),
		windowUS: max(int64(c.window)/1e3, 1),
		ttlMS:    max(2*int64(c.window)/1e6, 1000),
		rules:    attemptRules(c.order),
		steps:    steps,
		events:   events,
		rows:     rows,
		ttc:      ttc,
		lost:     d.unavailable,
		closed:   d.closed,
		ring:     make([]pevent, size),
		mask:     size - 1,
		kick:     make(chan struct{}, 1),
		flushes:  make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		ids:      make(map[*row]string),
		byID:     make(map[string]*row),
		batch:    make([]pevent, 0, progressBatch),
		keyIdx:   make(map[uint64]int),
		rowIdx:   make(map[*row]int),
	}
	for i := range r.bases {
		r.bases[i] = prefix + "{" + kind[:1] + ":" + name + ":" + strconv.Itoa(i) + "}:"
	}
	r.runCtx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// push buffers one event; when the ring is full the oldest is dropped.
// An event pushed once closing began is dropped: push reports false.
func (r *remoteProgress) push(e pevent) bool {
	r.mu.Lock()
	if r.halted {
		r.mu.Unlock()
		r.closed.Add(context.Background(), 1)
		return false
	}
	if r.n == len(r.ring) {
		r.head = (r.head + 1) & r.mask
		r.n--
		r.dropped++
	}
	r.ring[(r.head+r.n)&r.mask] = e
	r.n++
	full := r.n == min(progressBatch, len(r.ring))
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// take moves up to a batch of events out of the ring and counts the drops.
func (r *remoteProgress) take() []pevent {
	r.mu.Lock()
	m := min(r.n, progressBatch)
	b := r.batch[:0]
	for i := range m {
		b = append(b, r.ring[(r.head+i)&r.mask])
		r.ring[(r.head+i)&r.mask] = pevent{}
	}
	r.head = (r.head + m) & r.mask
	r.n -= m
	d := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if d > 0 {
		r.lost.Add(context.Background(), d)
	}
	return b
}

// discard empties the ring and counts what it held, and the drops not yet
// counted, as lost.
func (r *remoteProgress) discard() {
	r.mu.Lock()
	n := int64(r.n) + r.dropped
	r.head, r.n, r.dropped = 0, 0, 0
	clear(r.ring)
	r.mu.Unlock()
	if n > 0 {
		r.lost.Add(context.Background(), n)
	}
}

func (r *remoteProgress) run() {
	defer close(r.done)
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		var waiter chan error
		select {
		case <-r.stop:
			r.drain(true)
			return
		case <-tick.C:
		case <-r.kick:
		case waiter = <-r.flushes:
		}
		stopping := r.drain(false)
		if waiter != nil {
			waiter <- nil
		}
		if stopping {
			return
		}
	}
}

// drain sends batches until the ring is empty. While Redis fails it
// retries what Redis did not apply, with backoff; once stopping, only
// until the stop's deadline, and what is left is counted as dropped. It
// reports whether it saw the stop.
func (r *remoteProgress) drain(stopping bool) bool {
	for {
		b := r.take()
		if len(b) == 0 {
			return stopping
		}
		r.seq++
		r.split(b)
		backoff := redisstore.MinBackoff
		for attempt := 1; ; attempt++ {
			err := r.send(r.runCtx)
			if err == nil {
				break
			}
			if r.runCtx.Err() != nil { // the stop's deadline passed
				r.lost.Add(context.Background(), int64(r.pending()))
				r.discard()
				return true
			}
			if attempt&(attempt-1) == 0 {
				otel.Handle(fmt.Errorf("customer: %s: writing %d buffered events to Redis failed (attempt %d): %w", r.name, r.pending(), attempt, err))
			}
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, progressBackoff)
			if stopping {
				wait = min(wait, 100*time.Millisecond)
			}
			stop := r.stop
			if stopping {
				stop = nil
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.runCtx.Done():
				t.Stop()
			case <-stop:
				t.Stop()
				stopping = true
			}
		}
	}
}

// split sorts batch b into its shards' parts.
func (r *remoteProgress) split(b []pevent) {
	for i := range r.parts {
		p := &r.parts[i]
		p.events, p.done = p.events[:0], false
	}
	for _, e := range b {
		p := &r.parts[shardOf(e.h)]
		p.events = append(p.events, e)
	}
	for i := range r.parts {
		p := &r.parts[i]
		p.done = len(p.events) == 0
		if !p.done {
			r.build(i, p)
		}
	}
}

// build makes the keys and arguments of part p of shard i.
func (r *remoteProgress) build(i int, p *remoteShard) {
	base := r.bases[i]
	keys := append(p.keys[:0], base+"seq:"+r.instance, base+"counts")
	clear(r.keyIdx)
	clear(r.rowIdx)
	blob := make([]byte, 0, progressRecord*len(p.events))
	args := append(p.args[:0], r.seq, r.windowUS, r.ttlMS, r.steps, boolArg(r.events), r.rules, nil)
	for _, e := range p.events {
		ki, ok := r.keyIdx[e.h]
		if !ok {
			keys = append(keys, base+"u:"+redisstore.Member(e.h))
			ki = len(keys)
			r.keyIdx[e.h] = ki
		}
		ri := 0
		if e.row != nil {
			if ri = r.rowIdx[e.row]; ri == 0 {
				args = append(args, r.rowID(e.row))
				ri = len(r.rowIdx) + 1
				r.rowIdx[e.row] = ri
			}
		}
		blob = binary.LittleEndian.AppendUint16(blob, uint16(ki))
		blob = append(blob, byte(e.k))
		blob = binary.LittleEndian.AppendUint64(blob, uint64(e.at/1e3))
		blob = binary.LittleEndian.AppendUint16(blob, uint16(ri))
	}
	args[6] = blob
	p.keys, p.args = keys, args
}

// pending is the number of events of the batch Redis has not applied.
func (r *remoteProgress) pending() int {
	n := 0
	for i := range r.parts {
		if !r.parts[i].done {
			n += len(r.parts[i].events)
		}
	}
	return n
}

// send applies the parts of the batch not yet applied, in one pipeline,
// and records the time to convert of the attempts they completed. A part
// Redis refuses for good is reported and counted as lost. It returns the
// first error of a part that may be retried.
func (r *remoteProgress) send(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, progressRoundTrip)
	defer cancel()
	for loaded := false; ; loaded = true {
		pipe := r.client.Pipeline()
		for i := range r.parts {
			if p := &r.parts[i]; !p.done {
				p.cmd = progressScript.EvalSha(ctx, pipe, p.keys, p.args...)
			}
		}
		_, _ = pipe.Exec(ctx)
		var retry error
		noScript := false
		for i := range r.parts {
			p := &r.parts[i]
			if p.done {
				continue
			}
			res, err := p.cmd.Slice()
			p.cmd = nil
			switch {
			case err == nil:
				p.done = true
				r.completed(res)
			case redis.HasErrorPrefix(err, "NOSCRIPT"):
				noScript = true
			case redisstore.Permanent(err):
				p.done = true
				otel.Handle(fmt.Errorf("customer: %s: Redis refused %d events: %w", r.name, len(p.events), err))
				r.lost.Add(context.Background(), int64(len(p.events)))
			case retry == nil:
				retry = err
			}
		}
		if !noScript || loaded {
			if noScript && retry == nil {
				retry = errors.New("script not loaded")
			}
			return retry
		}
		if err := progressScript.Load(ctx, r.client).Err(); err != nil {
			return err
		}
	}
}

// completed records the time to convert of the attempts a script call
// completed.
func (r *remoteProgress) completed(res []any) {
	if r.ttc == nil {
		return
	}
	for i := 0; i+1 < len(res); i += 2 {
		us, _ := res[i].(int64)
		id, _ := res[i+1].(string)
		if row := r.rowOf(id); row != nil {
			r.ttc.Record(context.Background(), time.Duration(us*1e3).Seconds(), row.opts.record...)
		}
	}
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// rowID is the Redis form of a row: "r" then, per dimension, the length of
// the value, ":" and the value. Replicas agree on it; row indexes differ.
func (r *remoteProgress) rowID(row *row) string {
	r.idMu.Lock()
	defer r.idMu.Unlock()
	if id, ok := r.ids[row]; ok {
		return id
	}
	var sb strings.Builder
	sb.WriteByte('r')
	for j, d := range r.rows.dims {
		v := d.value(row.key[j])
		sb.WriteString(strconv.Itoa(len(v)))
		sb.WriteByte(':')
		sb.WriteString(v)
	}
	id := sb.String()
	r.ids[row] = id
	r.byID[id] = row
	return id
}

// rowOf is the row of a Redis row id, created when this replica has not
// seen it; nil for a malformed id.
func (r *remoteProgress) rowOf(id string) *row {
	r.idMu.Lock()
	defer r.idMu.Unlock()
	if row, ok := r.byID[id]; ok {
		return row
	}
	rest, ok := strings.CutPrefix(id, "r")
	if !ok {
		return nil
	}
	values := make([]string, 0, len(r.rows.dims))
	for range r.rows.dims {
		l, tail, ok := strings.Cut(rest, ":")
		n, err := strconv.Atoi(l)
		if !ok || err != nil || n < 0 || n > len(tail) {
			return nil
		}
		values = append(values, tail[:n])
		rest = tail[n:]
	}
	if rest != "" {
		return nil
	}
	k, _, _ := r.rows.key(values)
	row := r.rows.get(k)
	r.byID[id] = row
	if _, ok := r.ids[row]; !ok {
		r.ids[row] = id
	}
	return row
}

// remoteCounts are the global counts of one row.
type remoteCounts struct {
	users, events [MaxSteps]int64
}

// read returns the global counts per row, in the row table's order: the
// sum of every shard's counts hash, read in one pipeline.
func (r *remoteProgress) read(ctx context.Context) ([]*row, map[*row]*remoteCounts, error) {
	ctx, cancel := redisstore.Bound(ctx)
	defer cancel()
	pipe := r.client.Pipeline()
	var cmds [progressShards]*redis.MapStringStringCmd
	for i, base := range r.bases {
		cmds[i] = pipe.HGetAll(ctx, base+"counts")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("customer: %s: reading Redis: %w", r.name, err)
	}
	counts := make(map[*row]*remoteCounts)
	for _, cmd := range cmds {
		for f, v := range cmd.Val() {
			kind, rest := f[:min(1, len(f))], f[min(1, len(f)):]
			ks, id, ok := strings.Cut(rest, ":")
			k, err := strconv.Atoi(ks)
			n, err2 := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil || err2 != nil || k < 0 || k >= r.steps || (kind != "u" && kind != "e") {
				continue
			}
			row := r.rowOf(id)
			if row == nil {
				continue
			}
			c := counts[row]
			if c == nil {
				c = new(remoteCounts)
				counts[row] = c
			}
			if kind == "u" {
				c.users[k] += n
			} else {
				c.events[k] += n
			}
		}
	}
	var rows []*row
	r.rows.each(func(row *row) {
		if counts[row] != nil {
			rows = append(rows, row)
		}
	})
	return rows, counts, nil
}

// flush waits until every event buffered before the call was sent, or ctx
// ends.
func (r *remoteProgress) flush(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case r.flushes <- ch:
	case <-r.done:
		return errors.New("customer: recorder closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close closes the client when the recorder made it; call it after halt.
func (r *remoteProgress) close() error {
	r.clientMu.Lock()
	defer r.clientMu.Unlock()
	if r.own && !r.clientClosed {
		r.clientClosed = true
		return r.client.Close()
	}
	return nil
}

// halt stops the buffer and the flusher (see stopFlusher): events pushed
// from then on are dropped with reason closed; those buffered before that
// the flusher could not write are counted as store_unavailable.
func (r *remoteProgress) halt(ctx context.Context) {
	r.mu.Lock()
	r.halted = true
	r.mu.Unlock()
	r.stopFlusher(ctx)
	r.discard()
}

// stopFlusher stops the flusher after it wrote what it could until ctx
// ended. When ctx ends first, the flusher's round trip in flight is
// cancelled (a client of WithRedisClient without ContextTimeoutEnabled
// ends it by its own read timeout) and the recorder's own client closed.
func (r *remoteProgress) stopFlusher(ctx context.Context) {
	r.stopOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancel()
		_ = r.close()
		<-r.done
	}
	r.cancel()
}

// pushRemote buffers a validated event for Redis. now and at are Unix ns.
// It reports false when the event was dropped as late; one that reaches
// the buffer is accepted, even if a full buffer drops it later.
func (s *progressStore) pushRemote(ctx context.Context, now, at int64, user string, k int, segs []string) bool {
	wm := s.wm.Load()
	if at < wm-s.window {
		s.drops.late.Add(ctx, 1)
		return false
	}
	if w := min(at, now); w > wm+s.gran {
		s.advanceWatermark(w)
	}
	h := sketch.Hash(user)
	var r *row
	if startsAttempt(k, s.order) {
		sh := &s.shards[h%numShards]
		sh.mu.Lock()
		r = s.rowFor(ctx, sh, segs)
		sh.mu.Unlock()
	}
	return s.remote.push(pevent{h: h, at: at, row: r, k: int32(k)})
}
