package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
)

// Magic opens every snapshot file.
const Magic = "KPIKSNAP"

// Layout is the version of the file layout written by this package (the
// header below), independent of the caller's payload version.
const Layout uint16 = 1

// HeaderSize is the size of the header that precedes the payload:
//
//	offset size field
//	     0    8 Magic
//	     8    2 Layout, big endian
//	    10    4 payload version, big endian
//	    14    8 payload length, big endian
//	    22    4 CRC-32C (Castagnoli) of bytes 8..21 and the payload
const HeaderSize = 26

var (
	// ErrCorrupt reports a file that is not a complete snapshot: wrong magic,
	// truncated, trailing bytes or a checksum mismatch.
	ErrCorrupt = errors.New("snapshot: corrupt file")
	// ErrVersion reports a well-formed file of another layout or payload
	// version.
	ErrVersion = errors.New("snapshot: version mismatch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendHeader appends the header for payload to b.
func appendHeader(b []byte, version uint32, payload []byte) []byte {
	start := len(b)
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, Layout)
	b = binary.BigEndian.AppendUint32(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(len(payload)))
	crc := crc32.Update(0, castagnoli, b[start+len(Magic):])
	crc = crc32.Update(crc, castagnoli, payload)
	return binary.BigEndian.AppendUint32(b, crc)
}

// Decode checks a whole file's bytes and returns the payload, a sub-slice of
// data. It returns an error wrapping [ErrCorrupt] or [ErrVersion] and never
// panics, whatever data holds.
func Decode(data []byte, version uint32) ([]byte, error) {
	if len(data) < HeaderSize {
		if len(data) >= len(Magic) && string(data[:len(Magic)]) != Magic {
			return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
		}
		return nil, fmt.Errorf("%w: truncated header (%d bytes, want at least %d)", ErrCorrupt, len(data), HeaderSize)
	}
	if string(data[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	layout := binary.BigEndian.Uint16(data[8:])
	got := binary.BigEndian.Uint32(data[10:])
	n := binary.BigEndian.Uint64(data[14:])
	sum := binary.BigEndian.Uint32(data[22:])
	body := data[HeaderSize:]
	if n != uint64(len(body)) {
		return nil, fmt.Errorf("%w: payload is %d bytes, header says %d", ErrCorrupt, len(body), n)
	}
	crc := crc32.Update(0, castagnoli, data[len(Magic):22])
	if crc = crc32.Update(crc, castagnoli, body); crc != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if layout != Layout {
		return nil, fmt.Errorf("%w: file layout %d, want %d", ErrVersion, layout, Layout)
	}
	if got != version {
		return nil, fmt.Errorf("%w: payload version %d, want %d", ErrVersion, got, version)
	}
	return body, nil
}

// Write replaces the file at path with a snapshot of payload at the caller's
// payload version, atomically: it writes a temporary file in the same
// directory, syncs it, renames it over path and syncs the directory. A crash
// at any point leaves either the old file or the new one at path, never a
// mix; a leftover temporary file is removed by the next [Load].
func Write(path string, version uint32, payload []byte) error {
	return write(path, version, payload, nil)
}

// write is Write with a test hook called after the temporary file was
// written and before it is synced and renamed.
func write(path string, version uint32, payload []byte, hook func(*os.File) error) (err error) {
	if path == "" {
		return errors.New("snapshot: empty path")
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	var hdr [HeaderSize]byte
	if _, err = f.Write(appendHeader(hdr[:0], version, payload)); err == nil {
		_, err = f.Write(payload)
	}
	if err == nil && hook != nil {
		err = hook(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		// The rename happened: path holds the new snapshot, only its
		// durability across a power loss is in doubt.
		return fmt.Errorf("snapshot: write %s: sync directory: %w", path, err)
	}
	return nil
}

const tempInfix = ".tmp-"

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read returns the payload of the snapshot at path. A missing file returns
// an error for which errors.Is(err, fs.ErrNotExist) holds; a damaged file one
// wrapping [ErrCorrupt] or [ErrVersion]. Read changes nothing on disk.
func Read(path string, version uint32) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s: %w", path, err)
	}
	payload, err := Decode(data, version)
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s: %w", path, err)
	}
	return payload, nil
}

// Load returns the payload of the snapshot at path for a recorder that is
// starting; it never fails the start. A missing file is an empty state: nil,
// and nothing is reported. A corrupt, truncated or version-mismatched file
// is renamed to path + ".corrupt-<unix seconds>" (kept for inspection,
// never overwritten), the reason is reported through the OTel error handler
// ([otel.Handle]) naming both files, and Load returns nil. A file that
// cannot be read at all is reported and left in place. Load also removes
// temporary files that an interrupted [Write] to path left behind.
func Load(path string, version uint32) []byte {
	removeStaleTemps(path)
	payload, err := Read(path, version)
	switch {
	case err == nil:
		return payload
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrVersion):
		aside, merr := moveAside(path, time.Now())
		if merr != nil {
			otel.Handle(fmt.Errorf("%w; could not move it aside (%v); starting with empty state", err, merr))
			return nil
		}
		otel.Handle(fmt.Errorf("%w; moved aside to %s; starting with empty state", err, aside))
		return nil
	default:
		otel.Handle(fmt.Errorf("%w; starting with empty state", err))
		return nil
	}
}

// moveAside renames path to a name that does not exist yet.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + strconv.FormatInt(now.Unix(), 10)
	for i := 0; i < 100; i++ {
		aside := base
		if i > 0 {
			aside += "." + strconv.Itoa(i)
		}
		if _, err := os.Lstat(aside); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := os.Rename(path, aside); err != nil {
			return "", err
		}
		return aside, nil
	}
	return "", fmt.Errorf("too many files named %s*", base)
}

func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := base + tempInfix
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
