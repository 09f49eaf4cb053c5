package sketch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/axiomhq/hyperloglog"

	"github.com/kpikit/kpikit/internal/sketch"
)

// crafted returns a hash with fingerprint f whose dense register is rho:
// f's tail must be zero for rho to be free (10..51).
func crafted(f uint32, rho int) uint64 {
	h := uint64(f) << (64 - sketch.SparseBits)
	if rho <= 50 {
		h |= 1 << (41 - (rho - 9))
	}
	return h
}

// TestSparseAccuracy measures the relative RMSE of the sparse tier over
// many independent sets: the fingerprints make it near-exact (0.024% in
// theory, plus rounding), where the dense registers gave 0.56-0.66%.
func TestSparseAccuracy(t *testing.T) {
	if raceEnabled {
		t.Skip("a statistical test: the race detector only makes it slow")
	}
	for _, n := range []int{sketch.ExactLimit + 1, 2000, 3000, 5000, 6500} {
		checkRMSE(t, n, 100, 300, "sparse", 0.0005)
	}
}

// checkRMSE fills trials sets of n users (seeds from seed0), each in the
// given tier, and checks the relative RMSE of their estimates.
func checkRMSE(t *testing.T, n, trials, seed0 int, tier string, bound float64) {
	t.Helper()
	var sumSq float64
	for seed := range trials {
		s := filled(seed0+seed, 0, n)
		if got := sketch.Tier(s); got != tier {
			t.Fatalf("n=%d seed %d: %s, want %s", n, seed, got, tier)
		}
		d := (float64(s.Estimate()) - float64(n)) / float64(n)
		sumSq += d * d
	}
	rmse := math.Sqrt(sumSq / float64(trials))
	t.Logf("n=%d: rmse over %d sets %.4f%%", n, trials, 100*rmse)
	if rmse > bound {
		t.Errorf("n=%d: rmse %.4f%%, want at most %.2f%%", n, 100*rmse, 100*bound)
	}
}

// TestSparseCapacity fills sets until they leave the first sparse tier:
// never before 6,500 values, never above the 16 KiB of the dense registers
// on the way.
func TestSparseCapacity(t *testing.T) {
	dense := filled(9, 0, 20_000).SizeBytes()
	least, most := math.MaxInt, 0
	for seed := range 20 {
		s := sketch.New()
		for i := 0; ; i++ {
			s.Insert(userHash(400+seed, i))
			if sz := s.SizeBytes(); sz > dense+64 {
				t.Fatalf("seed %d: set of %d uses %d bytes, dense %d", seed, i+1, sz, dense)
			}
			if sketch.Tier(s) != "exact" && sketch.Tier(s) != "sparse" {
				least, most = min(least, i), max(most, i)
				break
			}
			if i == sketch.ExactLimit && !s.Sparse() {
				t.Fatalf("seed %d: set of %d is not sparse", seed, i+1)
			}
		}
	}
	t.Logf("sparse capacity over 20 sets: %d to %d values", least, most)
	if least < 6500 {
		t.Errorf("a set turned dense at %d values, want at least 6,500", least)
	}
}

// TestSparseRegisters checks that a sparse set gives exactly the registers
// its hashes give, including fingerprints whose tail is zero, whose rho the
// table keeps in a slot of its own and raises when a larger one comes.
func TestSparseRegisters(t *testing.T) {
	s := filled(50, 0, 3000)
	ref := hyperloglog.NewNoSparse()
	for i := range 3000 {
		ref.InsertHash(userHash(50, i))
	}
	f := uint32(0x2a5 << 9) // tail zero
	for _, rho := range []int{12, 30, 15, 51, 10} {
		h := crafted(f, rho)
		if got, _ := sketch.Fingerprint(h); got != f {
			t.Fatalf("crafted fingerprint %#x, want %#x", got, f)
		}
		if _, r := sketch.Fingerprint(h); int(r) != rho {
			t.Fatalf("crafted rho %d, want %d", r, rho)
		}
		s.Insert(h)
		ref.InsertHash(h)
	}
	if !s.Sparse() {
		t.Fatal("not sparse")
	}
	fs := sketch.Fingerprints(s)
	if i, ok := slices.BinarySearchFunc(fs, uint64(f), func(e, f uint64) int { return int(e>>8) - int(f) }); !ok || fs[i]&0xff != 51 {
		t.Errorf("fingerprint %#x kept with rho %d, want 51", f, fs[i]&0xff)
	}
	if len(fs) != 3001 {
		t.Errorf("%d fingerprints, want 3001", len(fs))
	}
	if !sameRegisters(t, s, ref) {
		t.Error("registers of the sparse set differ from axiomhq's")
	}
	d := s.Clone()
	sketch.ForceDense(d)
	if msg := same(d, func() *sketch.Set { x := sketch.New(); sketch.ForceDense(x); x.Merge(s); return x }()); msg != "" {
		t.Errorf("turning dense: %s", msg)
	}
}

// TestSparseOverflow fills the two buckets that 32 fingerprints share;
// the 33rd fingerprint that needs one of them turns the set into the second
// sparse tier, with the registers of all 33 hashes.
func TestSparseOverflow(t *testing.T) {
	// rem in 3207..3238 all give 1 + rem*511>>14 = 101: first bucket 5,
	// second 5^101 = 96.
	var hs []uint64
	for rem := uint32(3207); rem <= 3238; rem++ {
		hs = append(hs, uint64(5<<14|rem)<<(64-sketch.SparseBits)|1)
	}
	hs = append(hs, uint64(96<<14|3207)<<(64-sketch.SparseBits)|1) // buckets 96 and 5
	s := sketch.New()
	sketch.ForceSparse(s)
	ref := hyperloglog.NewNoSparse()
	for i, h := range hs {
		if got := s.Insert(h); got != sketch.Added {
			t.Fatalf("insert %d = %v, want added", i, got)
		}
		ref.InsertHash(h)
		if i < 32 && (!s.Sparse() || s.Estimate() != uint64(i+1)) {
			t.Fatalf("after %d: sparse %v, estimate %d", i+1, s.Sparse(), s.Estimate())
		}
	}
	if tier := sketch.Tier(s); tier != "packed" {
		t.Fatalf("the 33rd fingerprint left the set %s, want packed", tier)
	}
	if !sameRegisters(t, s, ref) {
		t.Error("registers after the overflow differ from axiomhq's")
	}
	// 21-bit fingerprints of the 33 hashes: 9 distinct.
	f2s := map[uint64]bool{}
	for _, h := range hs {
		f2s[h>>(64-sketch.PackedBits)] = true
	}
	if got := s.Estimate(); got != uint64(len(f2s)) {
		t.Errorf("Estimate() = %d, want %d", got, len(f2s))
	}
}

// TestMergeTiers checks unions across the three tiers against inserting
// the union: the same tier, estimate and contents.
func TestMergeTiers(t *testing.T) {
	tests := []struct {
		name   string
		ranges [][2]int
	}{
		{name: "sparse+sparse", ranges: [][2]int{{0, 3000}, {2000, 5000}}},
		{name: "sparse+exact", ranges: [][2]int{{0, 3000}, {2900, 3500}}},
		{name: "exact+sparse", ranges: [][2]int{{0, 500}, {400, 3000}}},
		{name: "exact+exact to sparse", ranges: [][2]int{{0, 1500}, {1500, 3000}}},
		{name: "sparse+dense", ranges: [][2]int{{0, 3000}, {1000, 20_000}}},
		{name: "dense+sparse", ranges: [][2]int{{0, 20_000}, {19_000, 22_000}}},
		{name: "sparse+sparse to dense", ranges: [][2]int{{0, 5000}, {5000, 10_000}}},
		{name: "packed+sparse", ranges: [][2]int{{0, 8500}, {8000, 9000}}},
		{name: "sparse+packed", ranges: [][2]int{{0, 3000}, {2000, 9000}}},
		{name: "exact+packed", ranges: [][2]int{{0, 100}, {50, 8500}}},
		{name: "packed+packed to dense", ranges: [][2]int{{0, 8500}, {8500, 17_000}}},
		{name: "packed+dense", ranges: [][2]int{{0, 8500}, {0, 20_000}}},
		{name: "thirty exact days, exact union", ranges: func() (r [][2]int) {
			for d := range 30 {
				r = append(r, [2]int{d * 10, d*10 + 1200})
			}
			return r
		}()},
		{name: "thirty days to packed", ranges: func() (r [][2]int) {
			for d := range 30 {
				r = append(r, [2]int{d * 250, d*250 + 2000})
			}
			return r
		}()},
		{name: "thirty sparse days to dense", ranges: func() (r [][2]int) {
			for d := range 30 {
				r = append(r, [2]int{d * 1000, d*1000 + 3000})
			}
			return r
		}()},
		{name: "seven sparse days", ranges: func() (r [][2]int) {
			for d := range 7 {
				r = append(r, [2]int{d * 500, d*500 + 2000})
			}
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sets []*sketch.Set
			lo, hi := math.MaxInt, 0
			for _, r := range tt.ranges {
				sets = append(sets, filled(60, r[0], r[1]))
				lo, hi = min(lo, r[0]), max(hi, r[1])
			}
			want := filled(60, lo, hi)
			for i, got := range []*sketch.Set{sketch.Union(sets...), func() *sketch.Set {
				m := sets[0].Clone()
				m.Merge(sets[1:]...)
				return m
			}()} {
				if msg := same(got, want); msg != "" {
					t.Errorf("way %d: %s", i, msg)
				}
			}
		})
	}
}

// TestVersion1Loaded decodes encodings written before the sparse tier
// (version 1: exact and dense kinds only).
func TestVersion1Loaded(t *testing.T) {
	for _, src := range []*sketch.Set{filled(70, 0, 100), filled(70, 0, 20_000)} {
		b := mustMarshal(t, src)
		b[0] = 1
		var got sketch.Set
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("version 1: %v", err)
		}
		if msg := same(&got, src); msg != "" {
			t.Errorf("version 1: %s", msg)
		}
	}
	sparse := mustMarshal(t, filled(70, 0, 3000))
	sparse[0] = 1
	var s sketch.Set
	if err := s.UnmarshalBinary(sparse); !errors.Is(err, sketch.ErrCorrupt) {
		t.Errorf("a sparse kind in version 1 = %v, want ErrCorrupt", err)
	}
}

func TestUnmarshalSparseErrors(t *testing.T) {
	good := mustMarshal(t, filled(71, 0, 3000))
	const hdr = 3
	slot := func(b []byte, bucket, j int) []byte { return b[hdr+32*bucket+2*j:] }
	// A bucket with an entry and one with a zero-tail entry and its rho.
	zt := sketch.NewSparse()
	zt.Insert(crafted(7<<14|3<<9, 20))
	ztb := mustMarshal(t, zt)
	mod := func(b []byte, f func([]byte)) []byte { c := bytes.Clone(b); f(c); return c }
	tests := []struct {
		name string
		data []byte
	}{
		{name: "truncated", data: good[:len(good)-1]},
		{name: "trailing byte", data: append(bytes.Clone(good), 0)},
		{name: "fingerprint bits", data: mod(good, func(b []byte) { b[2] = 25 })},
		{name: "slot after an empty one", data: mod(good, func(b []byte) {
			for bk := range 512 {
				if binary.LittleEndian.Uint16(slot(b, bk, 15)) == 0 {
					binary.LittleEndian.PutUint16(slot(b, bk, 15), 0x8001)
					return
				}
			}
		})},
		{name: "same slot twice", data: mod(good, func(b []byte) {
			copy(slot(b, 10, 1)[:2], slot(b, 10, 0)[:2])
		})},
		{name: "rho slot without its fingerprint", data: mod(ztb, func(b []byte) {
			binary.LittleEndian.PutUint16(slot(b, 7, 1), 0) // the entry, after its rho
		})},
		{name: "fingerprint without its rho slot", data: mod(ztb, func(b []byte) {
			copy(slot(b, 7, 0)[:2], slot(b, 7, 1)[:2])
			binary.LittleEndian.PutUint16(slot(b, 7, 1), 0)
		})},
		{name: "rho too large", data: mod(ztb, func(b []byte) {
			binary.LittleEndian.PutUint16(slot(b, 7, 0), 3<<6|52)
		})},
		{name: "rho too small", data: mod(ztb, func(b []byte) {
			binary.LittleEndian.PutUint16(slot(b, 7, 0), 3<<6|9)
		})},
		{name: "fingerprint in both buckets", data: mod(ztb, func(b []byte) {
			// 0x8000|rem in bucket 7 is also written as 0xc000|rem in 7's
			// partner bucket.
			rem := uint32(3 << 9)
			partner := 7 ^ (1 + rem*511>>14)
			binary.LittleEndian.PutUint16(slot(b, int(partner), 0), uint16(0xc000|rem))
			binary.LittleEndian.PutUint16(slot(b, int(partner), 1), 0)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCorrupt(t, tt.data)
			if _, err := sketch.FromSparse(tt.data[min(hdr, len(tt.data)):]); err == nil && len(tt.data) == len(good) && tt.data[2] == good[2] {
				t.Error("FromSparse accepted it")
			}
		})
	}
}

func TestFromSparse(t *testing.T) {
	src := sketch.NewSparse()
	for i := range 2500 {
		src.Insert(userHash(73, i))
	}
	b := mustMarshal(t, src)[3:]
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	for _, in := range [][]byte{b, b[:end+end%2], nil} {
		got, err := sketch.FromSparse(in)
		if err != nil {
			t.Fatalf("%d bytes: %v", len(in), err)
		}
		want := src
		if in == nil {
			want = sketch.NewSparse()
		}
		if msg := same(got, want); msg != "" {
			t.Errorf("%d bytes: %s", len(in), msg)
		}
	}
	if _, err := sketch.FromSparse(make([]byte, sketch.SparseBytes+2)); !errors.Is(err, sketch.ErrCorrupt) {
		t.Errorf("a table too long = %v, want ErrCorrupt", err)
	}
}
