package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runMain is the variable that makes the test binary run the program
// instead of the tests, so that the tests see it as a separate process:
// its exit status, its output and its handling of signals.
const runMain = "KPIKIT_HELLO_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// buffer is a bytes.Buffer that the program's output can be written to
// while the test reads it.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// hello is the program started by [start].
type hello struct {
	cmd            *exec.Cmd
	stdout, stderr buffer
	done           chan struct{} // closed when it has exited
	err            error         // the exit error, once done is closed
}

// start starts the program with the OTEL_* variables of env only.
func start(t *testing.T, env ...string) *hello {
	t.Helper()
	h := &hello{cmd: exec.Command(os.Args[0]), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			h.cmd.Env = append(h.cmd.Env, kv)
		}
	}
	h.cmd.Env = append(h.cmd.Env, runMain+"=1")
	h.cmd.Env = append(h.cmd.Env, env...)
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, &h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		h.err = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			_ = h.cmd.Process.Kill()
			<-h.done
		}
	})
	return h
}

// wait waits for the program to exit and returns its exit code.
func (h *hello) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the program did not exit within 30s\nstderr:\n%s", h.stderr.String())
	}
	var exit *exec.ExitError
	switch {
	case h.err == nil:
		return 0
	case errors.As(h.err, &exit):
		return exit.ExitCode()
	}
	t.Fatal(h.err)
	return -1
}

func TestBadConfigurationIsAnError(t *testing.T) {
	h := start(t, "OTEL_METRICS_EXPORTER=bogus")
	code := h.wait(t)
	stderr := h.stderr.String()
	if code == 0 {
		t.Errorf("exit code 0 with OTEL_METRICS_EXPORTER=bogus, want non-zero")
	}
	if strings.Contains(stderr, "panic") {
		t.Errorf("the program panicked:\n%s", stderr)
	}
	if !strings.Contains(stderr, `OTEL_METRICS_EXPORTER="bogus"`) {
		t.Errorf("stderr does not name the variable and its value:\n%s", stderr)
	}
}

// TestSignalExportsAndExits serves one request, then sends the signal: the
// program must export that request on its way out (the console exporter
// exports every minute, so nothing was exported before) and exit 0.
func TestSignalExportsAndExits(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			h := start(t, "OTEL_METRICS_EXPORTER=console")
			get(t, h)
			if err := h.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := h.wait(t); code != 0 {
				t.Errorf("exit code %d after %v, want 0\nstderr:\n%s", code, sig, h.stderr.String())
			}
			if n := requests(t, h.stdout.String()); n != 1 {
				t.Errorf("the last export holds %d requests, want 1\nstdout:\n%s\nstderr:\n%s", n, h.stdout.String(), h.stderr.String())
			}
		})
	}
}

// get requests /hello/ann until the program answers. The program listens on
// the fixed port 8080: if another process holds it, the test is skipped.
func get(t *testing.T, h *hello) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-h.done:
			if strings.Contains(h.stderr.String(), "address already in use") {
				t.Skipf("port 8080 is taken by another process:\n%s", h.stderr.String())
			}
			t.Fatalf("the program exited before serving: %v\nstderr:\n%s", h.err, h.stderr.String())
		default:
		}
		resp, err := client.Get("http://127.0.0.1:8080/hello/ann")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "hi" {
				t.Fatalf("GET /hello/ann: %s %q", resp.Status, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the program does not answer on :8080: %v\nstderr:\n%s", err, h.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requests returns the number of requests in the console exporter's last
// http.server.request.duration histogram; it fails the test if nothing was
// exported.
func requests(t *testing.T, stdout string) uint64 {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var n uint64
	exported := false
	for {
		var doc struct {
			ScopeMetrics []struct {
				Metrics []struct {
					Name string
					Data struct {
						DataPoints []struct{ Count uint64 }
					}
				}
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("console output: %v", err)
		}
		exported, n = true, 0
		for _, sm := range doc.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == "http.server.request.duration" {
					for _, dp := range m.Data.DataPoints {
						n += dp.Count
					}
				}
			}
		}
	}
	if !exported {
		t.Fatal("nothing exported on standard output")
	}
	return n
}
