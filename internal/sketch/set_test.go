package sketch_test

import (
	"bytes"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/axiomhq/hyperloglog"

	"github.com/kpikit/kpikit/internal/sketch"
)

func TestHashStable(t *testing.T) {
	// The hash is part of the persisted format and must not change between
	// processes, machines or releases. "" and "abc" are the published XXH64
	// test vectors; the uuid row pins a longer input.
	tests := []struct {
		name string
		id   string
		want uint64
	}{
		{name: "empty", id: "", want: 0xef46db3751d8e999},
		{name: "abc", id: "abc", want: 0x44bc2cf5ad770999},
		{name: "uuid", id: "6f1c1e2a-9b7d-4c55-8f5e-2d3c4b5a6978", want: 0x1d4135239028130b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sketch.Hash(tt.id)
			if got != tt.want {
				t.Errorf("Hash(%q) = %#x, want %#x", tt.id, got, tt.want)
			}
			if b := sketch.HashBytes([]byte(tt.id)); b != got {
				t.Errorf("HashBytes(%q) = %#x, Hash = %#x", tt.id, b, got)
			}
		})
	}
}

func TestInsertOutcome(t *testing.T) {
	dense := filled(1, 0, 10000)
	tests := []struct {
		name string
		set  *sketch.Set
		h    uint64
		want sketch.Outcome
	}{
		{name: "empty/new", set: sketch.New(), h: 42, want: sketch.Added},
		{name: "empty/zero hash", set: sketch.New(), h: 0, want: sketch.Added},
		{name: "exact/present", set: filled(1, 0, 100), h: userHash(1, 7), want: sketch.Present},
		{name: "exact/new", set: filled(1, 0, 100), h: userHash(1, 100), want: sketch.Added},
		{name: "sparse/present", set: filled(1, 0, 3000), h: userHash(1, 7), want: sketch.Unknown},
		{name: "sparse/new", set: filled(1, 0, 3000), h: userHash(1, 3000), want: sketch.Added},
		{name: "dense/present", set: dense, h: userHash(1, 7), want: sketch.Unknown},
		{name: "dense/max register", set: dense, h: 1 << 63, want: sketch.Added},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.set.Insert(tt.h); got != tt.want {
				t.Errorf("Insert(%#x) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
	var z sketch.Set // zero value
	z.Insert(0)
	if got := z.Insert(0); got != sketch.Present {
		t.Errorf("second Insert(0) = %v, want present", got)
	}
	if got := z.Estimate(); got != 1 {
		t.Errorf("Estimate() = %d, want 1", got)
	}
}

func TestExactUpToLimit(t *testing.T) {
	s := sketch.New()
	dense := filled(9, 0, 5000).SizeBytes()
	for i := range sketch.ExactLimit {
		if got := s.Insert(userHash(2, i)); got != sketch.Added {
			t.Fatalf("Insert #%d = %v, want added", i, got)
		}
		if got := s.Estimate(); got != uint64(i+1) {
			t.Fatalf("after %d inserts Estimate() = %d", i+1, got)
		}
		// The slot array never exceeds the register array; the table's
		// slice header adds a few bytes.
		if sz := s.SizeBytes(); sz > dense+64 {
			t.Fatalf("exact set of %d uses %d bytes, dense uses %d", i+1, sz, dense)
		}
	}
	if !s.Exact() {
		t.Fatalf("set of %d is not exact", sketch.ExactLimit)
	}
	if got := s.Insert(userHash(2, 0)); got != sketch.Present {
		t.Fatalf("re-Insert = %v, want present", got)
	}
	if got := s.Insert(userHash(2, sketch.ExactLimit)); got != sketch.Added {
		t.Fatalf("Insert over the limit = %v, want added", got)
	}
	if !s.Sparse() {
		t.Fatalf("set of %d is not sparse", sketch.ExactLimit+1)
	}
	// 1,537 fingerprints of 23 bits collide with probability 14%.
	if got := s.Estimate(); got < sketch.ExactLimit || got > sketch.ExactLimit+1 {
		t.Errorf("Estimate() after conversion = %d, want %d within one", got, sketch.ExactLimit+1)
	}
}

func relErr(got uint64, want int) float64 {
	return math.Abs(float64(got)-float64(want)) / float64(want)
}

func TestAccuracy(t *testing.T) {
	const sigma = sketch.StandardError
	tests := []struct {
		name   string
		n      int
		exact  bool
		sparse bool
		long   bool
	}{
		{name: "10", n: 10, exact: true},
		{name: "1000", n: 1000, exact: true},
		{name: "limit", n: sketch.ExactLimit, exact: true},
		{name: "5000", n: 5000, sparse: true},
		{name: "10k", n: 10_000},
		{name: "100k", n: 100_000},
		{name: "1M", n: 1_000_000, long: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.long && testing.Short() {
				t.Skip("1M inserts; skipped with -short")
			}
			s := filled(3, 0, tt.n)
			filledAgain := filled(3, 0, tt.n/2) // duplicates must not count
			s.Merge(filledAgain)
			got := s.Estimate()
			e := relErr(got, tt.n)
			t.Logf("n=%d estimate=%d error=%+.3f%% (%.2f sigma)", tt.n, got, 100*(float64(got)-float64(tt.n))/float64(tt.n), e/sigma)
			if tt.exact {
				if got != uint64(tt.n) || !s.Exact() {
					t.Errorf("Estimate() = %d (exact %v), want exactly %d", got, s.Exact(), tt.n)
				}
				return
			}
			if tt.sparse {
				if !s.Sparse() || e > 0.0015 {
					t.Errorf("Estimate() = %d (sparse %v), want %d within 3 x 0.05%%", got, s.Sparse(), tt.n)
				}
				return
			}
			if e > 3*sigma {
				t.Errorf("Estimate() = %d, want %d within 3 standard errors (%.2f%%), error %.2f%%", got, tt.n, 300*sigma, 100*e)
			}
		})
	}
}

// TestErrorDistribution checks that the error over many independent sets
// behaves like the advertised standard error, not just one lucky seed.
func TestErrorDistribution(t *testing.T) {
	if raceEnabled {
		t.Skip("a statistical test: the race detector only makes it slow")
	}
	const trials, n = 40, 20_000
	var sumSq float64
	for seed := range trials {
		got := filled(100+seed, 0, n).Estimate()
		d := (float64(got) - n) / n
		sumSq += d * d
	}
	rmse := math.Sqrt(sumSq / trials)
	t.Logf("rmse over %d sets of %d: %.3f%%", trials, n, 100*rmse)
	if rmse > 1.5*sketch.StandardError {
		t.Errorf("rmse %.3f%%, want about %.2f%%", 100*rmse, 100*sketch.StandardError)
	}
}

// TestSmallDenseError checks the range past the sparse tier, where linear
// counting over the registers keeps the error under the dense standard
// error.
func TestSmallDenseError(t *testing.T) {
	if raceEnabled {
		t.Skip("a statistical test: the race detector only makes it slow")
	}
	for _, n := range []int{8000, 11000} {
		const trials = 40
		var sumSq float64
		for seed := range trials {
			got := filled(200+seed, 0, n).Estimate()
			d := (float64(got) - float64(n)) / float64(n)
			sumSq += d * d
		}
		rmse := math.Sqrt(sumSq / trials)
		t.Logf("n=%d: rmse over %d sets %.3f%%", n, trials, 100*rmse)
		if rmse > sketch.StandardError {
			t.Errorf("n=%d: rmse %.3f%%, want under %.2f%%", n, 100*rmse, 100*sketch.StandardError)
		}
	}
}

func TestMatchesAxiomHQ(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 2000, 50_000, 300_000} {
		s := filled(4, 0, n)
		ref := hyperloglog.NewNoSparse()
		for i := range n {
			ref.InsertHash(userHash(4, i))
		}
		sk, err := s.HyperLogLog()
		if err != nil {
			t.Fatalf("n=%d: HyperLogLog() error %v", n, err)
		}
		a, _ := sk.MarshalBinary()
		b, _ := ref.MarshalBinary()
		if !bytes.Equal(a, b) {
			t.Errorf("n=%d: registers differ from axiomhq's", n)
		}
		// Below about 11,500 the set counts linearly, a better estimator
		// than axiomhq's there; above it the two agree exactly.
		if n > 20_000 && s.Estimate() != ref.Estimate() {
			t.Errorf("n=%d: Estimate() = %d, axiomhq %d", n, s.Estimate(), ref.Estimate())
		}
	}
}

func TestEstimateCache(t *testing.T) {
	s := filled(5, 0, 50_000)
	e1 := s.Estimate()
	g := s.Generation()
	if s.Estimate() != e1 || s.Generation() != g {
		t.Fatal("estimate or generation moved without a change")
	}
	for i := 50_000; s.Generation() == g; i++ {
		s.Insert(userHash(5, i))
	}
	if e2 := s.Estimate(); e2 == e1 {
		t.Errorf("Estimate() = %d after a change, still the cached value", e2)
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		ranges [][2]int // users of seed 6 in each set
		exact  bool
	}{
		{name: "exact+exact", ranges: [][2]int{{0, 500}, {250, 900}}, exact: true},
		{name: "exact+exact over limit", ranges: [][2]int{{0, 1000}, {1000, 2000}}},
		{name: "exact+dense", ranges: [][2]int{{0, 100}, {50, 20_000}}},
		{name: "dense+exact", ranges: [][2]int{{0, 20_000}, {19_000, 20_100}}},
		{name: "dense+dense", ranges: [][2]int{{0, 30_000}, {20_000, 60_000}}},
		{name: "thirty days", ranges: func() (r [][2]int) {
			for d := range 30 {
				r = append(r, [2]int{d * 3000, d*3000 + 6000})
			}
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sets []*sketch.Set
			want := sketch.New()
			lo, hi := math.MaxInt, 0
			for _, r := range tt.ranges {
				sets = append(sets, filled(6, r[0], r[1]))
				lo, hi = min(lo, r[0]), max(hi, r[1])
			}
			for i := lo; i < hi; i++ {
				want.Insert(userHash(6, i))
			}
			u := sketch.Union(sets...)
			merged := sets[0].Clone()
			merged.Merge(append(sets[1:], nil, merged)...)
			for _, got := range []*sketch.Set{u, merged} {
				if got.Exact() != tt.exact {
					t.Errorf("Exact() = %v, want %v", got.Exact(), tt.exact)
				}
				if tt.exact && got.Estimate() != uint64(hi-lo) {
					t.Errorf("Estimate() = %d, want %d", got.Estimate(), hi-lo)
				}
				if !tt.exact {
					if msg := same(got, want); msg != "" {
						t.Errorf("union differs from inserting the union: %s", msg)
					}
				}
			}
			if msg := same(sets[0], filled(6, tt.ranges[0][0], tt.ranges[0][1])); msg != "" {
				t.Errorf("Union changed its input: %s", msg)
			}
		})
	}
}

// TestConcurrent inserts overlapping ranges from several goroutines, across
// the exact-to-dense conversion and with merges and estimates running, and
// checks that the result is the same set as a serial insert: HyperLogLog
// registers do not depend on the order of inserts.
func TestConcurrent(t *testing.T) {
	// 875, 3,500, 8,400 and 35,000 users: every tier.
	for _, n := range []int{1000, 4000, 9600, 40_000} {
		s := sketch.New()
		side := sketch.New()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g * n / 8; i < g*n/8+n/2; i++ {
					s.Insert(userHash(7, i))
					if i%512 == 0 {
						s.Estimate()
						side.Merge(s)
						if _, err := s.MarshalBinary(); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
		wg.Wait()
		want := filled(7, 0, n*3/8+n/2)
		if got, w := s.Estimate(), want.Estimate(); got != w {
			t.Errorf("n=%d: concurrent Estimate() = %d, serial %d", n, got, w)
		}
		if msg := same(s, want); msg != "" {
			t.Errorf("n=%d: concurrent set differs from the serial one: %s", n, msg)
		}
		side.Merge(s)
		if msg := same(side, want); msg != "" {
			t.Errorf("n=%d: merged side set differs: %s", n, msg)
		}
	}
}

func TestReset(t *testing.T) {
	s := filled(8, 0, 10_000)
	g := s.Generation()
	s.Reset()
	if !s.Exact() || s.Estimate() != 0 || s.Generation() <= g {
		t.Fatalf("after Reset: exact %v, estimate %d, generation %d (was %d)", s.Exact(), s.Estimate(), s.Generation(), g)
	}
	s.Insert(1)
	if s.Estimate() != 1 {
		t.Errorf("Estimate() = %d after one insert", s.Estimate())
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	dense := filled(9, 0, 50_000)
	exact := filled(9, 0, 100)
	exact.Insert(0)
	sparse := filled(9, 0, 3000)
	packed := filled(9, 0, 8500)
	dense.Estimate()
	i := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{name: "Hash", fn: func() { sketch.Hash("6f1c1e2a-9b7d-4c55-8f5e-2d3c4b5a6978") }},
		{name: "Insert/dense", fn: func() { i++; dense.Insert(userHash(10, i)) }},
		{name: "Insert/exact present", fn: func() { i++; exact.Insert(userHash(9, i%100)) }},
		{name: "Insert/exact zero", fn: func() { exact.Insert(0) }},
		{name: "Insert/sparse present", fn: func() { i++; sparse.Insert(userHash(9, i%3000)) }},
		{name: "Estimate/cached", fn: func() { dense.Estimate() }},
		{name: "Estimate/sparse", fn: func() { sparse.Estimate() }},
		{name: "Insert/packed present", fn: func() { i++; packed.Insert(userHash(9, i%8500)) }},
		{name: "Estimate/packed", fn: func() { packed.Estimate() }},
		{name: "Estimate/exact", fn: func() { exact.Estimate() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tt.fn); got != 0 {
				t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
			}
		})
	}
}

// TestStateMemory checks the memory budget of the largest customer state
// the sets serve: a 12x12 weekly retention matrix plus 30 daily active-user
// sets, all at 3,072 users (sparse: a sparse or dense set's size does not
// depend on its count, and an exact set is never larger), must fit in 16 MB.
func TestStateMemory(t *testing.T) {
	const sets, budget = 12*12 + 30, 16 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	state := make([]*sketch.Set, sets)
	total := 0
	for i := range state {
		state[i] = filled(11+i, 0, 2*sketch.ExactLimit)
		total += state[i].SizeBytes()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d sparse sets: SizeBytes %d (%.2f MB), heap growth %d (%.2f MB)", sets, total, float64(total)/(1<<20), heap, float64(heap)/(1<<20))
	if total > budget || heap > budget {
		t.Errorf("state uses %d bytes (heap %d), budget %d", total, heap, budget)
	}
	runtime.KeepAlive(state)
}
