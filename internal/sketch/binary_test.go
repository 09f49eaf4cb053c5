package sketch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kpikit/kpikit/internal/sketch"
)

func TestMarshalRoundTrip(t *testing.T) {
	withZero := filled(20, 0, 10)
	withZero.Insert(0)
	tests := []struct {
		name string
		set  *sketch.Set
	}{
		{name: "empty", set: sketch.New()},
		{name: "zero hash only", set: func() *sketch.Set { s := sketch.New(); s.Insert(0); return s }()},
		{name: "exact with zero hash", set: withZero},
		{name: "exact at limit", set: filled(20, 0, sketch.ExactLimit)},
		{name: "sparse", set: filled(20, 0, 5000)},
		{name: "packed", set: filled(20, 0, 9000)},
		{name: "sparse from empty", set: func() *sketch.Set { s := sketch.NewSparse(); s.Insert(crafted(9<<9, 33)); return s }()},
		{name: "dense", set: filled(20, 0, 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustMarshal(t, tt.set)
			if b[0] != sketch.FormatVersion {
				t.Fatalf("version byte %d, want %d", b[0], sketch.FormatVersion)
			}
			got := filled(21, 0, 5000) // replaced, not merged
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if msg := same(got, tt.set); msg != "" {
				t.Errorf("decoded: %s", msg)
			}
			if !bytes.Equal(mustMarshal(t, got), b) {
				t.Error("re-encoding differs")
			}
			// The decoded set keeps working: present values stay present.
			if got.Exact() && got.Estimate() < sketch.ExactLimit {
				if got.Insert(0) == sketch.Added && got.Estimate() != tt.set.Estimate()+1 {
					t.Error("insert after decode miscounted")
				}
				if got.Insert(0) != sketch.Present {
					t.Error("decoded set lost a value")
				}
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	exact := mustMarshal(t, filled(22, 0, 3))
	dense := mustMarshal(t, filled(22, 0, 5000))
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{name: "nil", data: nil, want: sketch.ErrCorrupt},
		{name: "version only", data: []byte{sketch.FormatVersion}, want: sketch.ErrCorrupt},
		{name: "future version", data: mod(exact, func(b []byte) []byte { b[0] = sketch.FormatVersion + 1; return b }), want: sketch.ErrVersion},
		{name: "unknown kind", data: mod(exact, func(b []byte) []byte { b[1] = 9; return b }), want: sketch.ErrCorrupt},
		{name: "exact short header", data: exact[:4], want: sketch.ErrCorrupt},
		{name: "exact truncated", data: exact[:len(exact)-1], want: sketch.ErrCorrupt},
		{name: "exact trailing byte", data: append(bytes.Clone(exact), 0), want: sketch.ErrCorrupt},
		{name: "exact count over limit", data: mod(exact, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[2:], sketch.ExactLimit+1)
			return b
		}), want: sketch.ErrCorrupt},
		{name: "exact huge count", data: mod(exact, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[2:], 1<<31)
			return b
		}), want: sketch.ErrCorrupt},
		{name: "exact not ascending", data: mod(exact, func(b []byte) []byte {
			copy(b[6:14], b[14:22])
			return b
		}), want: sketch.ErrCorrupt},
		{name: "dense short header", data: dense[:2], want: sketch.ErrCorrupt},
		{name: "dense precision", data: mod(dense, func(b []byte) []byte { b[2] = 16; return b }), want: sketch.ErrCorrupt},
		{name: "dense truncated", data: dense[:len(dense)-1], want: sketch.ErrCorrupt},
		{name: "dense register too big", data: mod(dense, func(b []byte) []byte { b[100] = 52; return b }), want: sketch.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := filled(23, 0, 10)
			before := mustMarshal(t, s)
			err := s.UnmarshalBinary(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UnmarshalBinary(% x...) = %v, want %v", tt.data[:min(len(tt.data), 8)], err, tt.want)
			}
			if !bytes.Equal(mustMarshal(t, s), before) {
				t.Error("a failed UnmarshalBinary changed the set")
			}
		})
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	f.Add([]byte{})
	f.Add(mustMarshal(f, sketch.New()))
	f.Add(mustMarshal(f, filled(24, 0, 5)))
	f.Add(mustMarshal(f, filled(24, 0, 3000)))
	f.Add(mustMarshal(f, filled(24, 0, 8000)))
	f.Add([]byte{sketch.FormatVersion, 2, 14})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sketch.Set
		if err := s.UnmarshalBinary(data); err != nil {
			if s.Estimate() != 0 || !s.Exact() {
				t.Fatal("failed decode changed the set")
			}
			return
		}
		b := mustMarshal(t, &s)
		if !bytes.Equal(b, data) {
			t.Fatalf("accepted input is not canonical:\n got % x\nwant % x", b[:min(len(b), 32)], data[:min(len(data), 32)])
		}
		s.Insert(12345)
		s.Estimate()
	})
}

// FuzzInsert checks exact counting against a map for any sequence of
// hashes, including 0 and repeats.
func FuzzInsert(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sketch.Set
		seen := map[uint64]bool{}
		for len(data) >= 2 {
			// Two bytes pick from a small space so that repeats happen;
			// spread them over the 64 bits.
			h := uint64(binary.LittleEndian.Uint16(data)) * 0x9e3779b97f4a7c15
			data = data[2:]
			want := sketch.Added
			if seen[h] {
				want = sketch.Present
			}
			seen[h] = true
			if got := s.Insert(h); s.Exact() && got != want {
				t.Fatalf("Insert(%#x) = %v, want %v", h, got, want)
			}
		}
		if s.Exact() && s.Estimate() != uint64(len(seen)) {
			t.Fatalf("Estimate() = %d, want %d", s.Estimate(), len(seen))
		}
	})
}
