package customer

import (
	"context"
	crand "crypto/rand"
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

// This file keeps the progress of funnels and goals in Redis (WithRedis),
// shared by replicas.
//
// Recording validates the event as the memory store does (user, step,
// future, late against this replica's watermark), resolves the segment row
// when the event may start an attempt, and appends a fixed-size record to
// a bounded ring: no network, no allocation. One flusher goroutine sends
// the ring in batches to progressScript, which applies the rules of place
// and advance to a per-user string "start|mask|ended|row" and increments
// the global counters, summed per batch, in one hash per recorder.
// Collection reads that hash with one HGETALL.

// progressScript applies a batch of events. ARGV: key base, instance,
// batch sequence, window (µs), user-key TTL (ms), order, steps, count
// events (1/0), then per event: user member, step, event time (µs), row id
// ("" when the event cannot start an attempt). It returns {-1} for a batch
// already applied, otherwise (elapsed µs, row id) per completed attempt.
//
// Times are kept as the strings received: Lua numbers are doubles, exact
// for µs up to 2^53, but printed with 14 digits. Counter increments are
// summed per batch and written once per field.
var progressScript = redis.NewScript(`
local base, inst = ARGV[1], ARGV[2]
local seqKey = base .. 'seq:' .. inst
local last = tonumber(redis.call('GET', seqKey) or '0')
if tonumber(ARGV[3]) <= last then return {-1} end
redis.call('SET', seqKey, ARGV[3], 'EX', 604800)
local window, ttl = tonumber(ARGV[4]), ARGV[5]
local order, n, events = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
local counts = base .. 'counts'
local full = 2 ^ n - 1
local function has(mask, k) return math.floor(mask / 2 ^ k) % 2 == 1 end
local function leading(mask)
  local c = 0
  while has(mask, c) do c = c + 1 end
  return c
end
local call = redis.call
local out, inc = {}, {}
local function add(f) inc[f] = (inc[f] or 0) + 1 end
for i = 9, #ARGV, 4 do
  local ukey = base .. 'u:' .. ARGV[i]
  local k, at, rid = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  local cur = call('GET', ukey)
  local start, mask, ended, arow
  if cur then
    local s, m, e, r = string.match(cur, '^(%d+)|(%d+)|(%d)|(.*)$')
    start, mask, ended, arow = tonumber(s), tonumber(m), e == '1', r
  end
  -- place: an event before the start counts as at the start; it joins
  -- the attempt within [start, start + window), else it may start one.
  local active, fresh = false, false
  if start then
    if at < start then at = start end
    active = at - start < window
  end
  if not active and (k == 0 or order == 1) and rid ~= '' then
    start, mask, ended, arow = at, 0, false, rid
    active, fresh = true, true
  end
  local reached, broke = false, false
  if active and not ended then
    local counted = false
    if order == 1 then
      counted = true
      reached = not has(mask, k)
    else
      local nx = leading(mask)
      if k == nx then
        reached, counted = true, true
      elseif order == 2 then
        if k == nx - 1 then counted = true else broke = true end
      elseif k < nx then
        counted = true
      end
    end
    if counted and events then add('e' .. k .. ':' .. arow) end
    if reached then
      mask = mask + 2 ^ k
      add('u' .. k .. ':' .. arow)
      if mask == full then
        out[#out + 1] = at - start
        out[#out + 1] = arow
      end
    end
  end
  if fresh then
    call('SET', ukey, ARGV[i + 2] .. '|' .. mask .. '|' .. (broke and '1' or '0') .. '|' .. rid, 'PX', ttl)
  elseif reached or broke then
    call('SET', ukey, string.match(cur, '^%d+|') .. mask .. '|' .. (broke and '1' or '0') .. '|' .. arow, 'KEEPTTL')
  end
end
for f, v in pairs(inc) do call('HINCRBY', counts, f, v) end
return out
`)

const (
	progressBatch    = 512
	progressInterval = 100 * time.Millisecond
	progressBackoff  = 5 * time.Second
)

// pevent is one buffered event.
type pevent struct {
	h   uint64 // sketch.Hash of the user id
	at  int64  // event time, Unix ns
	row *row   // nil: the event cannot start an attempt
	k   int32
}

// remoteProgress is the Redis side of a funnel or goal.
type remoteProgress struct {
	client   redis.UniversalClient
	own      bool
	base     string // prefix + "funnel:" or "goal:" + name + ":"
	instance string
	windowUS int64
	ttlMS    int64
	order    Order
	steps    int
	events   bool
	rows     *rowTable
	ttc      metric.Float64Histogram
	lost     selfobs.Reason // events Redis did not take
	closed   selfobs.Reason // events that came after the flusher stopped

	mu      sync.Mutex
	ring    []pevent
	mask    int
	head, n int
	dropped int64 // dropped and not yet counted; guarded by mu
	halted  bool  // the flusher has stopped; guarded by mu

	clientClosed bool // by close; Shutdown only

	kick     chan struct{}
	flushes  chan chan error
	stop     chan struct{}
	stopCtx  context.Context // set before stop is closed
	stopOnce sync.Once
	done     chan struct{}

	idMu  sync.Mutex
	ids   map[*row]string
	byID  map[string]*row
	seq   uint64 // last batch applied; flusher only
	batch []pevent
	args  []any
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
		base:     prefix + kind + ":" + name + ":",
		instance: hex.EncodeToString(id[:]),
		windowUS: max(int64(c.window)/1e3, 1),
		ttlMS:    max(2*int64(c.window)/1e6, 1000),
		order:    c.order,
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
	}
	go r.run()
	return r, nil
}

// push buffers one event; when the ring is full the oldest is dropped.
// An event pushed after the flusher stopped is dropped: push reports
// false.
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
	full := r.n == progressBatch
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
// retries the same batch with backoff; once stopping, only until the stop
// context ends, and what is left is counted as dropped. It reports whether
// it saw the stop.
func (r *remoteProgress) drain(stopping bool) bool {
	ctx := context.Background()
	if stopping {
		ctx = r.stopCtx
	}
	for {
		b := r.take()
		if len(b) == 0 {
			return stopping
		}
		seq := r.seq + 1
		backoff := redisstore.MinBackoff
		for attempt := 1; ; attempt++ {
			err := r.send(ctx, seq, b)
			if err == nil {
				r.seq = seq
				break
			}
			if redisstore.Permanent(err) {
				r.seq = seq
				otel.Handle(fmt.Errorf("customer: %s: Redis refused %d events: %w", r.what(), len(b), err))
				r.lost.Add(context.Background(), int64(len(b)))
				break
			}
			if stopping && ctx.Err() != nil {
				r.mu.Lock()
				n := int64(r.n)
				r.head, r.n = 0, 0
				clear(r.ring)
				r.mu.Unlock()
				r.lost.Add(context.Background(), n+int64(len(b)))
				return true
			}
			if attempt&(attempt-1) == 0 {
				otel.Handle(fmt.Errorf("customer: %s: writing %d buffered events to Redis failed (attempt %d): %w", r.what(), len(b), attempt, err))
			}
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, progressBackoff)
			if stopping {
				wait = min(wait, 10*time.Millisecond)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.stop:
				t.Stop()
				if !stopping {
					stopping, ctx = true, r.stopCtx
				}
			}
		}
	}
}

func (r *remoteProgress) what() string {
	return strings.TrimSuffix(r.base, ":")
}

// send applies one batch with the script and records the time to convert
// of the attempts it completed.
func (r *remoteProgress) send(ctx context.Context, seq uint64, b []pevent) error {
	ctx, cancel := redisstore.Bound(ctx)
	defer cancel()
	args := append(r.args[:0], r.base, r.instance, strconv.FormatUint(seq, 10),
		r.windowUS, r.ttlMS, int(r.order), r.steps, boolArg(r.events))
	for _, e := range b {
		rid := ""
		if e.row != nil {
			rid = r.rowID(e.row)
		}
		args = append(args, redisstore.Member(e.h), int(e.k), e.at/1e3, rid)
	}
	r.args = args
	res, err := progressScript.Run(ctx, r.client, nil, args...).Slice()
	if err != nil {
		return err
	}
	if r.ttc == nil {
		return nil
	}
	for i := 0; i+1 < len(res); i += 2 {
		us, _ := res[i].(int64)
		id, _ := res[i+1].(string)
		if row := r.rowOf(id); row != nil {
			r.ttc.Record(context.Background(), time.Duration(us*1e3).Seconds(), row.opts.record...)
		}
	}
	return nil
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

// read returns the global counts per row, in the row table's order.
func (r *remoteProgress) read(ctx context.Context) ([]*row, map[*row]*remoteCounts, error) {
	ctx, cancel := redisstore.Bound(ctx)
	defer cancel()
	m, err := r.client.HGetAll(ctx, r.base+"counts").Result()
	if err != nil {
		return nil, nil, fmt.Errorf("customer: %s: reading Redis: %w", r.what(), err)
	}
	counts := make(map[*row]*remoteCounts)
	for f, v := range m {
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
	if r.own && !r.clientClosed {
		r.clientClosed = true
		return r.client.Close()
	}
	return nil
}

// halt stops the flusher (see stopFlusher) and the buffer: events pushed
// after the flusher's last batch, and from then on, are dropped with
// reason closed; those it could not write were counted as
// store_unavailable.
func (r *remoteProgress) halt(ctx context.Context) {
	r.stopFlusher(ctx)
	r.mu.Lock()
	n, d := int64(r.n), r.dropped
	r.halted, r.n, r.dropped = true, 0, 0
	clear(r.ring)
	r.mu.Unlock()
	if n > 0 {
		r.closed.Add(context.Background(), n)
	}
	if d > 0 {
		r.lost.Add(context.Background(), d)
	}
}

// stopFlusher stops the flusher after it wrote what it could until ctx
// ended. When ctx ends first, the recorder's own client is closed, which
// ends a round trip in flight; one on a client of WithRedisClient ends by
// redisstore.Timeout.
func (r *remoteProgress) stopFlusher(ctx context.Context) {
	r.stopOnce.Do(func() {
		r.stopCtx = ctx
		close(r.stop)
	})
	select {
	case <-r.done:
	case <-ctx.Done():
		_ = r.close()
		<-r.done
	}
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
