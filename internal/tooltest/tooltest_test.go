package tooltest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/internal/tooltest"
)

func writeExecutable(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The environment variable wins over the cache; without it, the cache's
// promtool is used.
func TestPromtoolLookup(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	cached := filepath.Join(tooltest.CacheDir(), "promtool")
	if !strings.HasPrefix(cached, home) {
		t.Fatalf("CacheDir() = %s, not under HOME %s", tooltest.CacheDir(), home)
	}
	if want := filepath.Join("kpikit", "prometheus-"+tooltest.PrometheusVersion, "promtool"); !strings.HasSuffix(cached, want) {
		t.Errorf("cached promtool %s does not end in %s", cached, want)
	}
	writeExecutable(t, cached)
	t.Setenv(tooltest.PromtoolEnv, "")
	if got := tooltest.Promtool(t); got != cached {
		t.Errorf("Promtool() = %s, want the cached %s", got, cached)
	}
	named := filepath.Join(home, "bin", "promtool")
	writeExecutable(t, named)
	t.Setenv(tooltest.PromtoolEnv, named)
	if got := tooltest.Promtool(t); got != named {
		t.Errorf("Promtool() = %s, want %s, named by %s", got, named, tooltest.PromtoolEnv)
	}
}

// Without a promtool, Promtool skips the test, unless RequireEnv is set:
// then the test fails, so that CI cannot pass having checked nothing.
func TestPromtoolMissing(t *testing.T) {
	if os.Getenv("TOOLTEST_CHILD") == "1" {
		tooltest.Promtool(t)
		t.Fatal("Promtool returned without a promtool")
	}
	dir := t.TempDir()
	notExecutable := filepath.Join(dir, "promtool.txt")
	if err := os.WriteFile(notExecutable, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      []string
		require  string
		wantFail bool
		wantOut  string
	}{
		{"no cache: skips by default", []string{tooltest.PromtoolEnv + "="}, "", false, "--- SKIP"},
		{"no cache: fails when required", []string{tooltest.PromtoolEnv + "="}, "1", true, tooltest.RequireEnv + " is set"},
		{"bad env: skips by default", []string{tooltest.PromtoolEnv + "=" + filepath.Join(dir, "none")}, "", false, "--- SKIP"},
		{"not executable: fails when required", []string{tooltest.PromtoolEnv + "=" + notExecutable}, "1", true, "not an executable file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPromtoolMissing$", "-test.v")
			cmd.Env = append(os.Environ(), "TOOLTEST_CHILD=1", "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), tooltest.RequireEnv+"="+tt.require)
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.wantFail || !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("%s=%q %v: failed=%v, want %v; output does not say %q:\n%s", tooltest.RequireEnv, tt.require, tt.env, failed, tt.wantFail, tt.wantOut, out)
			}
		})
	}
}
