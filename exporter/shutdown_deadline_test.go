package exporter_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kpikit/kpikit/exporter"
)

// silentListener accepts connections and never reads or answers; it closes
// them when the test ends.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// refusedAddr returns an address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Shutdown returns by its deadline against an OTLP endpoint that accepts
// connections and never answers, and one that refuses them, over both
// protocols, and a second concurrent call with a short deadline does not
// wait past it for the first.
func TestShutdownDeadlineAgainstDeadEndpoints(t *testing.T) {
	for _, proto := range []exporter.Protocol{exporter.GRPC, exporter.HTTPProtobuf} {
		for _, ep := range []struct {
			name string
			addr func(*testing.T) string
		}{
			{"silent", silentListener},
			{"refused", refusedAddr},
		} {
			t.Run(string(proto)+"/"+ep.name, func(t *testing.T) {
				p, err := exporter.New(context.Background(),
					exporter.WithExporters(exporter.OTLP),
					exporter.WithProtocol(proto),
					exporter.WithEndpoint("http://"+ep.addr(t)),
					exporter.WithTimeout(30*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				record(t, p.MeterProvider())

				first := make(chan error, 1)
				firstCtx, cancelFirst := context.WithTimeout(context.Background(), time.Second)
				defer cancelFirst()
				go func() { first <- p.Shutdown(firstCtx) }()
				time.Sleep(50 * time.Millisecond) // the first call is under way

				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				start := time.Now()
				err = p.Shutdown(ctx)
				if took := time.Since(start); took > 700*time.Millisecond {
					t.Errorf("second Shutdown took %v with a 200ms deadline", took)
				}
				if err == nil {
					t.Error("second Shutdown = nil, want an error")
				}
				select {
				case err := <-first:
					if err == nil {
						t.Error("first Shutdown = nil, want an error")
					}
				case <-time.After(5 * time.Second):
					t.Fatal("first Shutdown did not return 5s after its 1s deadline")
				}
			})
		}
	}
}
