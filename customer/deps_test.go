package customer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoRedisClient checks that package customer links no Redis client:
// only programs that import customer/redisstate do.
func TestNoRedisClient(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/kpikit/kpikit/customer").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		if strings.Contains(p, "redis") {
			t.Errorf("customer depends on %s", p)
		}
	}
}
