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
	name string
	h    uint64
}

// String returns the full Redis key, prefix included.
func (k Key) String() string { return k.name }

type op uint8

const (
	opPFAdd op = iota + 1
	opSetNX
	opIncrBy
	opExpire
)

// record is one buffered event: a fixed-size value that holds the key's
// string header (no copy) and no other pointer.
type record struct {
	key string
	v   int64  // PFADD: member hash; SET: value; INCRBY: increment
	aux uint64 // PFADD: de-duplication hash; SET, EXPIRE: ttl in ns
	op  op
	tab bool // PFADD: aux is in the de-duplication table
}

// Stats are the store's event counts since [New].
type Stats struct {
	Enqueued     uint64 // events accepted into the buffer
	Deduplicated uint64 // PFADDs not buffered: the same key and member were waiting
	Written      uint64 // events written to Redis
	Dropped      uint64 // events lost because Redis could not take them
	Rejected     uint64 // commands Redis answered with an error (reported, not retried)
	Pending      int    // events waiting in the buffer now
}

// Store buffers writes for Redis and writes them from one goroutine. See
// the package documentation.
type Store struct {
	client    redis.UniversalClient
	ownClient bool
	cfg       config
	instance  string // random id of this store, for the INCRBY guard

	mu       sync.Mutex
	ring     []record
	mask     int
	head, n  int
	tab      []uint64 // PFADD de-duplication hashes of buffered events
	tmask    uint64
	tabN     int // hashes in tab
	tabMax   int // at most tabMax hashes: half of tab's slots
	kicked   bool
	closed   bool
	st       Stats
	settled  uint64        // events written, dropped or rejected
	progress chan struct{} // closed and replaced when settled moves

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
	if s.client == nil {
		s.ownClient = true
		s.client = newClient(c)
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
	s.push(record{key: k.name, v: int64(h), aux: d, op: opPFAdd})
}

// PFAddEach buffers PFADD k member for each of keys under one lock, the
// cheaper form for an event that touches several sets (day, week, month).
func (s *Store) PFAddEach(h uint64, keys ...Key) {
	if s == nil {
		return
	}
	s.mu.Lock()
	for _, k := range keys {
		d := k.h*0x9e3779b97f4a7c15 ^ h
		if d == 0 {
			d = 1
		}
		s.pushLocked(record{key: k.name, v: int64(h), aux: d, op: opPFAdd})
	}
	drop := s.closed
	s.mu.Unlock()
	if drop {
		s.cfg.drop.Add(context.Background(), int64(len(keys)))
	}
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
	s.mu.Lock()
	s.pushLocked(r)
	drop := s.closed
	s.mu.Unlock()
	if drop {
		s.cfg.drop.Add(context.Background(), 1)
	}
}

func (s *Store) pushLocked(r record) {
	if s.closed {
		s.st.Dropped++
		return
	}
	if r.op == opPFAdd && s.tabN < s.tabMax {
		if !s.tabInsert(r.aux) {
			s.st.Deduplicated++
			return
		}
		r.tab = true
	}
	if s.n == len(s.ring) {
		// Full: drop the oldest event.
		old := &s.ring[s.head]
		if old.tab {
			s.tabDelete(old.aux)
		}
		*old = record{}
		s.head = (s.head + 1) & s.mask
		s.n--
		s.st.Dropped++
		s.settled++
	}
	s.ring[(s.head+s.n)&s.mask] = r
	s.n++
	s.st.Enqueued++
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

// take moves up to one batch of events from the buffer into s.batch.
func (s *Store) take() {
	s.batch = s.batch[:0]
	s.mu.Lock()
	k := min(s.n, s.cfg.batchSize)
	for range k {
		r := &s.ring[s.head]
		if r.tab {
			s.tabDelete(r.aux)
		}
		s.batch = append(s.batch, *r)
		*r = record{}
		s.head = (s.head + 1) & s.mask
	}
	s.n -= k
	if s.n < s.cfg.batchSize {
		s.kicked = false
	}
	s.mu.Unlock()
}

// settle accounts for the batch's events and wakes Flush callers.
// settle publishes the outcome of written and dropped events, and of the
// rejected commands among the written ones, in one step, then wakes the
// callers of Flush: a Flush that returns sees all of it.
func (s *Store) settle(written, dropped, rejected uint64) {
	s.mu.Lock()
	s.st.Written += written
	s.st.Dropped += dropped
	s.st.Rejected += rejected
	s.settled += written + dropped
	close(s.progress)
	s.progress = make(chan struct{})
	s.mu.Unlock()
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

// Flush waits until every event buffered before the call has been written
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
// counts the rest as dropped, stops the flusher goroutine and closes the
// client unless it was passed with [WithClient]. With Redis down and no
// deadline on ctx it waits for Redis. When ctx ends first, the store's own
// client is closed at once, which ends a round trip in flight; with a
// client of [WithClient] that round trip ends by [Timeout] (see there).
// Later calls return nil.
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
	closed := false
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancelRun()
		if s.ownClient {
			// Ends a round trip in flight on the silent server.
			closed = true
			err = s.client.Close()
		}
		<-s.done
		err = errors.Join(ctx.Err(), err)
	}
	s.cancelRun()
	s.reportDrops()
	if s.ownClient && !closed {
		err = errors.Join(err, s.client.Close())
	}
	return err
}
