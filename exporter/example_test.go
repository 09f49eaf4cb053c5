package exporter_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/exporter"
)

func ExampleNew() {
	ctx := context.Background()
	p, err := exporter.New(ctx,
		exporter.WithExporters(exporter.Prometheus),
		exporter.WithServiceName("shop"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(ctx)

	orders, _ := p.MeterProvider().Meter("shop").Int64Counter("shop.orders",
		metric.WithUnit("{order}"), metric.WithDescription("Orders placed."))
	orders.Add(ctx, 2)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", p.MetricsHandler())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "shop_orders_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// shop_orders_total{otel_scope_name="shop",otel_scope_schema_url="",otel_scope_version=""} 2
}

func ExampleWithDefaultExporters() {
	// Print to the console until OTEL_METRICS_EXPORTER or an option says
	// otherwise.
	p, err := exporter.New(context.Background(), exporter.WithDefaultExporters(exporter.Console))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(context.Background())
}
