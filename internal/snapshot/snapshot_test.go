package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/kpikit/kpikit/internal/errcapture"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// captureErrors records what is reported through the OTel error handler
// until the test ends.
func captureErrors(t *testing.T) func() []error { return errcapture.Capture(t) }

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	for _, payload := range [][]byte{{}, []byte("a"), bytes.Repeat([]byte{0xff, 0}, 1<<16)} {
		if err := snapshot.Write(path, 7, payload); err != nil {
			t.Fatal(err)
		}
		got, err := snapshot.Read(path, 7)
		if err != nil {
			t.Fatalf("Read after Write(%d bytes): %v", len(payload), err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("Read = %d bytes, want %d", len(got), len(payload))
		}
		if got := snapshot.Load(path, 7); !bytes.Equal(got, payload) {
			t.Fatalf("Load = %d bytes, want %d", len(got), len(payload))
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after writes, want only the snapshot", len(entries))
	}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	errs := captureErrors(t)
	if got := snapshot.Load(filepath.Join(t.TempDir(), "none"), 1); got != nil {
		t.Errorf("Load(missing) = %q, want nil", got)
	}
	if e := errs(); len(e) != 0 {
		t.Errorf("Load(missing) reported %v, want nothing", e)
	}
}

func TestLoadBadFileMovedAside(t *testing.T) {
	good := func() []byte {
		path := filepath.Join(t.TempDir(), "x")
		if err := snapshot.Write(path, 1, []byte("payload")); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return b
	}()
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	withVersion := func(layout uint16, version uint32) []byte {
		b := bytes.Clone(good[snapshot.HeaderSize:])
		var buf bytes.Buffer
		path := filepath.Join(t.TempDir(), "v")
		if err := snapshot.Write(path, version, b); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if layout != snapshot.Layout {
			// Rewrite the layout and fix the checksum by hand.
			binary.BigEndian.PutUint16(raw[8:], layout)
			buf.Write(raw)
			return fixCRC(buf.Bytes())
		}
		return raw
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr error
		reason  string
	}{
		{"empty", nil, snapshot.ErrCorrupt, "truncated header"},
		{"truncated header", good[:10], snapshot.ErrCorrupt, "truncated header"},
		{"truncated payload", good[:len(good)-1], snapshot.ErrCorrupt, "header says"},
		{"trailing bytes", append(bytes.Clone(good), 0), snapshot.ErrCorrupt, "header says"},
		{"bad magic", flip(0), snapshot.ErrCorrupt, "bad magic"},
		{"flipped payload bit", flip(len(good) - 1), snapshot.ErrCorrupt, "checksum"},
		{"flipped version bit", flip(12), snapshot.ErrCorrupt, "checksum"},
		{"other payload version", withVersion(snapshot.Layout, 2), snapshot.ErrVersion, "payload version 2, want 1"},
		{"other layout", withVersion(snapshot.Layout+1, 1), snapshot.ErrVersion, "file layout 2, want 1"},
		{"text file", []byte("hello, this is not a snapshot at all"), snapshot.ErrCorrupt, "bad magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := captureErrors(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := snapshot.Load(path, 1); got != nil {
				t.Errorf("Load = %q, want nil", got)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("bad file still at %s (stat err %v)", path, err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files = %v, want one", aside)
			}
			if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, tt.data) {
				t.Errorf("moved-aside file changed")
			}
			e := errs()
			if len(e) != 1 {
				t.Fatalf("reported %d errors %v, want 1", len(e), e)
			}
			if !errors.Is(e[0], tt.wantErr) {
				t.Errorf("reported %v, want it to wrap %v", e[0], tt.wantErr)
			}
			for _, s := range []string{path, aside[0], tt.reason, "starting with empty state"} {
				if !strings.Contains(e[0].Error(), s) {
					t.Errorf("reported %q, want it to mention %q", e[0], s)
				}
			}
			// The next start finds no file: empty and quiet.
			if got := snapshot.Load(path, 1); got != nil || len(errs()) != 1 {
				t.Errorf("second Load = %q with %d errors, want nil and no new error", got, len(errs()))
			}
		})
	}
}

// fixCRC recomputes the checksum of a hand-edited file.
func fixCRC(b []byte) []byte {
	tab := crc32.MakeTable(crc32.Castagnoli)
	crc := crc32.Update(0, tab, b[len(snapshot.Magic):22])
	crc = crc32.Update(crc, tab, b[snapshot.HeaderSize:])
	binary.BigEndian.PutUint32(b[22:], crc)
	return b
}

func TestMoveAsideNeverOverwrites(t *testing.T) {
	captureErrors(t)
	path := filepath.Join(t.TempDir(), "state")
	for i := range 3 {
		if err := os.WriteFile(path, []byte{byte(i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		snapshot.Load(path, 1)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 3 {
		t.Errorf("moved-aside files = %v, want three", aside)
	}
}

func TestLoadUnreadableReported(t *testing.T) {
	errs := captureErrors(t)
	path := t.TempDir() // a directory where a file is expected
	if got := snapshot.Load(path, 1); got != nil {
		t.Errorf("Load(dir) = %q, want nil", got)
	}
	if e := errs(); len(e) != 1 || !strings.Contains(e[0].Error(), path) {
		t.Errorf("reported %v, want one error naming %s", e, path)
	}
}

func TestCrashLeavesGoodFile(t *testing.T) {
	errs := captureErrors(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := snapshot.Write(path, 1, []byte("good")); err != nil {
		t.Fatal(err)
	}
	// A process that died while writing leaves a partial temporary file.
	partial := filepath.Join(dir, "state.tmp-123456")
	if err := os.WriteFile(partial, []byte(snapshot.Magic+"\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := snapshot.Load(path, 1); string(got) != "good" {
		t.Errorf("Load = %q, want the good snapshot", got)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file not removed: %v", err)
	}
	if e := errs(); len(e) != 0 {
		t.Errorf("reported %v, want nothing", e)
	}
	// A write that fails (a missing directory) changes nothing.
	if err := snapshot.Write(filepath.Join(dir, "missing", "state"), 1, []byte("x")); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

func TestSaver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	var n atomic.Int64
	state := func(dst []byte) ([]byte, error) {
		return binary.BigEndian.AppendUint64(dst, uint64(n.Load())), nil
	}
	s, err := snapshot.NewSaver(path, 3, state, snapshot.WithInterval(5*time.Millisecond), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Store(1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := snapshot.Read(path, 3); err == nil && binary.BigEndian.Uint64(b) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic snapshot within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	n.Store(42)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := snapshot.Read(path, 3)
	if err != nil || binary.BigEndian.Uint64(b) != 42 {
		t.Fatalf("after Shutdown: %v, %v; want the last state 42", b, err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := s.Save(); !errors.Is(err, snapshot.ErrShutdown) {
		t.Errorf("Save after Shutdown = %v, want ErrShutdown", err)
	}
}

func TestSaverShutdownHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	s, err := snapshot.NewSaver(path, 1, func(dst []byte) ([]byte, error) { return dst, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Shutdown(cancelled) wrote a snapshot")
	}
}

func TestSaverErrors(t *testing.T) {
	dir := t.TempDir()
	state := func(dst []byte) ([]byte, error) { return dst, nil }
	tests := []struct {
		name  string
		path  string
		state snapshot.AppendFunc
	}{
		{"empty path", "", state},
		{"nil state", filepath.Join(dir, "s"), nil},
		{"missing directory", filepath.Join(dir, "no", "s"), state},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := snapshot.NewSaver(tt.path, 1, tt.state); err == nil {
				t.Errorf("NewSaver(%q) succeeded", tt.path)
				_ = s.Shutdown(context.Background())
			}
		})
	}
	errs := captureErrors(t)
	boom := errors.New("boom")
	s, err := snapshot.NewSaver(filepath.Join(dir, "s"), 1,
		func(dst []byte) ([]byte, error) { return dst, boom }, snapshot.WithInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(errs()) == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := s.Shutdown(context.Background()); !errors.Is(err, boom) {
		t.Errorf("Shutdown = %v, want the state error", err)
	}
	if e := errs(); len(e) == 0 || !errors.Is(e[0], boom) {
		t.Errorf("periodic error not reported: %v", e)
	}
}

func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	if err := snapshot.Write(seed, 1, []byte("seed payload")); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Add(b[:snapshot.HeaderSize])
	f.Add([]byte(snapshot.Magic))
	f.Add([]byte{})
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	f.Cleanup(func() { otel.SetErrorHandler(prev) })
	f.Fuzz(func(t *testing.T, data []byte) {
		payload, err := snapshot.Decode(data, 1)
		if err == nil {
			// Anything Decode accepts re-encodes to the same bytes.
			path := filepath.Join(t.TempDir(), "s")
			if err := snapshot.Write(path, 1, payload); err != nil {
				t.Fatal(err)
			}
			again, _ := os.ReadFile(path)
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted %x, re-encoded %x", data, again)
			}
		} else if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrVersion) {
			t.Fatalf("Decode error %v wraps neither ErrCorrupt nor ErrVersion", err)
		}
		path := filepath.Join(t.TempDir(), "s")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got := snapshot.Load(path, 1)
		if err == nil && (got == nil || !bytes.Equal(got, payload)) || err != nil && got != nil {
			t.Fatalf("Load = %q, Decode = %q, %v", got, payload, err)
		}
	})
}
