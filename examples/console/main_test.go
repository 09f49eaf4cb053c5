package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func TestRunPrintsTheMeasurements(t *testing.T) {
	t.Setenv("OTEL_METRICS_EXPORTER", "") // the program's default: console
	var buf bytes.Buffer
	if err := run(context.Background(), 10, &buf); err != nil {
		t.Fatal(err)
	}
	var out struct {
		ScopeMetrics []struct {
			Metrics []struct {
				Name string
				Data struct {
					DataPoints []struct {
						Value any
						Count uint64
					}
				}
			}
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, buf.String())
	}
	got := map[string]float64{}
	for _, sm := range out.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.DataPoints {
				if v, ok := dp.Value.(float64); ok {
					got[m.Name] += v
				}
				got[m.Name+".count"] += float64(dp.Count)
			}
		}
	}
	if got["example.jobs"] != 10 || got["example.job.duration.count"] != 10 {
		t.Errorf("jobs = %v, durations = %v; want 10 and 10\n%s", got["example.jobs"], got["example.job.duration.count"], buf.String())
	}
}
