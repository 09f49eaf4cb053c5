package redisstore

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// HLLRegisters is the number of registers of a Redis HyperLogLog
// (HLL_REGISTERS in Redis's hyperloglog.c, 2^14).
const HLLRegisters = 1 << hllP

const (
	hllP    = 14
	hllQ    = 64 - hllP
	hllSeed = 0xadc83b19
)

// HLLPos returns what PFADD of [Member](h) sets in a Redis HyperLogLog:
// the register, and the value (the run of zero bits of the hash, plus one)
// that the register takes unless it holds as much already. Redis hashes
// the member with MurmurHash64A and this seed (hllPatLen).
func HLLPos(h uint64) (reg int, rho uint8) {
	// MurmurHash64A of the 16 bytes of Member(h): two blocks, each the
	// hex digits of half of h, read little endian.
	const m = 0xc6a4a7935bd1e995
	const r = 47
	x := uint64(hllSeed ^ 0x6a4a7935bd1e9950) // seed ^ len*m (16*m mod 2^64)
	for _, k := range [2]uint64{hex8(uint32(h >> 32)), hex8(uint32(h))} {
		k *= m
		k ^= k >> r
		k *= m
		x ^= k
		x *= m
	}
	x ^= x >> r
	x *= m
	x ^= x >> r
	reg = int(x & (HLLRegisters - 1))
	x = x>>hllP | 1<<hllQ
	return reg, uint8(bits.TrailingZeros64(x) + 1)
}

// hex8 returns the eight lowercase hex digits of v, most significant
// first, as a little-endian word.
func hex8(v uint32) uint64 {
	n := uint64(v)
	n = (n | n<<16) & 0x0000ffff0000ffff
	n = (n | n<<8) & 0x00ff00ff00ff00ff
	n = (n | n<<4) & 0x0f0f0f0f0f0f0f0f // nibble i in byte i
	n = bits.ReverseBytes64(n)
	letters := (n + 0x0606060606060606) >> 4 & 0x0101010101010101 // digits above 9
	return n + 0x3030303030303030 + letters*('a'-'0'-10)
}

// murmur64A is MurmurHash64A as Redis computes it: blocks read little
// endian.
func murmur64A(data []byte, seed uint32) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := uint64(seed) ^ uint64(len(data))*m
	for len(data) >= 8 {
		k := binary.LittleEndian.Uint64(data)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		data = data[8:]
	}
	if len(data) > 0 {
		for i := len(data) - 1; i >= 0; i-- {
			h ^= uint64(data[i]) << (8 * i)
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// HLLMirror is a lower bound of the registers of one Redis HyperLogLog:
// for each register, the most that the writes handed over so far set. A
// PFADD whose value is covered changes nothing in Redis once those writes
// are applied, so it need not be sent. Its methods are safe for
// concurrent use; the zero value covers nothing.
type HLLMirror struct {
	w [HLLRegisters / 4]atomic.Uint32 // four registers of a byte each per word
}

// Covers reports whether the register reg already holds rho or more.
func (m *HLLMirror) Covers(reg int, rho uint8) bool {
	return uint8(m.w[reg>>2].Load()>>(reg&3*8)) >= rho
}

// Raise sets register reg to rho when it holds less, and reports whether
// it did.
func (m *HLLMirror) Raise(reg int, rho uint8) bool {
	w := &m.w[reg>>2]
	shift := reg & 3 * 8
	for {
		old := w.Load()
		if uint8(old>>shift) >= rho {
			return false
		}
		if w.CompareAndSwap(old, old&^(0xff<<shift)|uint32(rho)<<shift) {
			return true
		}
	}
}

// Reset forgets every register.
func (m *HLLMirror) Reset() {
	for i := range m.w {
		if m.w[i].Load() != 0 {
			m.w[i].Store(0)
		}
	}
}
