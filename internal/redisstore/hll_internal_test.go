package redisstore

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// TestHLLPosBytes checks HLLPos against MurmurHash64A of the member's
// bytes.
func TestHLLPosBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		h := r.Uint64()
		if i < 4 {
			h = []uint64{0, 1, ^uint64(0), 0x0123456789abcdef}[i]
		}
		x := murmur64A([]byte(Member(h)), hllSeed)
		wantReg := int(x & (HLLRegisters - 1))
		wantRho := uint8(bits.TrailingZeros64(x>>hllP|1<<hllQ) + 1)
		if reg, rho := HLLPos(h); reg != wantReg || rho != wantRho {
			t.Fatalf("HLLPos(%016x) = %d, %d; want %d, %d", h, reg, rho, wantReg, wantRho)
		}
	}
}
