package redistest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/internal/redistest"
)

// Without redis-server on PATH, Start skips the test, unless RequireEnv is
// set: then the test fails, so that CI cannot pass without Redis.
func TestStartWithoutRedis(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		redistest.Start(t)
		t.Fatal("Start returned without a redis-server")
	}
	tests := []struct {
		name     string
		require  string
		wantFail bool
		wantOut  string
	}{
		{"skips by default", "", false, "--- SKIP"},
		{"fails when required", "1", true, "not found on PATH and " + redistest.RequireEnv + " is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestStartWithoutRedis$", "-test.v")
			cmd.Env = append(os.Environ(), "REDISTEST_CHILD=1", "PATH="+t.TempDir(), redistest.RequireEnv+"="+tt.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.wantFail || !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("%s=%q: failed=%v, want %v; output does not say %q:\n%s", redistest.RequireEnv, tt.require, failed, tt.wantFail, tt.wantOut, out)
			}
		})
	}
}
