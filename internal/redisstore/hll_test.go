package redisstore_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestHLLMirrorMatchesRedis adds members one at a time to a Redis
// HyperLogLog, both sparse and dense, and checks that PFADD changes the
// HyperLogLog exactly when the mirror of what was added before does not
// cover the member: HLLPos computes the register and value as Redis does.
func TestHLLMirrorMatchesRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	var m redisstore.HLLMirror
	var skipped, raised int
	pipe := c.Pipeline()
	const n = 60000 // beyond the sparse representation's limit
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = r.Uint64()
		if i%7 == 0 && i > 0 {
			hs[i] = hs[r.IntN(i)] // a member added before
		}
	}
	want := make([]bool, n)
	for i, h := range hs {
		reg, rho := redisstore.HLLPos(h)
		want[i] = m.Raise(reg, rho)
		if want[i] {
			raised++
		} else {
			skipped++
		}
	}
	cmds := make([]interface{ Val() int64 }, n)
	for i, h := range hs {
		cmds[i] = pipe.PFAdd(ctx, "hll", redisstore.Member(h))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range hs {
		if got := cmds[i].Val() == 1; got != want[i] {
			t.Fatalf("member %d (%016x): PFADD changed the HyperLogLog: %v, mirror said %v", i, hs[i], got, want[i])
		}
	}
	if skipped < n/2 || raised < redisstore.HLLRegisters/2 {
		t.Fatalf("%d raised, %d covered: too few of one to test", raised, skipped)
	}
	reg, rho := redisstore.HLLPos(hs[0])
	if !m.Covers(reg, rho) {
		t.Fatal("a raised register does not cover its member")
	}
	m.Reset()
	if m.Covers(reg, rho) {
		t.Fatal("Reset kept a register")
	}
}
