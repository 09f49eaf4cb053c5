package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/bits"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"
)

// minTabEntries is the least number of buffered PFADDs de-duplicated.
const minTabEntries = 4096

// ErrClosed is returned by [Store.Flush] after [Store.Shutdown].
var ErrClosed = errors.New("redisstore: store is shut down")

// Key is a prefixed Redis key with its precomputed hash. Make keys with
// [Store.Key] off the hot path (at construction, or once per period) and
// keep them; the zero Key is the key "" without prefix.
type Key struct {
	name   string
	h      uint64
	sparse bool // has a companion: see SparseKey
}

// String returns the full Redis key, prefix included.
func (k Key) String() string { return k.name }

type op uint8

const (
	opPFAdd op = iota + 1
	opSetNX
	opIncrBy
	opExpire
	opSparse
)

// record is one buffered command: a fixed-size value that holds the key's
// string header (no copy) and no other pointer. The commands of one event
// are contiguous in the buffer, the first carrying their number in ev, and
// are taken and dropped together.
type record struct {
	key    string
	v      int64  // PFADD: member hash; SET: value; INCRBY: increment; sparse: the operation
	aux    uint64 // PFADD: de-duplication hash; SET, EXPIRE: ttl in ns
	op     op
	tab    bool  // PFADD: aux is in the de-duplication table
	sparse bool  // key has a companion (SparseSuffix)
	full   bool  // PFADD: the companion is full, PFADD need not go through sparseScript
	ev     uint8 // first command of its event: the event's number of commands; else 0
}

// Stats are the store's counts since [New]. Commands are counted one by
// one; Lost counts events, each the commands buffered by one call.
type Stats struct {
	Enqueued     uint64 // commands accepted into the buffer
	Deduplicated uint64 // PFADDs not buffered: the same key and member were waiting
	Written      uint64 // commands written to Redis
	Dropped      uint64 // commands lost because Redis could not take them
	Lost         uint64 // events whose commands were dropped: what the drop counter counts
	Rejected     uint64 // commands Redis answered with an error (reported, not retried)
	Pending      int    // commands waiting in the buffer now
}

// Store buffers writes for Redis and writes them from one goroutine. See
// the package documentation.
type Store struct {
	client   redis.UniversalClient
	cfg      config
	instance string // random id of this store, for the INCRBY guard

	mu           sync.Mutex
	ring         []record
	mask         int
	head, n      int
	tab          []uint64 // PFADD de-duplication hashes of buffered events
	tmask        uint64
	tabN         int // hashes in tab
	tabMax       int // at most tabMax hashes: half of tab's slots
	kicked       bool
	closed       bool
	st           Stats
	inflight     uint64        // events of the batch the flusher took
	inflightCmds uint64        // commands of that batch
	abandoned    bool          // Shutdown counted the buffer and the batch as dropped
	settled      uint64        // events written, dropped or rejected
	progress     chan struct{} // closed and replaced when settled moves

	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	runCtx    context.Context
	cancelRun context.CancelFunc

	// flusher-only state
	reported uint64 // drops already added to cfg.drop
	seq      uint64 // sequence of batches with increments
	batch    []record
	scratch  scratch
}

// New returns a store and starts its flusher goroutine; stop it with
// [Store.Shutdown]. It does not contact Redis: an unreachable server shows
// as buffered, then dropped, events and errors reported through the OTel
// error handler, never as a failed start.
func New(opts ...Option) (*Store, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	size := 1 << bits.Len(uint(c.bufferSize-1))
	if c.batchSize > size {
		c.batchSize = size
	}
	// The de-duplication table covers a few batches, not the whole buffer,
	// so that it stays in the CPU cache; during an outage events beyond it
	// are buffered without de-duplication.
	tabMax := min(size, max(4*c.batchSize, minTabEntries))
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Store{
		client:   c.client,
		cfg:      c,
		instance: hex.EncodeToString(id[:]),
		ring:     make([]record, size),
		mask:     size - 1,
		tab:      make([]uint64, 2*tabMax),
		tmask:    uint64(2*tabMax - 1),
		tabMax:   tabMax,
		progress: make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		batch:    make([]record, 0, c.batchSize),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Key returns the key prefix+name. It allocates; keep the result.
func (s *Store) Key(name string) Key {
	full := name
	if s != nil {
		full = s.cfg.prefix + name
	}
	return Key{name: full, h: xxhash.Sum64String(full)}
}

// Prefix returns the key prefix of [WithKeyPrefix].
func (s *Store) Prefix() string { return s.cfg.prefix }

// Client returns the Redis client the store writes through.
func (s *Store) Client() redis.UniversalClient { return s.client }

// PFAdd buffers PFADD k member, where member is the 16 lower-case hex
// digits of h, a user's [sketch.Hash]. It is dropped when the same k and h
// are already waiting in the buffer.
//
// [sketch.Hash]: github.com/kpikit/kpikit/internal/sketch.Hash
func (s *Store) PFAdd(k Key, h uint64) {
	d := k.h*0x9e3779b97f4a7c15 ^ h
	if d == 0 {
		d = 1
	}
	s.push(record{key: k.name, v: int64(h), aux: d, op: opPFAdd, sparse: k.sparse})
}

// maxEventKeys is the most keys one event of [Store.PFAddEach] takes.
const maxEventKeys = 8

// PFAddEach buffers PFADD k member for each of keys (at most 8) as one
// event: its commands are kept, written and dropped together, and
// dropping them counts one event on the drop counter. A command whose key
// and member are already waiting is not buffered again; an event left
// without a command makes no entry (what it needed is waiting, and is
// counted with the event that buffered it if dropped).
func (s *Store) PFAddEach(h uint64, keys ...Key) {
	if s == nil || len(keys) == 0 {
		return
	}
	var rs [maxEventKeys]record
	n := 0
	for _, k := range keys[:min(len(keys), maxEventKeys)] {
		d := k.h*0x9e3779b97f4a7c15 ^ h
		if d == 0 {
			d = 1
		}
		rs[n] = record{key: k.name, v: int64(h), aux: d, op: opPFAdd, sparse: k.sparse}
		n++
	}
	s.pushEvent(rs[:n])
}

// SetNX buffers SET k value NX with an expiry of ttl; zero ttl uses the
// store's [WithTTL], and no expiry when that is zero too.
func (s *Store) SetNX(k Key, value int64, ttl time.Duration) {
	s.push(record{key: k.name, v: value, aux: uint64(max(ttl, 0)), op: opSetNX})
}

// IncrBy buffers INCRBY k n. Increments of one key are summed per flush
// and applied exactly once, also when a flush is retried.
func (s *Store) IncrBy(k Key, n int64) {
	if n != 0 {
		s.push(record{key: k.name, v: n, op: opIncrBy})
	}
}

// Expire buffers EXPIRE k ttl (rounded down to seconds, at least one),
// written after the other commands of its flush.
func (s *Store) Expire(k Key, ttl time.Duration) {
	s.push(record{key: k.name, aux: uint64(max(ttl, time.Second)), op: opExpire})
}

func (s *Store) push(r record) {
	if s == nil {
		return
	}
	s.pushEvent([]record{r})
}

// pushEvent buffers the commands of one event, less those de-duplicated,
// dropping the oldest events to make room; after Shutdown, or when the
// event is larger than the buffer, it drops the event.
func (s *Store) pushEvent(rs []record) {
	s.mu.Lock()
	if s.closed {
		s.st.Dropped += uint64(len(rs))
		s.st.Lost++
		s.reported++ // counted here, not by reportDrops
		s.mu.Unlock()
		s.cfg.drop.Add(context.Background(), 1)
		return
	}
	k := 0
	for _, r := range rs {
		if r.op == opPFAdd && s.tabN < s.tabMax {
			if !s.tabInsert(r.aux) {
				s.st.Deduplicated++
				continue
			}
			r.tab = true
		}
		rs[k] = r
		k++
	}
	if k > len(s.ring) {
		for _, r := range rs[:k] {
			if r.tab {
				s.tabDelete(r.aux)
			}
		}
		s.st.Dropped += uint64(k)
		s.st.Lost++
		s.mu.Unlock()
		return // counted by the flusher's next reportDrops
	}
	for s.n+k > len(s.ring) {
		s.dropOldest()
	}
	for i, r := range rs[:k] {
		if i == 0 {
			r.ev = uint8(k)
		}
		s.ring[(s.head+s.n)&s.mask] = r
		s.n++
	}
	s.st.Enqueued += uint64(k)
	s.kickLocked()
	s.mu.Unlock()
}

// dropOldest drops the oldest buffered event, all its commands.
func (s *Store) dropOldest() {
	g := max(int(s.ring[s.head].ev), 1)
	for range g {
		old := &s.ring[s.head]
		if old.tab {
			s.tabDelete(old.aux)
		}
		*old = record{}
		s.head = (s.head + 1) & s.mask
	}
	s.n -= g
	s.st.Dropped += uint64(g)
	s.st.Lost++
	s.settled += uint64(g)
}

func (s *Store) kickLocked() {
	if s.n >= s.cfg.batchSize && !s.kicked {
		s.kicked = true
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// tabInsert adds d to the de-duplication table and reports whether it was
// new. The table has twice the buffer's slots and holds one hash per
// buffered PFADD, so it never fills.
func (s *Store) tabInsert(d uint64) bool {
	for i := d & s.tmask; ; i = (i + 1) & s.tmask {
		switch s.tab[i] {
		case d:
			return false
		case 0:
			s.tab[i] = d
			s.tabN++
			return true
		}
	}
}

// tabDelete removes d with backward-shift deletion (linear probing keeps
// no tombstones).
func (s *Store) tabDelete(d uint64) {
	m := s.tmask
	i := d & m
	for s.tab[i] != d {
		if s.tab[i] == 0 {
			return
		}
		i = (i + 1) & m
	}
	for j := i; ; {
		j = (j + 1) & m
		e := s.tab[j]
		if e == 0 {
			break
		}
		home := e & m
		// Leave e where it is when its home lies cyclically in (i, j].
		if (j-home)&m < (j-i)&m {
			continue
		}
		s.tab[i] = e
		i = j
	}
	s.tab[i] = 0
	s.tabN--
}

// take moves about one batch of commands from the buffer into s.batch:
// whole events, the last of which may pass the batch size.
func (s *Store) take() {
	s.batch = s.batch[:0]
	s.mu.Lock()
	for len(s.batch) < s.cfg.batchSize && s.n > 0 {
		g := max(int(s.ring[s.head].ev), 1)
		for range g {
			r := &s.ring[s.head]
			if r.tab {
				s.tabDelete(r.aux)
			}
			s.batch = append(s.batch, *r)
			*r = record{}
			s.head = (s.head + 1) & s.mask
		}
		s.n -= g
	}
	if s.n < s.cfg.batchSize {
		s.kicked = false
	}
	s.inflight, s.inflightCmds = batchEvents(s.batch), uint64(len(s.batch))
	s.mu.Unlock()
}

// settle accounts for the batch's events and wakes Flush callers.
// settle publishes the outcome of written and dropped events, and of the
// rejected commands among the written ones, in one step, then wakes the
// callers of Flush: a Flush that returns sees all of it.
// After giveUp the batch was counted already, and settle counts nothing.
func (s *Store) settle(written, dropped, lost, rejected uint64) {
	s.mu.Lock()
	if !s.abandoned {
		s.st.Written += written
		s.st.Dropped += dropped
		s.st.Lost += lost
		s.st.Rejected += rejected
		s.settled += written + dropped
	}
	s.inflight, s.inflightCmds = 0, 0
	close(s.progress)
	s.progress = make(chan struct{})
	s.mu.Unlock()
}

// giveUp counts everything buffered and the batch in flight as dropped,
// without waiting for the flusher, which then settles nothing.
func (s *Store) giveUp() {
	s.mu.Lock()
	if !s.abandoned {
		for s.n > 0 {
			s.dropOldest()
		}
		s.st.Dropped += s.inflightCmds
		s.st.Lost += s.inflight
		s.settled += s.inflightCmds
		s.inflight, s.inflightCmds = 0, 0
		s.abandoned = true
		close(s.progress)
		s.progress = make(chan struct{})
	}
	s.mu.Unlock()
	s.reportDrops()
}

// Stats returns the event counts.
func (s *Store) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Pending = s.n
	return st
}

// Flush waits until every command buffered before the call has been written
// to Redis (or dropped), or until ctx ends. It returns ctx.Err() in the
// latter case and [ErrClosed] after [Store.Shutdown] with events left.
func (s *Store) Flush(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	target := s.st.Enqueued
	s.mu.Unlock()
	for {
		s.mu.Lock()
		settled, ch := s.settled, s.progress
		s.mu.Unlock()
		if settled >= target {
			return nil
		}
		select {
		case s.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-s.done:
			s.mu.Lock()
			settled = s.settled
			s.mu.Unlock()
			if settled >= target {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Shutdown stops accepting events, writes what is buffered until ctx ends,
// counts the rest as dropped and stops the flusher goroutine; it never
// closes the client. With Redis down and no deadline on ctx it waits for
// Redis. When ctx ends first, Shutdown returns at once: the events
// buffered and those of the round trip in flight are counted as dropped
// (a batch whose reply comes later counts as not written, though Redis
// may have applied it), and the flusher ends with that round trip, by
// [WriteTimeout] when the client honours context deadlines. Later calls
// return nil.
func (s *Store) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	var err error
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancelRun()
		s.giveUp()
		err = ctx.Err()
	}
	s.cancelRun()
	s.reportDrops()
	return err
}
