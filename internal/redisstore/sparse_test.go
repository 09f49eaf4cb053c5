package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/sketch"
)

// hashOf returns a hash whose fingerprint is f and whose register value is
// rho: rho 10 to 51 when the low 9 bits of f are zero, else the one f's
// tail gives.
func hashOf(f uint32, rho uint8) uint64 {
	h := uint64(f) << 41
	if f&511 == 0 && rho <= 50 {
		h |= 1 << (50 - rho)
	}
	return h
}

// sparseStreams are the hash sequences that the script and sketch.Set's
// sparse table are fed.
func sparseStreams() []struct {
	name   string
	hashes []uint64
	fills  bool
} {
	random := func(seed uint64, n int) []uint64 {
		r := rand.New(rand.NewPCG(seed, 7))
		out := make([]uint64, n)
		for i := range out {
			out[i] = r.Uint64()
			if i%10 == 9 {
				out[i] = out[r.IntN(i)] // a repeat
			}
		}
		return out
	}
	// Zero tails with growing rho, repeats, and other fingerprints of
	// their buckets.
	var zero []uint64
	r := rand.New(rand.NewPCG(3, 3))
	for i := range 300 {
		f := r.Uint32N(1<<23) &^ 511
		for _, rho := range []uint8{12, 10, 12, 30, 51, 11} {
			zero = append(zero, hashOf(f, rho))
		}
		zero = append(zero, hashOf(f|uint32(1+i%511), 0), hashOf(f, 13))
	}
	// An overfull pair of buckets: the 33 fingerprints of bucket 77 whose
	// remainders r, r+1, … r+32 have the same partner, 1 + rem*511>>14
	// (one of them has a zero tail and takes two slots), after a repeat.
	// They need 34 slots of 32.
	var count [1 << 9]int
	for rem := range uint32(1 << 14) {
		count[rem*511>>14]++
	}
	group := uint32(1)
	for count[group] != 33 {
		group++
	}
	var pair []uint64
	const b1 = 77
	for rem := range uint32(1 << 14) {
		if rem*511>>14 == group {
			pair = append(pair, hashOf(b1<<14|rem, 20))
		}
		if len(pair) == 1 {
			pair = append(pair, pair[0])
		}
	}
	return []struct {
		name   string
		hashes []uint64
		fills  bool // the table fills up
	}{
		{"random seed 1", random(1, 9000), true},
		{"random seed 2", random(2, 9000), true},
		{"random seed 3", random(3, 9000), true},
		{"zero tails", zero, false},
		{"overfull pair", pair, true},
	}
}

// TestSparseScriptMatchesGo feeds the fingerprints of each stream to the
// store's sparse script and to sketch.NewSparse in the same order: while
// the Go set is sparse the companion holds its table byte for byte, and it
// is "full" from the insert that turns the Go set dense.
func TestSparseScriptMatchesGo(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c), redisstore.WithFlushInterval(time.Hour),
		redisstore.WithBatchSize(1<<10), redisstore.WithBufferSize(1<<14))
	ctx := context.Background()
	for _, tt := range sparseStreams() {
		t.Run(tt.name, func(t *testing.T) {
			k := s.SparseKey("sp:" + tt.name)
			set := sketch.NewSparse()
			// full is the index of the insert that turns set dense.
			full := len(tt.hashes)
			for i, h := range tt.hashes {
				if set.Insert(h); !set.Sparse() {
					full = i
					break
				}
			}
			set = sketch.NewSparse()
			check := func(n int) {
				t.Helper()
				flush(t, s, 10*time.Second)
				got, err := c.Get(ctx, k.String()+redisstore.SparseSuffix).Bytes()
				if err != nil {
					t.Fatalf("after %d inserts: GET companion: %v", n, err)
				}
				if !set.Sparse() {
					if string(got) != redisstore.SparseFull {
						t.Fatalf("after %d inserts (full at %d): companion of %d bytes, want %q", n, full, len(got), redisstore.SparseFull)
					}
					return
				}
				b, _ := set.MarshalBinary()
				if want := b[3:]; !bytes.Equal(got, want) {
					t.Fatalf("after %d inserts: companion differs from the Go table at byte %d (%d vs %d bytes)", n, diffAt(got, want), len(got), len(want))
				}
			}
			step := max(len(tt.hashes)/12, 1)
			if len(tt.hashes) < 100 {
				step = 1
			}
			for i, h := range tt.hashes {
				set.Insert(h)
				var ev redisstore.Event
				f, rho := sketch.Fingerprint(h)
				ev.SparseAdd(k, f, rho)
				s.Push(&ev)
				if i%step == step-1 || i == full-1 || i == full || i == len(tt.hashes)-1 {
					check(i + 1)
				}
				if i == len(tt.hashes)/2 {
					// Redis loses its scripts: the store loads it again.
					if err := c.ScriptFlush(ctx).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if filled := full < len(tt.hashes); filled != tt.fills {
				t.Errorf("%d hashes: table filled %v, want %v", len(tt.hashes), filled, tt.fills)
			}
			t.Logf("%d inserts, full at %d", len(tt.hashes), full)
		})
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSparseCompanion checks what the store does around the table: the
// companion takes the TTL of its key, SparseFull marks it full for good, a
// key written without a companion gets a full one, and PFADDs of a key with
// a companion expire it too.
func TestSparseCompanion(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c), redisstore.WithTTL(time.Hour), redisstore.WithFlushInterval(time.Hour))
	ctx := context.Background()
	companion := func(k redisstore.Key) (string, time.Duration) {
		t.Helper()
		v, err := c.Get(ctx, k.String()+redisstore.SparseSuffix).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return v, c.PTTL(ctx, k.String()+redisstore.SparseSuffix).Val()
	}
	push := func(k redisstore.Key, h uint64, full bool) {
		var ev redisstore.Event
		ev.PFAdd(k, h)
		if full {
			ev.SparseFull(k)
		} else {
			f, rho := sketch.Fingerprint(h)
			ev.SparseAdd(k, f, rho)
		}
		s.Push(&ev)
	}

	k := s.SparseKey("day")
	push(k, 1<<60, false)
	flush(t, s, 5*time.Second)
	v, ttl := companion(k)
	if len(v) != redisstore.SparseTableBytes || ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("companion of %d bytes, TTL %v; want %d bytes and the key's TTL", len(v), ttl, redisstore.SparseTableBytes)
	}
	if set, err := sketch.FromSparse([]byte(v)); err != nil || set.Estimate() != 1 {
		t.Errorf("companion: %v, want one fingerprint", err)
	}

	// A PFADD alone (a user whose fingerprint was sent) expires the
	// companion too.
	c.Persist(ctx, k.String()+redisstore.SparseSuffix)
	var ev redisstore.Event
	ev.PFAdd(k, 2<<60)
	s.Push(&ev)
	flush(t, s, 5*time.Second)
	if _, ttl := companion(k); ttl < 59*time.Minute {
		t.Errorf("companion TTL %v after a PFADD of its key, want an hour", ttl)
	}

	push(k, 3<<60, true)
	push(k, 4<<60, false)
	flush(t, s, 5*time.Second)
	if v, ttl := companion(k); v != redisstore.SparseFull || ttl < 59*time.Minute {
		t.Errorf("companion %q (TTL %v) after SparseFull, want %q with the TTL kept", v, ttl, redisstore.SparseFull)
	}
	// PFAddFull writes the key with PFADD itself, and expires the
	// companion with it.
	c.Persist(ctx, k.String()+redisstore.SparseSuffix)
	ev = redisstore.Event{}
	ev.PFAddFull(k, 8<<60)
	s.Push(&ev)
	flush(t, s, 5*time.Second)
	if v, ttl := companion(k); v != redisstore.SparseFull || ttl < 59*time.Minute {
		t.Errorf("companion %q (TTL %v) after PFAddFull, want %q with the key's TTL", v, ttl, redisstore.SparseFull)
	}
	if n := c.PFCount(ctx, k.String()).Val(); n != 5 {
		t.Errorf("PFCOUNT %s = %d, want 5", k, n)
	}

	// A HyperLogLog written without its companion (by an older writer):
	// the companion could not count its members, so it is full.
	old := s.SparseKey("old")
	if err := c.PFAdd(ctx, old.String(), "someone").Err(); err != nil {
		t.Fatal(err)
	}
	push(old, 5<<60, false)
	flush(t, s, 5*time.Second)
	if v, _ := companion(old); v != redisstore.SparseFull {
		t.Errorf("companion of a key written without one = %q, want %q", v, redisstore.SparseFull)
	}

	// A companion of another type is refused and reported; the other
	// companions of its script call are written.
	errs := captureErrors(t)
	bad, good := s.SparseKey("{t}bad"), s.SparseKey("{t}good")
	if err := c.LPush(ctx, bad.String()+redisstore.SparseSuffix, "x").Err(); err != nil {
		t.Fatal(err)
	}
	push(bad, 6<<60, false)
	push(good, 7<<60, false)
	flush(t, s, 5*time.Second)
	if v, _ := companion(good); len(v) != redisstore.SparseTableBytes {
		t.Errorf("companion beside a refused one: %d bytes, want %d", len(v), redisstore.SparseTableBytes)
	}
	if st := s.Stats(); st.Rejected != 1 || len(errs()) != 1 {
		t.Errorf("rejected %d, reported %v; want 1 and one error", st.Rejected, errs())
	}
}

// TestSparseMemory measures what a companion costs in Redis (MEMORY
// USAGE) beside its HyperLogLog key, for 100, 2,000 and 7,000 users.
func TestSparseMemory(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c), redisstore.WithFlushInterval(time.Hour), redisstore.WithBufferSize(1<<14))
	ctx := context.Background()
	for _, n := range []int{100, 2000, 7000, 8000} {
		k := s.SparseKey(fmt.Sprint("mem:", n))
		for i := range n {
			h := sketch.Hash(fmt.Sprint("user-", i))
			var ev redisstore.Event
			ev.PFAdd(k, h)
			f, rho := sketch.Fingerprint(h)
			ev.SparseAdd(k, f, rho)
			s.Push(&ev)
		}
		flush(t, s, 10*time.Second)
		comp := c.MemoryUsage(ctx, k.String()+redisstore.SparseSuffix).Val()
		hll := c.MemoryUsage(ctx, k.String()).Val()
		l := c.StrLen(ctx, k.String()+redisstore.SparseSuffix).Val()
		t.Logf("%d users: companion %d bytes (string of %d), HyperLogLog %d bytes", n, comp, l, hll)
		if comp > 21000 {
			t.Errorf("%d users: companion uses %d bytes, want at most 21,000", n, comp)
		}
	}
}

// TestSparseEventsDroppedWhole is TestEventsDroppedWhole with companions:
// events of three PFADDs and three fingerprints each go into a 16-command
// buffer while Redis is down. An event is dropped with all its commands
// and counted once, and after Redis returns each companion counts exactly
// the events that were not lost.
func TestSparseEventsDroppedWhole(t *testing.T) {
	srv, s, dropped := downStore(t)
	const sent = 200
	sets := [3]redisstore.Key{s.SparseKey("{ev}:a"), s.SparseKey("{ev}:b"), s.SparseKey("{ev}:c")}
	for i := range sent {
		h := sketch.Hash(fmt.Sprint("user-", i))
		f, rho := sketch.Fingerprint(h)
		var ev redisstore.Event
		for _, k := range sets {
			ev.PFAdd(k, h)
			ev.SparseAdd(k, f, rho)
		}
		s.Push(&ev)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Restart()
	flush(t, s, 20*time.Second)
	st := s.Stats()
	if int64(st.Lost) != dropped() || st.Lost == 0 || st.Dropped != 6*st.Lost || st.Written+st.Dropped != 6*sent {
		t.Errorf("lost %d events, drop counter %d, dropped %d and written %d commands: want the counter = lost > 0, 6 commands per event (stats %+v)",
			st.Lost, dropped(), st.Dropped, st.Written, st)
	}
	c := newClient(t, srv)
	for _, k := range sets {
		b, err := c.Get(context.Background(), k.String()+redisstore.SparseSuffix).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		set, err := sketch.FromSparse(b)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := set.Estimate(), uint64(sent-st.Lost); got != want {
			t.Errorf("companion of %s counts %d, want the %d events not lost", k, got, want)
		}
	}
}
