package slo_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// awkward are descriptions YAML could misread.
var awkward = []string{
	`a "quoted" \ text`, "two\nlines\r\nand\ttab", "key: value # not a comment", "- a list item?", "* star", "&anchor", "!tag",
	"{flow: map}", "[flow, seq]", "'single'", "|", ">", "%directive", "@at `tick`", "ünïcödé 日本 🙂", "next\u0085line",
	"line\u2028sep\u2029par", "c1\u0080\u009fend", "bom\ufeff", "del\x7f", "nul\x00bell\x07", "---", "...", "null", "~", "yes", " lead and trail ",
}

// Rules for SLOs of every kind of window, with awkward descriptions and
// routes, pass promtool check rules with duplicate rules fatal.
func TestRulesPassPromtoolForAwkwardInput(t *testing.T) {
	var slos []slo.SLO
	for i, w := range []time.Duration{slo.MinWindow, 3 * slo.Day, 7 * slo.Day, 28 * slo.Day, slo.MaxWindow} {
		slos = append(slos, slo.SLO{Name: "w" + strconv.Itoa(i), Objective: 0.99, Window: w, Description: awkward[i],
			SLI: slo.HTTPLatency{Threshold: 50 * time.Microsecond, Routes: []string{"/a.b+(c)[d]|e\\f/{id}", "/\"q\""}}})
	}
	for i, d := range awkward {
		slos = append(slos, slo.SLO{Name: "d" + strconv.Itoa(i), Objective: 0.999, Description: d,
			SLI: slo.OperationAvailability{Operation: "op \"x\"\n" + d}})
	}
	var b bytes.Buffer
	if err := slo.WriteRules(&b, slos); err != nil {
		t.Fatal(err)
	}
	// Each group records each series once.
	for _, g := range strings.Split(b.String(), "  - name: ")[1:] {
		seen := map[string]bool{}
		for _, line := range strings.Split(g, "\n") {
			if r, ok := strings.CutPrefix(strings.TrimSpace(line), "- record: "); ok {
				if seen[r] {
					t.Errorf("group %s records %s twice", strings.SplitN(g, "\n", 2)[0], r)
				}
				seen[r] = true
			}
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", "rules.yml")
}
