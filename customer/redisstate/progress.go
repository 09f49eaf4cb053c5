package redisstate

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file keeps the progress of funnels and goals, shared by replicas.
//
// The recorder validates an event, resolves its segment row when the
// event may start an attempt, and pushes it: Push appends a fixed-size
// record to a bounded ring, with no network and no allocation. One
// flusher goroutine takes up to progressBatch events at a time, splits
// them by the user's shard and sends one progressScript call per shard,
// all in one pipeline (a cluster client sends each node its part, the
// nodes in parallel).
//
// The state of a recorder is split into progressShards shards by the hash
// of the user id. Every key of a shard carries the shard's hash tag, so
// that one script call touches one slot, and names every key it touches
// in KEYS:
//
//	prefix{f:NAME:SHARD}:u:MEMBER   a user's attempt (start, mask, flags,
//	                                [impaired steps], row)
//	prefix{f:NAME:SHARD}:counts     counters "u<step>:<row>", "e<step>:<row>",
//	                                "j<step>:<row>" (impaired attempts that
//	                                reached the step), "i<step>:<len>:<error
//	                                type><row>" (attempts impaired at the step)
//	prefix{f:NAME:SHARD}:seq:ID     last batch of recorder instance ID applied
//	prefix{f:NAME:SHARD}:e:MEMBER   with entries by period (EntryRules): the
//	                                user's entries (see progressScript)
//
// With entries by period the counts hash also holds "p<period>:<step>:<row>"
// (users counted at the step or further by entry period) and "ptop" (the
// latest entry period, whose arrival deletes the fields a horizon older).
//
// ("g:" for goals). Read sums the counts hashes of every shard.

const (
	progressShards    = 16   // shards of a recorder's state
	progressBatch     = 4096 // events per flush at most
	progressInterval  = 100 * time.Millisecond
	progressBackoff   = 5 * time.Second
	progressRoundTrip = 500 * time.Millisecond // bound of one flush's round trip
	readTimeout       = 5 * time.Second        // bound of a Read without an earlier deadline
)

// errClosed is returned by Flush after Shutdown.
var errClosed = errors.New("redisstate: recorder closed")

// NewProgress implements shared.Backend: the state of a funnel or a goal,
// whose flusher goroutine runs until its Shutdown. A nil store and a
// configuration that cannot work are errors.
func (s *Store) NewProgress(cfg shared.ProgressConfig) (shared.Progress, error) {
	if s == nil {
		return nil, errors.New("redisstate: nil store")
	}
	if err := checkProgress(cfg); err != nil {
		return nil, err
	}
	return newProgress(s, cfg), nil
}

// checkProgress validates cfg, naming every bad value.
func checkProgress(cfg shared.ProgressConfig) error {
	var errs []error
	if cfg.Kind != shared.FunnelProgress && cfg.Kind != shared.GoalProgress {
		errs = append(errs, fmt.Errorf("redisstate: unknown progress kind %d", cfg.Kind))
	}
	if cfg.Name == "" {
		errs = append(errs, errors.New("redisstate: empty recorder name"))
	}
	if cfg.Steps < 1 || cfg.Steps > shared.MaxProgressSteps {
		errs = append(errs, fmt.Errorf("redisstate: %d steps, want 1 to %d", cfg.Steps, shared.MaxProgressSteps))
	}
	if cfg.Window <= 0 {
		errs = append(errs, fmt.Errorf("redisstate: window %v is not positive", cfg.Window))
	}
	ok := len(cfg.Rules) == 2*shared.RuleClasses
	for i := 0; ok && i < len(cfg.Rules); i++ {
		ok = cfg.Rules[i] >= '0' && cfg.Rules[i] <= '7'
	}
	if !ok {
		errs = append(errs, fmt.Errorf("redisstate: rule table %q, want %d digits 0 to 7", cfg.Rules, 2*shared.RuleClasses))
	}
	if e := cfg.Entries; e != nil {
		if e.PeriodOf == nil {
			errs = append(errs, errors.New("redisstate: entries by period without PeriodOf"))
		}
		if e.Horizon < 1 {
			errs = append(errs, fmt.Errorf("redisstate: entries by period with a horizon of %d", e.Horizon))
		}
		if cfg.Steps+len(e.Exclusions) > maxEntrySteps {
			errs = append(errs, fmt.Errorf("redisstate: %d steps and %d exclusions, at most %d in all", cfg.Steps, len(e.Exclusions), maxEntrySteps))
		}
		for _, x := range e.Exclusions {
			if x[0] < 0 || x[0] >= x[1] || x[1] >= cfg.Steps {
				errs = append(errs, fmt.Errorf("redisstate: exclusion between steps %d and %d of %d", x[0], x[1], cfg.Steps))
			}
		}
	}
	return errors.Join(errs...)
}

// pevent is one buffered event: a step, or a failure that impairs the
// user's attempt.
type pevent struct {
	h      uint64 // hash of the user id
	at     int64  // event time, Unix ns
	row    string // "": the event cannot start an attempt
	k      int32  // step; shared.ImpairFurthest for a failure at the furthest step
	q      int32  // with entries: period, or -1-period for an event that may not enter
	impair bool   // a failure, of error type typ
	typ    uint8
}

// maxEntrySteps bounds steps plus exclusions: a record's step byte holds
// both below 128, where failures start.
const maxEntrySteps = 127

// shardOf is the shard of a user hash: other bits than the recorders'
// in-memory shards use.
func shardOf(h uint64) int { return int((h >> 32) % progressShards) }

// progressShard is the part of a batch for one shard.
type progressShard struct {
	events []pevent
	done   bool // Redis applied it (or refused it for good)
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// progress is the Redis state of a funnel or goal.
type progress struct {
	client    redis.UniversalClient
	name      string                 // "funnel NAME" or "goal NAME", for errors
	bases     [progressShards]string // prefix + "{f:NAME:SHARD}:"
	instance  string
	windowUS  int64
	ttlMS     int64
	rules     string
	steps     int
	events    bool
	completed func(row string, elapsed time.Duration)
	errorType func(i int) string
	entries   *shared.EntryRules // nil: no entries by period
	entryConf string             // the entry rules, as progressScript reads them, less the cut
	entryTTL  int64              // ms
	latest    int64              // latest event time sent, Unix ns; the flusher's
	lost      selfobs.Reason     // events Redis did not take
	closed    selfobs.Reason     // events pushed after Shutdown began

	mu      sync.Mutex
	ring    []pevent
	mask    int
	head, n int
	dropped int64 // dropped and not yet counted; guarded by mu
	halted  bool  // closing: no more events; guarded by mu

	kick      chan struct{}
	flushes   chan chan error
	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
	runCtx    context.Context // ends when Shutdown's context does
	stopBy    atomic.Int64    // Unix ns of Shutdown's deadline; 0: none
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	// Flusher only.
	seq    uint64 // last batch sequence used
	batch  []pevent
	parts  [progressShards]progressShard
	keyIdx map[uint64]int
	rowIdx map[string]int
}

func newProgress(s *Store, cfg shared.ProgressConfig) *progress {
	var id [8]byte
	_, _ = crand.Read(id[:])
	kind := cfg.Kind.String()
	p := &progress{
		client:    s.client,
		name:      kind + " " + strconv.Quote(cfg.Name),
		instance:  hex.EncodeToString(id[:]),
		windowUS:  max(int64(cfg.Window)/1e3, 1),
		ttlMS:     max(2*int64(cfg.Window)/1e6, 1000),
		rules:     cfg.Rules,
		steps:     cfg.Steps,
		events:    cfg.CountEvents,
		completed: cfg.Completed,
		errorType: cfg.ErrorType,
		entries:   cfg.Entries,
		lost:      cfg.Unavailable,
		closed:    cfg.Closed,
		ring:      make([]pevent, s.bufferSize),
		mask:      s.bufferSize - 1,
		kick:      make(chan struct{}, 1),
		flushes:   make(chan chan error),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		batch:     make([]pevent, 0, progressBatch),
		keyIdx:    make(map[uint64]int),
		rowIdx:    make(map[string]int),
	}
	for i := range p.bases {
		p.bases[i] = s.prefix + "{" + kind[:1] + ":" + cfg.Name + ":" + strconv.Itoa(i) + "}:"
	}
	if e := cfg.Entries; e != nil {
		// Entries live until no accepted event reaches them: two windows
		// after their period, which is at most 31 days long.
		p.entryTTL = (2*int64(cfg.Window) + 32*24*int64(time.Hour)) / 1e6
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d|%d|%d|", e.Order, p.entryTTL, e.Horizon)
		for i, x := range e.Exclusions {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%d-%d", x[0], x[1])
		}
		p.entryConf = sb.String()
	}
	p.runCtx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p
}

// Push buffers one event; when the ring is full the oldest is dropped.
// An event pushed once closing began is dropped: Push reports false.
func (p *progress) Push(user uint64, at int64, step int, row string) bool {
	return p.push(pevent{h: user, at: at, row: row, k: int32(step)})
}

// PushEntry buffers one event of a state with entries by period.
func (p *progress) PushEntry(user uint64, at int64, step int, row string, period int64) bool {
	if p.entries == nil || step < 0 || step >= p.steps+len(p.entries.Exclusions) {
		return p.Push(user, at, step, row)
	}
	return p.push(pevent{h: user, at: at, row: row, k: int32(step), q: int32(max(min(period, 1<<31-1), -1<<31))})
}

// maxErrorType is the largest error type index a failure carries (a
// funnel has far fewer); a larger one is taken as it.
const maxErrorType = 255

// Impair buffers a failure in the ring of the events, so that it applies
// in order with them. One pushed once closing began is dropped, and not
// counted: it is no event.
func (p *progress) Impair(user uint64, at int64, step int, errType int) bool {
	if step < shared.ImpairFurthest || step == -1 || step >= p.steps {
		return true // a step the state does not have: nothing to impair
	}
	return p.push(pevent{h: user, at: at, k: int32(step), impair: true, typ: uint8(min(max(errType, 0), maxErrorType))})
}

func (p *progress) push(e pevent) bool {
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		if !e.impair {
			p.closed.Add(context.Background(), 1)
		}
		return false
	}
	if p.n == len(p.ring) {
		p.head = (p.head + 1) & p.mask
		p.n--
		p.dropped++
	}
	p.ring[(p.head+p.n)&p.mask] = e
	p.n++
	full := p.n == min(progressBatch, len(p.ring))
	p.mu.Unlock()
	if full {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// take moves up to a batch of events out of the ring and counts the drops.
func (p *progress) take() []pevent {
	p.mu.Lock()
	m := min(p.n, progressBatch)
	b := p.batch[:0]
	for i := range m {
		b = append(b, p.ring[(p.head+i)&p.mask])
		p.ring[(p.head+i)&p.mask] = pevent{}
	}
	p.head = (p.head + m) & p.mask
	p.n -= m
	d := p.dropped
	p.dropped = 0
	p.mu.Unlock()
	if d > 0 {
		p.lost.Add(context.Background(), d)
	}
	return b
}

// discard empties the ring and counts what it held, and the drops not yet
// counted, as lost.
func (p *progress) discard() {
	p.mu.Lock()
	n := int64(p.n) + p.dropped
	p.head, p.n, p.dropped = 0, 0, 0
	clear(p.ring)
	p.mu.Unlock()
	if n > 0 {
		p.lost.Add(context.Background(), n)
	}
}

func (p *progress) run() {
	defer close(p.done)
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		var waiter chan error
		select {
		case <-p.stop:
			p.drain(true)
			return
		case <-tick.C:
		case <-p.kick:
		case waiter = <-p.flushes:
		}
		stopping := p.drain(false)
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
// until Shutdown's context ends, and what is left is counted as lost. It
// reports whether it saw the stop.
func (p *progress) drain(stopping bool) bool {
	for {
		b := p.take()
		if len(b) == 0 {
			return stopping
		}
		p.seq++
		p.split(b)
		backoff := redisstore.Backoff{Max: progressBackoff}
		for attempt := 1; ; attempt++ {
			err := p.send(p.runCtx)
			if err == nil {
				break
			}
			if p.runCtx.Err() != nil { // Shutdown's context ended
				p.lost.Add(context.Background(), int64(p.pending()))
				p.discard()
				return true
			}
			if attempt&(attempt-1) == 0 {
				otel.Handle(fmt.Errorf("redisstate: %s: writing %d buffered events to Redis failed (attempt %d): %w", p.name, p.pending(), attempt, err))
			}
			wait := backoff.Next()
			if stopping {
				wait = min(wait, 100*time.Millisecond)
			}
			stop := p.stop
			if stopping {
				stop = nil
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.runCtx.Done():
				t.Stop()
			case <-stop:
				t.Stop()
				stopping = true
			}
		}
	}
}

// Read returns the global counts per row id: the sum of every shard's
// counts hash, read in one pipeline, within 5 seconds unless ctx ends
// earlier.
func (p *progress) Read(ctx context.Context) (map[string]*shared.ProgressCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	pipe := p.client.Pipeline()
	var cmds [progressShards]*redis.MapStringStringCmd
	for i, base := range p.bases {
		cmds[i] = pipe.HGetAll(ctx, base+"counts")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstate: %s: reading Redis: %w", p.name, err)
	}
	counts := make(map[string]*shared.ProgressCounts)
	row := func(id string) *shared.ProgressCounts {
		c := counts[id]
		if c == nil {
			c = new(shared.ProgressCounts)
			counts[id] = c
		}
		return c
	}
	for _, cmd := range cmds {
		for f, v := range cmd.Val() {
			if q, k, id, ok := periodField(f, p.steps); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					continue
				}
				shared.StepCounts(&row(id).Periods, q)[k] += n
				continue
			}
			kind, rest := f[:min(1, len(f))], f[min(1, len(f)):]
			ks, id, ok := strings.Cut(rest, ":")
			k, err := strconv.Atoi(ks)
			n, err2 := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil || err2 != nil || k < 0 || k >= p.steps {
				continue
			}
			switch kind {
			case "u":
				row(id).Users[k] += n
			case "e":
				row(id).Events[k] += n
			case "j":
				row(id).ImpairedSteps[k] += n
			case "i":
				// "<len>:<error type><row>"
				ls, tail, ok := strings.Cut(id, ":")
				l, err := strconv.Atoi(ls)
				if !ok || err != nil || l < 0 || l > len(tail) {
					continue
				}
				shared.StepCounts(&row(tail[l:]).Impaired, tail[:l])[k] += n
			}
		}
	}
	return counts, nil
}

// Flush waits until every event buffered before the call was written, or
// ctx ends.
func (p *progress) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case p.flushes <- ch:
	case <-p.done:
		return errClosed
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

// Shutdown stops the buffer and the flusher: events pushed from then on
// are dropped as closed; those buffered that the flusher could not write
// before ctx ended are counted as lost. When ctx ends first, the round
// trip in flight is cancelled (the client honours context deadlines).
func (p *progress) Shutdown(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.halted = true
		p.mu.Unlock()
		p.stopFlusher(ctx)
		p.discard()
		p.closeErr = ctx.Err()
	})
	return p.closeErr
}

// stopFlusher stops the flusher after it wrote what it could until ctx
// ended.
func (p *progress) stopFlusher(ctx context.Context) {
	if d, ok := ctx.Deadline(); ok {
		p.stopBy.Store(d.UnixNano())
	}
	p.stopOnce.Do(func() { close(p.stop) })
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	p.cancel()
}

// periodField parses a counts field "p<period>:<step>:<row>" of a state
// with steps steps.
func periodField(f string, steps int) (q int64, k int, id string, ok bool) {
	rest, ok := strings.CutPrefix(f, "p")
	if !ok {
		return 0, 0, "", false
	}
	qs, rest, ok1 := strings.Cut(rest, ":")
	ks, id, ok2 := strings.Cut(rest, ":")
	q, err1 := strconv.ParseInt(qs, 10, 64)
	k, err2 := strconv.Atoi(ks)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || k < 0 || k >= steps {
		return 0, 0, "", false
	}
	return q, k, id, true
}
