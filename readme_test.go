package kpikit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/internal/selfobs"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEProgram keeps the README's program identical to
// examples/hello, which the build, vet and its own tests check, and its
// main function within 15 lines. (The imports that error handling and a
// clean shutdown need leave no room for a whole file of 15 lines.)
func TestREADMEProgram(t *testing.T) {
	m := regexp.MustCompile("(?s)## A program\n\n```go\n(.*?)```").FindStringSubmatch(readme(t))
	if m == nil {
		t.Fatal("README has no program under '## A program'")
	}
	prog, err := os.ReadFile("examples/hello/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != string(prog) {
		t.Errorf("README program differs from examples/hello/main.go:\n%s", m[1])
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "README.md", m[1], 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "main" {
			if n := fset.Position(fd.Body.Rbrace).Line - fset.Position(fd.Body.Lbrace).Line - 1; n > 15 {
				t.Errorf("README program's main has %d lines, want 15 or fewer", n)
			}
			return
		}
	}
	t.Error("README program has no func main")
}

// TestREADMECommands checks that the programs the README tells a newcomer
// to run exist.
func TestREADMECommands(t *testing.T) {
	for _, m := range regexp.MustCompile(`go run (\./examples/[a-z]+)`).FindAllStringSubmatch(readme(t), -1) {
		if _, err := os.Stat(m[1] + "/main.go"); err != nil {
			t.Errorf("README runs %s: %v", m[1], err)
		}
	}
	if !strings.Contains(readme(t), "go test -race ./...") {
		t.Error("README lacks the test command go test -race ./...")
	}
}

// TestREADMEMetrics checks that every metric name the packages declare
// (each constant named Metric…, and the dropped counter) is documented in
// the README.
func TestREADMEMetrics(t *testing.T) {
	names := []string{selfobs.MetricName}
	for _, dir := range []string{"customer", "operational"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, id := range vs.Names {
						if !strings.HasPrefix(id.Name, "Metric") || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							names = append(names, v)
						}
					}
				}
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric names: %v", len(names), names)
	}
	r := readme(t)
	for _, n := range names {
		if !strings.Contains(r, "`"+n+"`") {
			t.Errorf("README does not document metric %s", n)
		}
	}
}
