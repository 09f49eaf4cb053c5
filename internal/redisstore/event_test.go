package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/kpikit/kpikit/internal/faultnet"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
)

// downStore returns a stopped Redis server, a store of 16 commands that
// writes to it every 5 ms, and what the store counted as dropped.
func downStore(t *testing.T) (*redistest.Server, *redisstore.Store, func() int64) {
	t.Helper()
	captureErrors(t)
	srv := redistest.Start(t)
	drop, dropped := dropReader(t)
	s := newStore(t, clientAt(t, srv.Addr()), redisstore.WithBufferSize(16),
		redisstore.WithFlushInterval(5*time.Millisecond), redisstore.WithMaxBackoff(50*time.Millisecond),
		redisstore.WithDropCounter(drop))
	srv.Stop()
	return srv, s, dropped
}

// TestEventsDroppedWhole buffers events of three PFADDs each into a
// 16-command buffer while Redis is down: an event is dropped with all its
// commands, and the drop counter counts events, not commands. After
// Redis returns, every event is either written whole (its member is in
// each of its three sets) or counted as lost: written + lost = sent.
func TestEventsDroppedWhole(t *testing.T) {
	srv, s, dropped := downStore(t)
	const sent = 200
	sets := [3]redisstore.Key{s.Key("ev:a"), s.Key("ev:b"), s.Key("ev:c")}
	for i := range sent {
		s.PFAddEach(uint64(i+1), sets[:]...)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Restart()
	flush(t, s, 20*time.Second)
	st := s.Stats()
	c := newClient(t, srv)
	var written [3]int64
	for i, k := range sets {
		n, err := c.PFCount(context.Background(), k.String()).Result()
		if err != nil {
			t.Fatal(err)
		}
		written[i] = n
	}
	if written[0] != written[1] || written[1] != written[2] {
		t.Errorf("the three sets of the events hold %v members, want equal counts (events written whole)", written)
	}
	if int64(st.Lost) != dropped() || st.Lost == 0 || st.Dropped != 3*st.Lost {
		t.Errorf("lost %d events, drop counter %d, dropped %d commands: want the counter = lost > 0 and 3 commands per event (stats %+v)",
			st.Lost, dropped(), st.Dropped, st)
	}
	if st.Written+st.Dropped != 3*sent {
		t.Errorf("written %d + dropped %d commands != %d; stats %+v", st.Written, st.Dropped, 3*sent, st)
	}
	if d := int64(sent) - int64(st.Lost) - written[0]; d < -2 || d > 2 {
		t.Errorf("the sets hold %d members, want the %d events not lost (within the HyperLogLog's error)", written[0], sent-int(st.Lost))
	}
}

// TestEventLargerThanBuffer: an event with more commands than the buffer
// holds is dropped and counted once.
func TestEventLargerThanBuffer(t *testing.T) {
	drop, dropped := dropReader(t)
	s := newStore(t, clientAt(t, faultnet.Refused(t)), redisstore.WithBufferSize(2), redisstore.WithDropCounter(drop))
	s.PFAddEach(7, s.Key("x:a"), s.Key("x:b"), s.Key("x:c"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = s.Shutdown(ctx)
	if st := s.Stats(); st.Lost != 1 || dropped() != 1 {
		t.Errorf("lost %d, counter %d after one event of 3 commands into a buffer of 2, want 1 and 1 (stats %+v)", st.Lost, dropped(), st)
	}
}
