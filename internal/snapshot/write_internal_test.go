package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestInterruptedWriteKeepsOldFile fails a write after the temporary file
// got part of the new snapshot: the old snapshot must stay in place and the
// temporary file must be gone.
func TestInterruptedWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := Write(path, 1, []byte("old")); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	err := write(path, 1, make([]byte, 1<<20), func(f *os.File) error {
		if err := f.Truncate(HeaderSize + 100); err != nil { // half written
			return err
		}
		return crash
	})
	if !errors.Is(err, crash) {
		t.Fatalf("write = %v, want the crash", err)
	}
	got, err := Read(path, 1)
	if err != nil || string(got) != "old" {
		t.Fatalf("after an interrupted write: %q, %v; want the old snapshot", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the snapshot", len(entries))
	}
}
