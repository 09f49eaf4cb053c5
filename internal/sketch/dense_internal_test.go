package sketch

import (
	"math/rand/v2"
	"testing"
)

func TestMaxBytes(t *testing.T) {
	naive := func(a, b uint64) uint64 {
		var r uint64
		for i := range 8 {
			x, y := (a>>(8*i))&0xff, (b>>(8*i))&0xff
			r |= max(x, y) << (8 * i)
		}
		return r
	}
	rng := rand.New(rand.NewPCG(1, 2))
	reg := func() uint64 {
		var w uint64
		for i := range 8 {
			w |= uint64(rng.IntN(maxRho+1)) << (8 * i)
		}
		return w
	}
	cases := []struct{ a, b uint64 }{{0, 0}, {0x3333333333333333, 0}, {0x0102030405060708, 0x0807060504030201}}
	for range 10000 {
		cases = append(cases, struct{ a, b uint64 }{reg(), reg()})
	}
	for _, c := range cases {
		if got, want := maxBytes(c.a, c.b), naive(c.a, c.b); got != want {
			t.Fatalf("maxBytes(%#x, %#x) = %#x, want %#x", c.a, c.b, got, want)
		}
	}
}
