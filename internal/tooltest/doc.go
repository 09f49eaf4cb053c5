// Package tooltest finds the command-line tools that some tests run, such
// as promtool, the Prometheus rule checker: [Promtool] returns the path of
// the binary named by the environment variable [PromtoolEnv], else of the
// one continuous integration builds into the user cache directory
// (kpikit/prometheus-<PrometheusVersion>/promtool under
// os.UserCacheDir). It does not build anything itself: .ci/run does,
// once, because building Prometheus takes minutes.
//
// A test that needs a missing tool skips with a message saying how to get
// it, or fails when the environment variable [RequireEnv] is set, as
// continuous integration does, so that a machine without the tool cannot
// pass having checked nothing.
//
// # Usage
//
//	func TestRules(t *testing.T) {
//		promtool := tooltest.Promtool(t)
//		out, err := exec.Command(promtool, "check", "rules", "rules.yml").CombinedOutput()
//		...
//	}
package tooltest
