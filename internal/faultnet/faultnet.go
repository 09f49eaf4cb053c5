// Package faultnet gives tests the two ways a dependency can fail on the
// network before it answers: an address where nothing listens (connections
// are refused) and a server that accepts connections and never answers, so
// that every wait on it must have a deadline.
package faultnet

import (
	"net"
	"sync"
	"testing"
)

// Refused returns a loopback address where nothing listens.
func Refused(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Silent returns the address of a loopback server that accepts connections
// and never reads or answers. It closes the listener and the connections
// when the test ends.
func Silent(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
