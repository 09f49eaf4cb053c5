// Package snapshot keeps a recorder's state in one versioned file so that a
// restart loses at most one snapshot interval: [Write] replaces the file
// atomically, [Load] reads it back at start and never fails the start, and a
// [Saver] writes it periodically and on shutdown. The payload is opaque
// bytes owned by the caller (serialised sketches and totals); this package
// adds a header with a magic string, a layout version, the caller's payload
// version, the payload length and a CRC-32C checksum ([HeaderSize] bytes).
//
// # Usage
//
//	const stateVersion = 1 // bump when the payload encoding changes
//	if payload := snapshot.Load(path, stateVersion); payload != nil {
//		restore(payload) // the caller's decoding
//	}
//	saver, err := snapshot.NewSaver(path, stateVersion,
//		func(dst []byte) ([]byte, error) { return appendState(dst) },
//		snapshot.WithInterval(time.Minute))
//	...
//	err = saver.Shutdown(ctx) // stops the goroutine, writes the last snapshot
//
// # Configuration
//
// [WithInterval] sets the snapshot period ([DefaultInterval]); zero turns
// periodic snapshots off. Nil options are ignored.
//
// # Failure handling
//
// A missing file is an empty state. A corrupt, truncated or
// version-mismatched file ([ErrCorrupt], [ErrVersion]) is renamed to
// NAME.corrupt-<unix seconds> and kept, the error is passed to
// [go.opentelemetry.io/otel.Handle] with the file name and the reason, and
// Load returns nil: the application starts with empty state instead of
// crashing or silently ignoring the file. Errors of periodic snapshots go
// to the same handler; [Saver.Save] and [Saver.Shutdown] return theirs.
//
// [Write] writes a temporary file NAME.tmp-* in the same directory, syncs
// it, renames it over NAME and syncs the directory, so a crash leaves the
// old or the new snapshot, never a partial one; [Load] removes stale
// temporary files. The payload version is compared for equality: a caller
// that changes its encoding bumps the version, and old files are moved
// aside rather than misread. One process writes one file; two savers on the
// same path race (the last rename wins) but never produce a torn file.
//
// # Performance
//
// A snapshot costs one call of the state function, one file write and two
// fsyncs; the fsyncs dominate (milliseconds on most disks), so intervals
// under a second are rarely useful. The Saver reuses its payload buffer
// between snapshots. Decode checks the checksum at memory speed.
//
// # Concurrency
//
// Write, Read, Load and Decode are safe for concurrent use on different
// paths. A Saver's methods are safe for concurrent use; snapshots never
// overlap. The state function runs on the Saver's goroutine (or the caller
// of Save / Shutdown) and must itself be safe against concurrent recording.
// Shutdown returns ctx.Err() if ctx ends while a snapshot is in progress;
// that snapshot still completes on its own goroutine.
package snapshot
