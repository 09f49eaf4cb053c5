package conformance_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/OpenSLO/oslo/pkg/manifest"
	v1 "github.com/OpenSLO/oslo/pkg/manifest/v1"
	"github.com/OpenSLO/oslo/pkg/validate"
	"github.com/OpenSLO/oslo/pkg/yamlutil"
	"gopkg.in/yaml.v3"

	"github.com/kpikit/kpikit/slo"
	"github.com/kpikit/kpikit/slo/internal/slotest"
)

// The OpenSLO documents of the fixed SLOs parse with oslo as openslo/v1, one
// Service and then one SLO per declaration, and pass oslo's validation.
// oslo ignores the fields it does not know; decoded strictly into its types,
// the documents have none.
func TestOpenSLO(t *testing.T) {
	slos := slotest.SLOs()
	var b bytes.Buffer
	if err := slo.WriteOpenSLO(&b, slotest.Service, slos); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "openslo.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := yamlutil.Parse(b.Bytes(), path)
	if err != nil {
		t.Fatalf("oslo does not parse the documents: %v\n%s", err, b.Bytes())
	}
	if err := validate.Files([]string{path}); err != nil {
		t.Fatalf("oslo finds the documents invalid: %v\n%s", err, b.Bytes())
	}
	if len(docs) != 1+len(slos) {
		t.Fatalf("%d documents, want a Service and %d SLOs", len(docs), len(slos))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.KnownFields(true)
	for i, d := range docs {
		v := reflect.New(reflect.TypeOf(d)).Interface()
		if err := dec.Decode(v); err != nil {
			t.Errorf("document %d (%s), decoded strictly: %v", i, d.Kind(), err)
		}
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Errorf("after the documents oslo parsed: %v, want the end", err)
	}
	kinds := func(d manifest.OpenSLOKind) string { return d.Kind() }
	svc, ok := docs[0].(v1.Service)
	if !ok || svc.APIVersion != v1.APIVersion || svc.Metadata.Name != slotest.Service {
		t.Errorf("first document: %s %#v, want the openslo/v1 Service %s", kinds(docs[0]), docs[0], slotest.Service)
	}
	for i, s := range slos {
		d, ok := docs[1+i].(v1.SLO)
		if !ok {
			t.Errorf("document %d: %s, want an SLO", 1+i, kinds(docs[1+i]))
			continue
		}
		spec := d.Spec
		if d.APIVersion != v1.APIVersion || d.Metadata.Name != s.Name || spec.Service != slotest.Service {
			t.Errorf("document %d: %s %s of service %s, want openslo/v1 SLO %s of %s", 1+i, d.APIVersion, d.Metadata.Name, spec.Service, s.Name, slotest.Service)
		}
		if len(spec.Objectives) != 1 || spec.Objectives[0].Target != s.Objective {
			t.Errorf("%s: objectives %+v, want one with target %v", s.Name, spec.Objectives, s.Objective)
		}
		if w := spec.TimeWindow[0]; w.Duration != slo.WindowName(s.WindowOrDefault()) || !w.IsRolling {
			t.Errorf("%s: time window %+v, want a rolling %s", s.Name, w, slo.WindowName(s.WindowOrDefault()))
		}
		if spec.Indicator == nil || spec.Indicator.Spec.RatioMetric == nil || !spec.Indicator.Spec.RatioMetric.Counter {
			t.Errorf("%s: indicator %+v, want an inline ratio of counters", s.Name, spec.Indicator)
		}
	}
}
