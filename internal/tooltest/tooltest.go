package tooltest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// PrometheusVersion is the Prometheus release whose promtool the tests run,
// the one .ci/run builds.
const PrometheusVersion = "v0.316.0"

// PromtoolEnv names a promtool binary to use instead of the cached one.
const PromtoolEnv = "KPIKIT_PROMTOOL"

// RequireEnv is the environment variable that, when set to any value,
// turns a missing tool from a skip into a test failure.
const RequireEnv = "KPIKIT_REQUIRE_TOOLS"

// CacheDir returns the folder, under the user cache directory, that holds
// the tools .ci/run builds for Prometheus: kpikit/prometheus-<version>.
func CacheDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "kpikit", "prometheus-"+PrometheusVersion)
}

// Promtool returns the path of a promtool binary: the one [PromtoolEnv]
// names, else promtool in [CacheDir]. When neither is an executable file
// it skips the test, or fails it when [RequireEnv] is set.
func Promtool(tb testing.TB) string {
	tb.Helper()
	path, err := promtoolPath()
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("%v, and %s is set", err, RequireEnv)
		}
		tb.Skipf("%v (.ci/run builds it; or set %s to a promtool binary)", err, PromtoolEnv)
	}
	return path
}

func promtoolPath() (string, error) {
	if p := os.Getenv(PromtoolEnv); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("promtool named by %s: %v", PromtoolEnv, err)
		}
		return p, nil
	}
	p := filepath.Join(CacheDir(), "promtool")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("promtool %s not found: %v", PrometheusVersion, err)
	}
	return p, nil
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
