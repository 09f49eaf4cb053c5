// Command console is the smallest kpikit program: it builds the provider,
// records a few measurements, and prints them to the console (or wherever
// the OTEL_* variables point) before it exits.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/exporter"
)

func main() {
	n := flag.Int("n", 100, "measurements to record")
	flag.Parse()
	if err := run(context.Background(), *n, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, n int, console io.Writer) error {
	p, err := exporter.New(ctx,
		exporter.WithDefaultExporters(exporter.Console),
		exporter.WithServiceName("console-example"),
		exporter.WithConsoleWriter(console),
	)
	if err != nil {
		return err
	}
	m := p.MeterProvider().Meter("github.com/kpikit/kpikit/examples/console")
	jobs, err := m.Int64Counter("example.jobs", metric.WithUnit("{job}"), metric.WithDescription("Jobs run."))
	if err != nil {
		return err
	}
	dur, err := m.Float64Histogram("example.job.duration", metric.WithUnit("s"), metric.WithDescription("Duration of one job."))
	if err != nil {
		return err
	}
	kinds := []metric.MeasurementOption{
		metric.WithAttributeSet(attribute.NewSet(attribute.String("job.kind", "email"))),
		metric.WithAttributeSet(attribute.NewSet(attribute.String("job.kind", "report"))),
	}
	for i := range n {
		kind := kinds[i%len(kinds)]
		jobs.Add(ctx, 1, kind)
		dur.Record(ctx, (time.Duration(rand.IntN(200)) * time.Millisecond).Seconds(), kind)
	}
	// Shutdown exports the last collection: the program prints once.
	return p.Shutdown(ctx)
}
