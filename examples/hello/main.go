package main

import (
	"context"
	"github.com/kpikit/kpikit/exporter"
	"github.com/kpikit/kpikit/operational"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	p, err := exporter.New(ctx, exporter.WithDefaultExporters(exporter.Console))
	if err != nil {
		log.Fatal(err) // names the bad variable or option and its value
	}
	mw, _ := operational.NewMiddleware(operational.WithMeterProvider(p.MeterProvider())) // nil only for invalid options
	http.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	go func() { log.Fatal(http.ListenAndServe(":8080", mw.Handler(nil))) }()
	<-ctx.Done() // Ctrl-C or SIGTERM
	stop()       // a second signal stops it at once
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil { // the last export
		log.Fatal(err)
	}
}
