package customer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// This file snapshots the state of funnels and goals (WithSnapshot): the
// counts of every segment row and the progress of every tracked user.

// progressStateVersion is the payload version of funnel and goal
// snapshots.
const progressStateVersion = 1

// Snapshot payload (progressStateVersion 1), integers as varints:
//
//	header: recorder kind, name, steps, order, window, dimensions
//	watermark
//	rows: count, (value per dimension, users per step, events per step)...
//	attempts: count, (user, start, row, mask, ended)...
//	failures (optional; a funnel used under request outcomes): version 1,
//	    impaired attempts per step of every row,
//	    error types: count, (error type)...,
//	    impaired users: count, (row, step, error type, count)...,
//	    impaired attempts: count, (user, steps)...
//	entries by period (optional; a funnel with WithPeriod): the byte 'P',
//	    version 1, period unit, location name, words per entry, steps,
//	    periods: count, (index, rows: count, (row, users per step)...)...,
//	    users: count, (user, entries: count, (words)...)...
//
// The failures section extends version 1 at its end: a payload without
// it, as every earlier release wrote, loads with no impaired attempt. Its
// error types are numbered from 1 in their order (0 is OtherValue), and
// an impaired attempt's steps are a mask, bit i for step i.

// failuresVersion is the version of the failures section.
const failuresVersion = 1

// progressHeader identifies the recorder whose state a snapshot holds.
func progressHeader(kind, name string, steps []string, order Order, window time.Duration, rows *rowTable) []byte {
	b := appendString(nil, kind)
	b = appendString(b, name)
	b = binary.AppendUvarint(b, uint64(len(steps)))
	for _, s := range steps {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(order))
	b = binary.AppendVarint(b, int64(window))
	b = binary.AppendUvarint(b, uint64(len(rows.dims)))
	for _, d := range rows.dims {
		b = appendString(b, string(d.key))
	}
	return b
}

// appendState appends the store's state to b after header. It runs while
// recording goes on: each shard is read under its lock, the whole is not
// one instant.
func (s *progressStore) appendState(b, header []byte) []byte {
	b = append(b, header...)
	b = binary.AppendVarint(b, s.wm.Load())
	var rows []*row
	s.rows.each(func(r *row) { rows = append(rows, r) })
	index := make(map[*row]uint64, len(rows))
	b = binary.AppendUvarint(b, uint64(len(rows)))
	for i, r := range rows {
		index[r] = uint64(i)
		for j, d := range s.rows.dims {
			b = appendString(b, d.value(r.key[j]))
		}
		for k := range r.users {
			b = binary.AppendVarint(b, r.users[k].Load())
		}
		for k := range r.events {
			b = binary.AppendVarint(b, r.events[k].Load())
		}
	}
	countAt := len(b)
	b = append(b, make([]byte, 8)...) // attempt count, fixed width
	var n uint64
	failures := s.imp != nil && s.imp.links.active.Load()
	var impaired []impairedAttempt
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for u, a := range sh.users {
			b = appendString(b, u)
			b = binary.AppendVarint(b, a.start)
			b = binary.AppendUvarint(b, index[a.row])
			b = binary.AppendUvarint(b, uint64(a.mask))
			if a.ended {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
			if a.impaired && failures {
				impaired = append(impaired, impairedAttempt{user: u, steps: sh.impaired[a]})
			}
			n++
		}
		sh.mu.Unlock()
	}
	binary.LittleEndian.PutUint64(b[countAt:], n)
	if failures {
		b = s.imp.appendState(b, rows, index, impaired)
	}
	if s.pf != nil {
		b = s.pf.appendState(b, s, index)
	}
	return b
}

// impairedAttempt is the user and the impaired steps of an impaired
// attempt, in a snapshot.
type impairedAttempt struct {
	user  string
	steps uint32
}

// appendState appends the failures section: the rows' impaired attempts
// per step, the error types, the impaired users and the impaired attempts.
func (im *impairments) appendState(b []byte, rows []*row, index map[*row]uint64, attempts []impairedAttempt) []byte {
	b = binary.AppendUvarint(b, failuresVersion)
	for _, r := range rows {
		for k := range r.impaired {
			b = binary.AppendVarint(b, r.impaired[k].Load())
		}
	}
	im.mu.Lock()
	b = binary.AppendUvarint(b, uint64(len(im.names)-1))
	for _, t := range im.names[1:] {
		b = appendString(b, t)
	}
	var counts []*impairCount
	for _, c := range im.list {
		if _, ok := index[c.key.row]; ok { // not a row created since the rows were written
			counts = append(counts, c)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(counts)))
	for _, c := range counts {
		b = binary.AppendUvarint(b, index[c.key.row])
		b = binary.AppendUvarint(b, uint64(c.key.step))
		b = binary.AppendUvarint(b, uint64(c.key.typ))
		b = binary.AppendVarint(b, c.n)
	}
	im.mu.Unlock()
	b = binary.AppendUvarint(b, uint64(len(attempts)))
	for _, a := range attempts {
		b = appendString(b, a.user)
		b = binary.AppendUvarint(b, uint64(a.steps))
	}
	return b
}

// restoreState loads a payload into an empty store.
func (s *progressStore) restoreState(p, header []byte) error {
	if len(p) < len(header) || string(p[:len(header)]) != string(header) {
		return errors.New("written by a recorder with another kind, name, steps, order, window or segments")
	}
	d := &decoder{b: p[len(header):]}
	s.wm.Store(d.varint())
	var rows []*row
	values := make([]string, len(s.rows.dims))
	for n := d.count(1); n > 0 && d.err == nil; n-- {
		for j := range values {
			values[j] = d.string()
		}
		if d.err != nil {
			break
		}
		k, _, _ := s.rows.key(values)
		r := s.rows.get(k)
		for k := range r.users {
			r.users[k].Add(d.varint())
		}
		for k := range r.events {
			r.events[k].Add(d.varint())
		}
		rows = append(rows, r)
	}
	n := d.fixed64() // attempts
	if d.err != nil {
		return d.err
	}
	for ; n > 0 && d.err == nil; n-- {
		user := d.string()
		a := s.newAttempt()
		a.start = d.varint()
		ri := d.uvarint()
		a.mask = uint32(d.uvarint())
		ended := d.bytes(1)
		a.ended = len(ended) == 1 && ended[0] == 1
		if d.err != nil {
			break
		}
		if ri >= uint64(len(rows)) {
			return fmt.Errorf("attempt of row %d, %d rows", ri, len(rows))
		}
		a.row = rows[ri]
		if s.tracked.Load() >= s.maxUsers {
			continue
		}
		sh := &s.shards[maphash.String(s.seed, user)%numShards]
		sh.mu.Lock()
		if _, dup := sh.users[user]; !dup {
			sh.users[user] = a
			s.tracked.Add(1)
		}
		sh.mu.Unlock()
	}
	failures := false
	if d.err == nil && len(d.b) != 0 && d.b[0] != periodsTag && s.imp != nil {
		if err := s.restoreFailures(d, rows); err != nil {
			return err
		}
		failures = true
	}
	if d.err == nil && len(d.b) != 0 && d.b[0] == periodsTag {
		if err := s.restorePeriods(d, rows); err != nil {
			return err
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	if d.err == nil && failures {
		s.imp.links.start() // the restored figures are reported
	}
	return d.err
}

// restoreFailures loads the failures section (see appendState) into a
// store whose rows (in the order of the payload) and attempts are loaded.
func (s *progressStore) restoreFailures(d *decoder, rows []*row) error {
	if v := d.uvarint(); d.err == nil && v != failuresVersion {
		return fmt.Errorf("failures section of version %d, want %d", v, failuresVersion)
	}
	for _, r := range rows {
		for k := range r.impaired {
			r.impaired[k].Add(d.varint())
		}
	}
	im := s.imp
	im.mu.Lock()
	defer im.mu.Unlock()
	for n := d.count(1); n > 0 && d.err == nil; n-- {
		t := d.string()
		if d.err != nil {
			break
		}
		if _, f := im.errorType(t); f != foldNone {
			return fmt.Errorf("error type %q cannot be taken", t)
		}
	}
	for n := d.count(4); n > 0 && d.err == nil; n-- {
		ri, k, i, c := d.uvarint(), d.uvarint(), d.uvarint(), d.varint()
		if d.err != nil {
			break
		}
		if ri >= uint64(len(rows)) || k >= uint64(s.steps) || i >= uint64(len(im.names)) {
			return fmt.Errorf("impaired users of row %d, step %d, error type %d: %d rows, %d steps, %d error types", ri, k, i, len(rows), s.steps, len(im.names))
		}
		im.series(rows[ri], int(k), uint8(i)).n += c
	}
	all := uint32(1)<<s.steps - 1
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		user, steps := d.string(), uint32(d.uvarint())&all
		if d.err != nil || steps == 0 {
			continue
		}
		sh := &s.shards[maphash.String(s.seed, user)%numShards]
		sh.mu.Lock()
		if a := sh.users[user]; a != nil { // not an attempt left out by the user cap
			if sh.impaired == nil {
				sh.impaired = make(map[*attempt]uint32)
			}
			sh.impaired[a] |= steps
			a.impaired = true
		}
		sh.mu.Unlock()
	}
	return d.err
}

// progressSaver loads the snapshot at path into the store, when there is
// one, and returns the saver that writes it. A file that does not decode
// is moved aside and reported, and the store starts empty (reset builds a
// fresh one).
func progressSaver(c config, what string, header []byte, store **progressStore, reset func() *progressStore) (*snapshot.Saver, error) {
	if p := snapshot.Load(c.snapPath, progressStateVersion); p != nil {
		if err := (*store).restoreState(p, header); err != nil {
			*store = reset()
			moveAsideReport(c.snapPath, what, err)
		}
	}
	sv, err := snapshot.NewSaver(c.snapPath, progressStateVersion, func(b []byte) ([]byte, error) {
		return (*store).appendState(b, header), nil
	}, snapshot.WithInterval(c.snapInterval))
	if err != nil {
		return nil, fmt.Errorf("customer: %w: %w", err, ErrInvalidConfig)
	}
	return sv, nil
}

// moveAsideReport moves a snapshot that did not decode aside and reports
// it through the OTel error handler.
func moveAsideReport(path, what string, err error) {
	aside := path + ".incompatible-" + strconv.FormatInt(time.Now().Unix(), 10)
	if rerr := os.Rename(path, aside); rerr != nil {
		otel.Handle(fmt.Errorf("customer: %s: snapshot %s: %w; could not move it aside (%v); starting with empty state", what, path, err, rerr))
		return
	}
	otel.Handle(fmt.Errorf("customer: %s: snapshot %s: %w; moved aside to %s; starting with empty state", what, path, err, aside))
}

// startProgressState loads the snapshot into *store, or makes its shared
// state, as c says, for a funnel or goal (kind) with the given name and
// steps (nil for a goal). It starts the saver's goroutine, or the shared
// state's, last: an error leaves nothing running.
func startProgressState(c config, kind, name string, steps []string, store **progressStore, reset func() *progressStore,
	ttc metric.Float64Histogram) (*snapshot.Saver, error) {
	s := *store
	switch {
	case c.snapPath != "":
		header := progressHeader(kind, name, steps, c.order, c.window, s.rows)
		return progressSaver(c, fmt.Sprintf("%s %q", kind, name), header, store, reset)
	case c.shared != nil:
		k := shared.GoalProgress
		if kind == "funnel" {
			k = shared.FunnelProgress
		}
		var err error
		s.remote, err = newSharedProgress(c, k, name, s, ttc)
		return nil, err
	}
	return nil, nil
}

// shutdownProgress stops a funnel's or goal's recording, writes its
// buffered events or its last snapshot, and freezes the figures col
// reports at their last values.
func shutdownProgress(ctx context.Context, s *progressStore, col *collector, saver *snapshot.Saver) error {
	s.closed.Store(true)
	var errs []error
	if s.remote != nil {
		// Every event recorded before reaches the shared state, or ctx
		// ended; the final reading below sees them.
		errs = append(errs, s.remote.Shutdown(ctx))
	}
	errs = append(errs, col.freeze(ctx))
	if saver != nil {
		errs = append(errs, saver.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// flushProgress writes a funnel's or goal's buffered state now.
func flushProgress(ctx context.Context, s *progressStore, saver *snapshot.Saver) error {
	switch {
	case s.remote != nil:
		return s.remote.Flush(ctx)
	case saver != nil:
		return saver.Save()
	}
	return nil
}
