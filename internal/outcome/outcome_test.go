package outcome

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// sink counts what it is told, per user.
type sink struct {
	mu   sync.Mutex
	told map[string][]string // user -> error types
}

func (s *sink) Failed(l Link, errorType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.told == nil {
		s.told = map[string][]string{}
	}
	s.told[l.User] = append(s.told[l.User], errorType)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.told {
		n += len(v)
	}
	return n
}

func TestFinish(t *testing.T) {
	tests := []struct {
		name   string
		failed bool
		want   int
	}{
		{"failure tells every link", true, 2},
		{"success tells none", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Outcome
			s := &sink{}
			o.Link(Link{Sink: s, User: "a", Step: 1})
			o.Link(Link{Sink: s, User: "b", Step: -1})
			var users []string
			o.Finish(tt.failed, "500", UsersFunc(func(u string) { users = append(users, u) }))
			o.Finish(true, "503", nil) // a second Finish does nothing
			if got := s.count(); got != tt.want {
				t.Fatalf("told %d times, want %d: %v", got, tt.want, s.told)
			}
			if tt.failed && (len(users) != 2 || s.told["a"][0] != "500") {
				t.Fatalf("users %v, told %v", users, s.told)
			}
			// A link after the end is told at once when the outcome was a
			// failure, and never otherwise.
			o.Link(Link{Sink: s, User: "late"})
			if got := len(s.told["late"]); got != tt.want/2 {
				t.Fatalf("late link told %d times", got)
			}
		})
	}
}

func TestLinkLimit(t *testing.T) {
	var o Outcome
	s := &sink{}
	for i := range MaxLinks {
		if !o.Link(Link{Sink: s, User: string(rune('a' + i))}) {
			t.Fatalf("link %d refused", i)
		}
	}
	if o.Link(Link{Sink: s, User: "one too many"}) {
		t.Fatal("a link past MaxLinks was kept")
	}
	o.Finish(true, "500", nil)
	if got := s.count(); got != MaxLinks {
		t.Fatalf("told %d, want %d", got, MaxLinks)
	}
}

func TestContextChain(t *testing.T) {
	var req Context
	req.Set(context.Background())
	var op Context
	op.Set(&req)
	var none context.Context
	if From(&op) != &op.Outcome || From(&req) != &req.Outcome || From(context.Background()) != nil || From(none) != nil {
		t.Fatal("From does not find the innermost outcome")
	}
	// A value of the parent context is still found through both.
	type k struct{}
	base := context.WithValue(context.Background(), k{}, "v")
	req.Set(base)
	op.Set(&req)
	if op.Value(k{}) != "v" {
		t.Fatal("a parent's value is lost")
	}
	s := &sink{}
	op.Outcome.Link(Link{Sink: s, User: "u", Step: 2})
	op.Outcome.Finish(true, "timeout", nil)
	req.Outcome.Finish(true, "500", nil)
	if got := s.told["u"]; len(got) != 2 || got[0] != "timeout" || got[1] != "500" {
		t.Fatalf("told %v, want the operation's failure, then the request's", got)
	}
	// Cancellation propagates as usual through the outcome context.
	parent, cancel := context.WithCancel(context.Background())
	req.Set(parent)
	child, cancelChild := context.WithCancel(&req)
	defer cancelChild()
	cancel()
	<-child.Done()
}

func TestConcurrentLinksAndFinish(t *testing.T) {
	for range 200 {
		var o Outcome
		var told atomic.Int64
		s := sinkFunc(func(Link, string) { told.Add(1) })
		var wg sync.WaitGroup
		var kept atomic.Int64
		for range 6 {
			wg.Go(func() {
				if o.Link(Link{Sink: s, User: "u"}) {
					kept.Add(1)
				}
			})
		}
		wg.Go(func() { o.Finish(true, "500", nil) })
		wg.Wait()
		if told.Load() != kept.Load() {
			t.Fatalf("%d links kept, %d told", kept.Load(), told.Load())
		}
	}
}

type sinkFunc func(Link, string)

func (f sinkFunc) Failed(l Link, e string) { f(l, e) }

func BenchmarkLink(b *testing.B) {
	var c Context
	c.Set(context.Background())
	s := &sink{}
	var ctx context.Context = &c
	b.ReportAllocs()
	for b.Loop() {
		if o := From(ctx); o != nil {
			o.Link(Link{Sink: s, User: "user-42", Step: 1})
		}
		o := &c.Outcome
		o.mu.Lock()
		o.take()
		o.mu.Unlock()
	}
}
