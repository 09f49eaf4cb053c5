// Package budget keeps the live error budget of service-level objectives:
// cumulative good and total event counts, fed on the hot path or read from
// a recorder's own counts, and the snapshots of them that give the error
// ratio and burn rate over each window of the alerting policy. It reports
// them as OpenTelemetry metrics for the recorders of customer and
// operational, which declare SLOs with package slo.
package budget

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// Ring sizes: one snapshot a minute for the windows up to 6 hours, one an
// hour for the longer ones, up to slo.MaxWindow.
const (
	minuteSlots = 512  // > 6h + 1 minute
	hourSlots   = 1024 // > 35 days + 1 hour
	shortLimit  = 6 * time.Hour
)

type point struct{ bad, total int64 }

// Tracker holds the counts of one SLO. Add is lock-free and allocation
// free; Status takes a lock. The zero value is not usable: use New.
type Tracker struct {
	slo slo.SLO

	// Cumulative counts. Add adds to total before bad, Status reads bad
	// before total, so that a reader never sees more bad events than
	// events.
	total, bad atomic.Int64
	minute     atomic.Int64 // the minute of the last snapshot

	mu        sync.Mutex
	seeded    bool  // Set was called once: start holds its counts
	start     point // the counts when the tracker was created
	created   int64 // its minute
	last      int64 // minute of the last snapshot
	lastHour  int64
	minutes   [minuteSlots]point
	hours     [hourSlots]point
	threshold time.Duration   // latency SLIs: the slowest good event
	windows   []time.Duration // the SLO's StatusWindows

	attrOnce sync.Once
	attrSets *attrSets
}

// New returns the tracker of s, created at now. A latency SLI's threshold
// is kept for [Tracker.Good].
func New(s slo.SLO, now time.Time) *Tracker {
	t := &Tracker{slo: s, windows: s.StatusWindows(), threshold: s.LatencyThreshold()}
	m := minuteOf(now.UnixNano())
	t.created, t.last, t.lastHour = m, m, floorDiv(m, 60)
	t.minute.Store(m)
	return t
}

// SLO returns the SLO the tracker counts.
func (t *Tracker) SLO() slo.SLO { return t.slo }

// Good reports whether an event that failed or not and took d is good for
// the tracker's SLI.
func (t *Tracker) Good(failed bool, d time.Duration) bool {
	return !failed && (t.threshold == 0 || d <= t.threshold)
}

// minuteOf returns the minute of a time in Unix nanoseconds, rounded down
// (a time before 1970 is in a negative minute).
func minuteOf(unixNano int64) int64 { return floorDiv(unixNano, int64(time.Minute)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// slot returns the index of minute or hour k in a ring of n slots.
func slot(k int64, n int) int { return int(k - floorDiv(k, int64(n))*int64(n)) }

// Add counts one event that ended at the wall-clock time now (Unix
// nanoseconds), good or bad. When now is in a minute after the last
// snapshot's, the counts before this event are snapshotted first.
func (t *Tracker) Add(now int64, good bool) {
	if m := minuteOf(now); m > t.minute.Load() {
		t.tick(m, t.counts())
	}
	t.total.Add(1)
	if !good {
		t.bad.Add(1)
	}
}

// Set replaces the cumulative counts with a recorder's own, read at now (a
// goal reads them at collection); the counts must not decrease. The events
// since the last Set happened between the two readings: they are placed in
// the minute of this one, so that the short windows see them (a window is
// then as precise as the readings are frequent). The first Set gives the
// counts the windows start from: those of a recorder restored from a
// snapshot are not events of this process's windows. Use either Add or Set
// with one tracker, not both.
func (t *Tracker) Set(now time.Time, good, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seeded {
		t.tickLocked(minuteOf(now.UnixNano()), t.counts())
	}
	t.bad.Store(total - good)
	t.total.Store(total)
	if !t.seeded {
		t.start, t.seeded = point{bad: total - good, total: total}, true
		// Snapshots a Status took before the first Set hold no counts:
		// the windows starting in them begin at the seed too.
		for k := range t.minutes {
			t.minutes[k] = t.start
		}
		for k := range t.hours {
			t.hours[k] = t.start
		}
	}
}

func (t *Tracker) counts() point {
	b := t.bad.Load()
	return point{bad: b, total: t.total.Load()}
}

// tick records v as the counts at the start of minute m and of every
// minute (and hour) since the last snapshot: no event happened in them
// after the last snapshot, or that event would have taken one.
func (t *Tracker) tick(m int64, v point) {
	t.mu.Lock()
	t.tickLocked(m, v)
	t.mu.Unlock()
}

func (t *Tracker) tickLocked(m int64, v point) {
	if m <= t.last {
		return
	}
	for k := max(t.last+1, m-minuteSlots+1); k <= m; k++ {
		t.minutes[slot(k, minuteSlots)] = v
	}
	t.last = m
	if h := floorDiv(m, 60); h > t.lastHour {
		for k := max(t.lastHour+1, h-hourSlots+1); k <= h; k++ {
			t.hours[slot(k, hourSlots)] = v
		}
		t.lastHour = h
	}
	t.minute.Store(m)
}

// at returns the counts at the start of the window w ending at now: the
// first snapshot at or after its start, to the minute for windows up to 6
// hours and to the hour beyond; before the tracker existed, its start.
func (t *Tracker) at(now int64, w time.Duration) point {
	from := now - int64(w)
	if w <= shortLimit {
		k := minuteOf(from)
		if k <= t.created {
			return t.start
		}
		return t.minutes[slot(k, minuteSlots)]
	}
	h := floorDiv(from, int64(time.Hour))
	if h*60 <= t.created {
		return t.start
	}
	return t.hours[slot(h, hourSlots)]
}

// Status returns the SLO's status at now.
func (t *Tracker) Status(now time.Time) slo.Status {
	n := now.UnixNano()
	t.mu.Lock()
	cur := t.counts()
	t.tickLocked(minuteOf(n), cur)
	windows := make([]slo.WindowStatus, 0, len(t.windows))
	for _, w := range t.windows {
		p := t.at(n, w)
		// A recorder whose counts went back (a store that lost its
		// state) has no window figures until its counts pass the old ones.
		windows = append(windows, slo.WindowStatus{Window: w, Events: max(0, cur.total-p.total), Bad: max(0, min(cur.bad-p.bad, cur.total-p.total))})
	}
	t.mu.Unlock()
	return slo.NewStatus(t.slo, cur.total-cur.bad, cur.total, windows)
}
