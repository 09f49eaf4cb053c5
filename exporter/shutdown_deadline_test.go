package exporter_test

import (
	"context"
	"testing"
	"time"

	"github.com/kpikit/kpikit/exporter"
	"github.com/kpikit/kpikit/internal/faultnet"
)

// Shutdown returns by its deadline against an OTLP endpoint that accepts
// connections and never answers, and one that refuses them, over both
// protocols, and a second concurrent call with a short deadline does not
// wait past it for the first.
func TestShutdownDeadlineAgainstDeadEndpoints(t *testing.T) {
	for _, proto := range []exporter.Protocol{exporter.GRPC, exporter.HTTPProtobuf} {
		for _, ep := range []struct {
			name string
			addr func(testing.TB) string
		}{
			{"silent", faultnet.Silent},
			{"refused", faultnet.Refused},
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
