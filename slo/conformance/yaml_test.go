package conformance_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kpikit/kpikit/slo"
)

// awkward are descriptions and names YAML could misread.
var awkward = []string{
	`a "quoted" \ text`, "two\nlines\r\nand\ttab", "key: value # not a comment", "- a list item?", "* star", "&anchor", "!tag",
	"{flow: map}", "[flow, seq]", "'single'", "|", ">", "%directive", "@at `tick`", "ünïcödé 日本 🙂", "next\u0085line",
	"line\u2028sep\u2029par", "c1\u0080\u009fend", "bom\ufeff", "del\x7f", "nul\x00bell\x07", "---", "...", "null", "~", "yes",
	" lead and trail ", "trailing backslash \\",
}

// Descriptions and the queries over awkward operation names read back
// from all three generated documents exactly as declared.
func TestGeneratedYAMLRoundTrips(t *testing.T) {
	var slos []slo.SLO
	for i, d := range awkward {
		slos = append(slos, slo.SLO{Name: "d" + strconv.Itoa(i), Objective: 0.99, Description: d,
			SLI: slo.OperationAvailability{Operation: "op " + d}})
	}
	want := map[string]slo.SLO{}
	for _, s := range slos {
		want[s.Name] = s
	}
	decode := func(t *testing.T, b []byte) []map[string]any {
		t.Helper()
		var docs []map[string]any
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if err == io.EOF {
				return docs
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			docs = append(docs, doc)
		}
	}
	str := func(v any, path ...any) string {
		for _, p := range path {
			switch k := p.(type) {
			case string:
				v = v.(map[string]any)[k]
			case int:
				v = v.([]any)[k]
			}
		}
		s, _ := v.(string)
		return s
	}

	t.Run("rules", func(t *testing.T) {
		var b bytes.Buffer
		if err := slo.WriteRules(&b, slos); err != nil {
			t.Fatal(err)
		}
		docs := decode(t, b.Bytes())
		groups := docs[0]["groups"].([]any)
		for i, g := range groups {
			s := slos[i]
			rules := g.(map[string]any)["rules"].([]any)
			bad, total := s.Queries("5m")
			if got := str(rules[0], "expr"); got != bad+" / "+total {
				t.Errorf("%s: expr %q, want %q", s.Name, got, bad+" / "+total)
			}
			for _, r := range rules {
				if _, ok := r.(map[string]any)["alert"]; ok {
					if got := str(r, "annotations", "description"); got != s.Description {
						t.Errorf("%s: description %q, want %q", s.Name, got, s.Description)
					}
				}
			}
		}
	})
	t.Run("sloth", func(t *testing.T) {
		var b bytes.Buffer
		if err := slo.WriteSloth(&b, "svc", slos); err != nil {
			t.Fatal(err)
		}
		for _, x := range decode(t, b.Bytes())[0]["slos"].([]any) {
			s := want[str(x, "name")]
			bad, total := s.Queries("{{.window}}")
			if str(x, "description") != s.Description || str(x, "sli", "events", "error_query") != bad || str(x, "sli", "events", "total_query") != total {
				t.Errorf("%s: read back %+v", s.Name, x)
			}
		}
	})
	t.Run("openslo", func(t *testing.T) {
		var b bytes.Buffer
		if err := slo.WriteOpenSLO(&b, "svc", slos); err != nil {
			t.Fatal(err)
		}
		docs := decode(t, b.Bytes())
		if len(docs) != len(slos)+1 {
			t.Fatalf("%d documents, want %d", len(docs), len(slos)+1)
		}
		for _, d := range docs[1:] {
			s := want[str(d, "metadata", "name")]
			if got := str(d, "spec", "description"); got != s.Description {
				t.Errorf("%s: description %q, want %q", s.Name, got, s.Description)
			}
			_, total := s.Queries("5m")
			// sum(increase(SELECTOR[5m])) in the queries, sum(SELECTOR) here.
			sel := total[len("sum(increase(") : len(total)-len("[5m]))")]
			if got := str(d, "spec", "indicator", "spec", "ratioMetric", "total", "metricSource", "spec", "query"); got != "sum("+sel+")" {
				t.Errorf("%s: total query %q, want %q", s.Name, got, "sum("+sel+")")
			}
		}
	})
}
