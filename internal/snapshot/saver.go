package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
)

// DefaultInterval is the snapshot interval of a [Saver] without
// [WithInterval].
const DefaultInterval = time.Minute

// ErrShutdown is returned by [Saver.Save] after [Saver.Shutdown].
var ErrShutdown = errors.New("snapshot: saver is shut down")

// AppendFunc appends the current state to dst and returns the extended
// slice. A [Saver] passes the buffer of its previous snapshot (length 0) so
// that steady-state snapshots do not allocate a new one.
type AppendFunc func(dst []byte) ([]byte, error)

// Option configures [NewSaver].
type Option interface{ apply(config) config }

type config struct{ interval time.Duration }

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

func newConfig(opts []Option) config {
	c := config{interval: DefaultInterval}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	return c
}

// WithInterval sets how often the [Saver] snapshots (default
// [DefaultInterval]). Zero or negative disables periodic snapshots: the
// state is then written only by [Saver.Save] and [Saver.Shutdown].
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c config) config { c.interval = d; return c })
}

// Saver writes the state returned by an [AppendFunc] to one file
// periodically and on [Saver.Shutdown]. It owns one goroutine while
// periodic snapshots are enabled.
type Saver struct {
	path    string
	version uint32
	state   AppendFunc

	mu     sync.Mutex // serialises snapshots; guards buf and closed
	buf    []byte
	closed bool

	stop chan struct{}
	done chan struct{}
}

// NewSaver returns a Saver that writes state to path at the caller's payload
// version. It fails when path is empty, its directory does not exist or
// state is nil; it does not read or write path (use [Load] first).
func NewSaver(path string, version uint32, state AppendFunc, opts ...Option) (*Saver, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	if state == nil {
		return nil, errors.New("snapshot: nil state function")
	}
	c := newConfig(opts)
	s := &Saver{path: path, version: version, state: state, stop: make(chan struct{}), done: make(chan struct{})}
	if c.interval > 0 {
		go s.loop(c.interval)
	} else {
		close(s.done)
	}
	return s, nil
}

// CheckPath returns the error [NewSaver] would return for path: an empty
// path, a path that is a directory, or a directory that does not exist or
// is not one.
func CheckPath(path string) error {
	if path == "" {
		return errors.New("snapshot: empty path")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("snapshot: %s is a directory, not a file", path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("snapshot: directory of %s: %w", path, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("snapshot: directory of %s: %s is not a directory", path, dir)
	}
	return nil
}

func (s *Saver) loop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Save(); err != nil && !errors.Is(err, ErrShutdown) {
				otel.Handle(err)
			}
		}
	}
}

// Save writes a snapshot now. Concurrent calls are serialised. It returns
// the error of the state function or of [Write], or [ErrShutdown] after
// [Saver.Shutdown].
func (s *Saver) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrShutdown
	}
	return s.saveLocked()
}

func (s *Saver) saveLocked() error {
	buf, err := s.state(s.buf[:0])
	if err != nil {
		return fmt.Errorf("snapshot: state for %s: %w", s.path, err)
	}
	s.buf = buf
	return Write(s.path, s.version, buf)
}

// Shutdown stops periodic snapshots and writes the last one. It waits for a
// snapshot in progress and returns ctx.Err() without writing if ctx ends
// first; a write that has started is not interrupted. Later calls return
// nil and write nothing.
func (s *Saver) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()

	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}
