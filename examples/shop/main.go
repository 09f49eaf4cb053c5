// Command shop is a small web shop instrumented with kpikit, with a traffic
// generator that drives new and returning users through its conversion
// funnel over simulated days.
//
//	go run ./examples/shop
//
// With no OTEL_* variables it exports to the console (JSON on standard
// output, every OTEL_METRIC_EXPORT_INTERVAL) and prints a one-line summary
// on standard error every few seconds. With OTEL_EXPORTER_OTLP_ENDPOINT set
// it ships to that collector; with OTEL_METRICS_EXPORTER=prometheus it
// serves /metrics on its own mux. SIGINT or SIGTERM stops it cleanly, after
// a last export.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/exporter"
	"github.com/kpikit/kpikit/operational"
)

type config struct {
	addr      string
	traffic   bool
	rate      float64
	duration  time.Duration
	errorRate float64
	latency   time.Duration
	day       time.Duration
	every     time.Duration
	report    string
	sloRules  string
	sloth     string
	openSLO   string
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to serve the shop on")
	flag.BoolVar(&c.traffic, "traffic", true, "run the built-in traffic generator")
	flag.Float64Var(&c.rate, "rate", 20, "new sessions per second started by the generator")
	flag.DurationVar(&c.duration, "duration", 0, "stop after this long (0: run until interrupted)")
	flag.Float64Var(&c.errorRate, "error-rate", 0.02, "share of requests that fail with a 500")
	flag.DurationVar(&c.latency, "latency", 20*time.Millisecond, "mean latency of the shop's work per request")
	flag.DurationVar(&c.day, "day", 30*time.Second, "real time one simulated day lasts")
	flag.DurationVar(&c.every, "summary", 5*time.Second, "how often to print the summary line")
	flag.StringVar(&c.report, "report", "", "write the generator's counts as JSON to this file at exit")
	flag.StringVar(&c.sloRules, "slo-rules", "", "write the Prometheus rules of the shop's SLOs to this file (- for stdout) and exit")
	flag.StringVar(&c.sloth, "sloth", "", "write the shop's SLOs as a sloth spec to this file (- for stdout) and exit")
	flag.StringVar(&c.openSLO, "openslo", "", "write the shop's SLOs as OpenSLO documents to this file (- for stdout) and exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// report is what the generator did, for the person or the test that ran
// the shop.
type report struct {
	Addr     string `json:"addr"`
	Requests int64  `json:"requests"` // responses received, any status
	Failures int64  `json:"failures"` // requests that got no response
	Orders   int64  `json:"orders"`
}

func (c config) check() error {
	var errs []error
	if c.rate <= 0 {
		errs = append(errs, fmt.Errorf("-rate %v: want a positive number", c.rate))
	}
	if c.errorRate < 0 || c.errorRate > 1 {
		errs = append(errs, fmt.Errorf("-error-rate %v: want a share between 0 and 1", c.errorRate))
	}
	if c.latency < 0 || c.day <= 0 || c.every <= 0 || c.duration < 0 {
		errs = append(errs, errors.New("-latency, -day, -summary and -duration must not be negative, -day and -summary not zero"))
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, c config, stdout, stderr io.Writer) error {
	if err := c.check(); err != nil {
		return err
	}
	// -slo-rules, -sloth and -openslo only write files: nothing starts.
	if asked, err := writeSLOFiles(c, shopSLOs(), stdout); asked || err != nil {
		return err
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}

	manual := sdkmetric.NewManualReader()
	p, err := exporter.New(context.Background(),
		exporter.WithDefaultExporters(exporter.Console),
		exporter.WithDefaultServiceName("shop"), // OTEL_SERVICE_NAME still wins
		exporter.WithConsoleWriter(stdout),
		exporter.WithRuntimeMetrics(),
		exporter.WithReader(manual),
	)
	if err != nil {
		return err
	}
	mp := p.MeterProvider()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		_ = p.Shutdown(context.Background())
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "shop listening on %s\n", base)

	s, err := newShop(mp, newSimClock(time.Now(), c.day), c.errorRate, c.latency)
	if err != nil {
		ln.Close()
		_ = p.Shutdown(context.Background())
		return err
	}
	mw, err := s.middleware(mp)
	if err != nil {
		ln.Close()
		_ = p.Shutdown(context.Background())
		return err
	}
	// The traffic generator's transport, built before anything is served.
	var tr *operational.Transport
	if c.traffic {
		base := http.DefaultTransport.(*http.Transport).Clone()
		base.MaxIdleConnsPerHost = 512
		if tr, err = operational.NewTransport(base, operational.WithMeterProvider(mp)); err != nil {
			ln.Close()
			_ = p.Shutdown(context.Background())
			return err
		}
	}
	mux := s.routes()
	if h := p.MetricsHandler(); h != nil {
		mux.Handle("GET /metrics", h)
		fmt.Fprintf(stderr, "prometheus metrics at %s/metrics\n", base)
	}
	srv := &http.Server{Handler: mw.Handler(mux), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// The traffic generator is a client of the shop over loopback, through
	// an instrumented transport.
	var gen *traffic
	genDone := make(chan struct{})
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	if c.traffic {
		defer tr.CloseIdleConnections()
		gen = &traffic{base: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, rate: c.rate, maxBusy: 512}
		go func() {
			defer close(genDone)
			gen.Run(genCtx)
		}()
	} else {
		close(genDone)
	}

	sum := &summary{reader: manual, shop: s, mw: mw, last: time.Now()}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-served:
			break loop
		case <-tick.C:
			st, err := sum.collect(ctx)
			if err == nil {
				sum.print(stderr, st)
			}
		}
	}

	// Stop in order: no new sessions, finish those in flight, stop serving,
	// then export the last data, under a context of its own: ctx is done
	// by now.
	stopGen()
	<-genDone
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	errs := []error{serveErr}
	if serveErr == nil {
		errs = append(errs, srv.Shutdown(shutCtx))
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if st, err := sum.collect(shutCtx); err == nil {
		sum.print(stderr, st)
	}
	// Shutdown waits for a periodic export under way, then exports the
	// last values once.
	errs = append(errs, p.Shutdown(shutCtx), s.Close())

	rep := report{Addr: base, Orders: s.orders.Load()}
	if gen != nil {
		rep.Requests, rep.Failures = gen.requests.Load(), gen.failures.Load()
	}
	fmt.Fprintf(stderr, "generated %d requests (%d without a response), %d orders\n", rep.Requests, rep.Failures, rep.Orders)
	if c.report != "" {
		b, _ := json.Marshal(rep)
		errs = append(errs, os.WriteFile(c.report, b, 0o644))
	}
	return errors.Join(errs...)
}
