package sketch_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/axiomhq/hyperloglog"

	"github.com/kpikit/kpikit/internal/sketch"
)

// TestPackedAccuracy measures the second sparse tier, which holds sets
// from about 7,000 users to 10,053 fingerprints: linear counting over 2^21
// virtual registers, 0.049% in theory, where the dense registers give
// 0.6%.
func TestPackedAccuracy(t *testing.T) {
	if raceEnabled {
		t.Skip("a statistical test: the race detector only makes it slow")
	}
	for _, n := range []int{7600, 8500, 9500} {
		checkRMSE(t, n, 40, 500, "packed", 0.001)
	}
}

// TestPackedCapacity fills sets until they turn dense: at PackedLimit
// fingerprints, not before.
func TestPackedCapacity(t *testing.T) {
	for seed := range 5 {
		s := sketch.New()
		f2s := map[uint64]bool{}
		for i := 0; ; i++ {
			h := userHash(600+seed, i)
			s.Insert(h)
			f2s[h>>(64-sketch.PackedBits)] = true
			if sketch.Tier(s) == "dense" {
				if len(f2s) != sketch.PackedLimit+1 {
					t.Errorf("seed %d: dense at %d fingerprints, want %d", seed, len(f2s), sketch.PackedLimit+1)
				}
				break
			}
		}
	}
}

// TestPackedRegisters checks that the second tier gives exactly the
// registers of its hashes, zero-tail fingerprints included, and turns into
// them when it fills.
func TestPackedRegisters(t *testing.T) {
	s := filled(51, 0, 8500)
	ref := hyperloglog.NewNoSparse()
	for i := range 8500 {
		ref.InsertHash(userHash(51, i))
	}
	f := uint32(0x155 << 9) // 23-bit fingerprint with a zero tail
	for _, rho := range []int{9, 40, 12, 51} {
		h := crafted(f, rho)
		s.Insert(h)
		ref.InsertHash(h)
	}
	if tier := sketch.Tier(s); tier != "packed" {
		t.Fatalf("%s, want packed", tier)
	}
	check := func(what string) {
		t.Helper()
		if !sameRegisters(t, s, ref) {
			t.Errorf("%s: registers differ from axiomhq's", what)
		}
	}
	check("packed")
	for i := 8500; sketch.Tier(s) != "dense"; i++ {
		s.Insert(userHash(51, i))
		ref.InsertHash(userHash(51, i))
	}
	check("dense")
}

func TestUnmarshalPackedErrors(t *testing.T) {
	good := mustMarshal(t, filled(74, 0, 9000))
	if good[1] != 4 {
		t.Fatalf("kind %d, want packed", good[1])
	}
	const hdr = 6
	k := int(good[5])
	ents := hdr + 2048 + 4*k
	mod := func(f func([]byte)) []byte { c := bytes.Clone(good); f(c); return c }
	tests := []struct {
		name string
		data []byte
	}{
		{name: "truncated", data: good[:len(good)-1]},
		{name: "trailing byte", data: append(bytes.Clone(good), 0)},
		{name: "fingerprint bits", data: mod(func(b []byte) { b[2] = 23 })},
		{name: "too many entries", data: mod(func(b []byte) { binary.LittleEndian.PutUint16(b[3:], sketch.PackedLimit+1) })},
		{name: "first offset", data: mod(func(b []byte) { binary.LittleEndian.PutUint16(b[hdr:], 1) })},
		{name: "offsets decrease", data: mod(func(b []byte) {
			binary.LittleEndian.PutUint16(b[hdr+2*100:], binary.LittleEndian.Uint16(b[hdr+2*101:])+1)
		})},
		{name: "entries not ascending", data: mod(func(b []byte) { b[ents], b[ents+1] = 0xff, b[ents+1]|0x07 })},
		{name: "side entry removed", data: mod(func(b []byte) { b[5]-- })},
		{name: "side rho too small", data: mod(func(b []byte) {
			e := binary.LittleEndian.Uint32(b[hdr+2048:])
			binary.LittleEndian.PutUint32(b[hdr+2048:], e&^0x3f|7)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCorrupt(t, tt.data) })
	}
}
