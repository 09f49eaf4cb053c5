package redisstate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
)

// activeUsers records users 0 to n-1 of prefix as active today in the
// month's cohort, flushes and reads the month's active users.
func (ta *testActivity) activeUsers(t *testing.T, prefix string, n int) uint64 {
	t.Helper()
	for i := range n {
		ta.Record(shared.ActivityEvent{User: sketch.Hash(fmt.Sprint(prefix, i)), Period: testMonth,
			Cohort: testMonth, Known: true, Day: testDay})
	}
	return ta.readActive(t)
}

func (ta *testActivity) readActive(t *testing.T) uint64 {
	t.Helper()
	ctx := context.Background()
	if err := ta.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := ta.Read(ctx, shared.ActivityQuery{Top: testMonth, Today: testDay})
	if err != nil {
		t.Fatal(err)
	}
	return f.Periods[len(f.Periods)-1].Active
}

// TestCompanionCorrupt: a companion that is no sparse table (too long, or
// slots that break the table's rules) is counted and reported by Read,
// which reports the PFCOUNT of its key instead, and never panics.
func TestCompanionCorrupt(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"too long", strings.Repeat("\x00", redisstore.SparseTableBytes+2)},
		{"rho slot without its fingerprint", "\x0c\x00"},
		{"a slot after an empty one", "\x00\x00\x01\x80"},
		{"another type", ""},
	}
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestActivity(t, srv.Addr(), "corrupt", WithKeyPrefix(fmt.Sprintf("corrupt:%s:", tt.name)))
			if got := a.activeUsers(t, "u", 300); got != 300 {
				t.Fatalf("active users = %d before the damage, want 300", got)
			}
			day := a.days.Get(testDay).V.k.String()
			if tt.value == "" {
				c.Del(ctx, day+redisstore.SparseSuffix)
				c.RPush(ctx, day+redisstore.SparseSuffix, "x")
			} else {
				c.Set(ctx, day+redisstore.SparseSuffix, tt.value, 0)
			}
			pf := c.PFCount(ctx, day).Val()
			f, err := a.Read(ctx, shared.ActivityQuery{Top: testMonth, Today: testDay})
			if err == nil || !strings.Contains(err.Error(), "companion") {
				t.Errorf("Read error = %v, want one about the companion", err)
			}
			if f == nil {
				t.Fatal("Read returned no figures")
			}
			if got := f.Periods[len(f.Periods)-1].Active; int64(got) != pf {
				t.Errorf("active users = %d with a corrupt companion, want its key's PFCOUNT %d", got, pf)
			}
			if f.DAU != uint64(pf) {
				t.Errorf("DAU = %d, want %d", f.DAU, pf)
			}
			if n := a.corrupt.Load(); n < 1 {
				t.Errorf("corrupt companions counted: %d, want at least 1", n)
			}
		})
	}
}

// TestCompanionDisagrees: a key whose users were written without its
// companion (by a version that kept none) is counted with PFCOUNT: the
// script marks the companion full at the next write, and before that Read
// finds the companion's count too far from PFCOUNT's.
func TestCompanionDisagrees(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	ctx := context.Background()
	a := newTestActivity(t, srv.Addr(), "old")
	day := a.days.Get(testDay).V.k.String()
	cell := a.periods.Get(testMonth).V.cell(0).users.String()
	for i := range 200 {
		m := redisstore.Member(sketch.Hash(fmt.Sprint("old-", i)))
		c.PFAdd(ctx, day, m)
		c.PFAdd(ctx, cell, m)
	}
	if got := a.readActive(t); got < 195 || got > 205 {
		t.Errorf("active users = %d, want PFCOUNT's about 200", got)
	}
	if a.disagreed.Load() == 0 {
		t.Error("no union counted as disagreeing with PFCOUNT")
	}
	// The next write marks the companion full.
	got := a.activeUsers(t, "new-", 100)
	if v := c.Get(ctx, day+redisstore.SparseSuffix).Val(); v != redisstore.SparseFull {
		t.Errorf("companion of a key written without one = %q, want %q", v, redisstore.SparseFull)
	}
	if pf := c.PFCount(ctx, day).Val(); int64(got) != pf {
		t.Errorf("active users = %d, want PFCOUNT %d", got, pf)
	}
}

// TestCompanionFullRemembered: once a Read found a companion full, the
// replica sends no more fingerprints to it and does not read it, also
// after the mirrors are reset.
func TestCompanionFullRemembered(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestActivity(t, srv.Addr(), "full", WithBufferSize(1<<15))
	if got := a.activeUsers(t, "u", 9000); got < 8800 || got > 9200 {
		t.Fatalf("active users = %d, want about 9,000", got)
	}
	de := a.days.Get(testDay)
	if !de.V.sent.full.Load() {
		t.Fatal("the day's companion is not known to be full after a Read")
	}
	before := a.store.Stats().Enqueued
	a.Record(shared.ActivityEvent{User: sketch.Hash("one more"), Period: testMonth, Cohort: testMonth, Known: true, Day: testDay})
	if n := a.store.Stats().Enqueued - before; n > 2 {
		t.Errorf("%d commands for a user new to a full day and a full cell, want at most its 2 PFADDs", n)
	}
	if p := de.V.sent.prints.Load(); p != nil {
		t.Error("fingerprints kept for a full companion")
	}
}
