package main

import (
	"context"
	"github.com/kpikit/kpikit/exporter"
	"github.com/kpikit/kpikit/operational"
	"net/http"
)

func main() {
	p, _ := exporter.New(context.Background(), exporter.WithDefaultExporters(exporter.Console))
	mw, _ := operational.NewMiddleware(operational.WithMeterProvider(p.MeterProvider()))
	http.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	http.ListenAndServe(":8080", mw.Handler(nil))
}
