package shared

import (
	"context"
	"time"

	"github.com/kpikit/kpikit/internal/selfobs"
)

// ProgressKind says whose progress a shared state keeps.
type ProgressKind uint8

// Kinds of progress.
const (
	FunnelProgress ProgressKind = iota + 1
	GoalProgress
)

// String returns "funnel" or "goal".
func (k ProgressKind) String() string {
	switch k {
	case FunnelProgress:
		return "funnel"
	case GoalProgress:
		return "goal"
	}
	return "unknown"
}

// MaxProgressSteps is the most steps a progress state takes: an attempt's
// reached steps are a 32-bit mask.
const MaxProgressSteps = 32

// The attempt rule table (ProgressConfig.Rules) tells a shared state what
// one event of step k does to an active attempt. An attempt's first
// "next" steps are reached (next is the number of trailing one bits of
// its mask); the event's class is, in this order:
//
//	0  k < next-1
//	1  k = next-1
//	2  k = next
//	3  k > next, step k not reached
//	4  k > next, step k reached
//
// (see [RuleClass]). For each class, the table holds two digits, '0' to
// '7': one for an attempt going on, then one for an ended attempt. A
// digit's bits are [RuleCounted], [RuleReaches] and [RuleEnds].
const RuleClasses = 5

// Bits of a digit of the rule table, less '0'.
const (
	RuleCounted = 1 // the event belongs to the attempt (event totals)
	RuleReaches = 2 // the event reaches step k
	RuleEnds    = 4 // the event ends the attempt
)

// RuleClass is the class, in the rule table, of an event of step k for
// an attempt that reached the steps of mask.
func RuleClass(mask uint32, k int) int {
	next := 0
	for m := mask; m&1 != 0; m >>= 1 {
		next++
	}
	switch {
	case k < next-1:
		return 0
	case k == next-1:
		return 1
	case k == next:
		return 2
	case mask&(1<<k) != 0:
		return 4
	}
	return 3
}

// ProgressConfig describes a funnel or a goal to its shared state.
//
// The state applies the time rule of place: an event earlier than the
// start of the user's attempt counts as at the start, and an attempt
// lasts [start, start+Window). An event that finds no active attempt
// starts one when it carries a row, and is ignored otherwise; an event
// that joins or starts an attempt does what Rules says. Whether an event
// may start an attempt, and its row, are decided by the recorder.
type ProgressConfig struct {
	Kind   ProgressKind
	Name   string // the recorder's name
	Steps  int    // 1 to MaxProgressSteps
	Window time.Duration
	// CountEvents says to count the events of each step that belong to an
	// attempt (goals), besides the attempts that reached it.
	CountEvents bool
	// Rules is the attempt rule table: 2*RuleClasses digits.
	Rules string
	// Unavailable counts the events the state could not write: dropped
	// from a full buffer, refused by the store, or left when Shutdown's
	// context ended. Closed counts the events pushed once Shutdown began.
	Unavailable, Closed selfobs.Reason
	// Completed, when not nil, is called with the row and the time from
	// start to completion of each attempt that reached every step, once
	// the store applied the event that completed it; it is called from
	// the state's goroutine, never after Shutdown returned.
	Completed func(row string, elapsed time.Duration)
	// ErrorType names the error type of index i of an Impair call (a
	// funnel's error-type table: indices are this replica's, names are
	// what replicas agree on). The name of an index never changes. It is
	// called from the state's goroutine; nil names every index "_OTHER".
	ErrorType func(i int) string
	// Entries, when not nil, asks the state to keep the figures of a
	// funnel by entry period (see EntryRules); events then come through
	// PushEntry.
	Entries *EntryRules
}

// EntryOrder is the order of a funnel's entries by period.
type EntryOrder uint8

// Orders of entries: as the funnel's.
const (
	EntrySequential EntryOrder = iota
	EntryAny
	EntryStrict
)

// EntryRules describe a funnel's figures by entry period to its shared
// state. Each user's entries (one per entry period a late event can still
// change) follow the chain rules of package customer's "Funnels by entry
// period": for each step the latest chain start that reached it, marks of
// exclusions, the furthest step reached; a window holds the events at
// most Window after its start. The state counts, per entry period, row
// and step, the users whose entry counts at that step or further.
type EntryRules struct {
	Order EntryOrder
	// Exclusions are the (from, to) steps of each exclusion, by index:
	// PushEntry's step Steps+i is exclusion i.
	Exclusions [][2]int
	// PeriodOf is the period index of a time in Unix ns. Entries of
	// periods before PeriodOf(latest event - 2*Window) are dropped: no
	// accepted event reaches them.
	PeriodOf func(int64) int64
	// Horizon is how many periods of counts are kept: those of periods a
	// horizon or more before the latest entry period are deleted.
	Horizon int
}

// ImpairFurthest is the step of an Impair call that impairs the attempt
// at the furthest step it reached.
const ImpairFurthest = -2

// ProgressCounts are the global counts of one row: attempts that reached
// each step, and (with CountEvents) events counted per step; for a
// funnel, the impaired attempts that reached each step, before or after
// they were impaired, and the attempts impaired at each step by error
// type.
type ProgressCounts struct {
	Users, Events [MaxProgressSteps]int64
	// Periods holds, with EntryRules, the users counted at each step by
	// entry period index.
	Periods       map[int64]*[MaxProgressSteps]int64
	ImpairedSteps [MaxProgressSteps]int64
	// Impaired holds, per error type name (see ProgressConfig.ErrorType),
	// the attempts impaired at each step, counted once per attempt and
	// step with the error type of the first impairment; nil without any.
	Impaired map[string]*[MaxProgressSteps]int64
}

// Progress is the shared state of a funnel or a goal. Its methods are
// safe for concurrent use.
type Progress interface {
	// Push buffers a validated event: user is a 64-bit hash of the user
	// id, at the event time in Unix ns (not negative), step in
	// [0, Steps), row the id of the segment row, or "" when the event
	// cannot start an attempt. It neither blocks on the network nor
	// allocates. It reports false when Shutdown began: the event is
	// dropped and counted as Closed. An event buffered may still be
	// dropped later, and counted as Unavailable.
	Push(user uint64, at int64, step int, row string) bool
	// PushEntry is Push for a state with EntryRules: period is the index
	// of the event's period, or -1-index for an event that may not enter
	// (its period is older than the recorder's horizon: it applies to the
	// user's attempt and existing entries only); step Steps+i is
	// exclusion i, which applies to the entries only.
	PushEntry(user uint64, at int64, step int, row string, period int64) bool
	// Impair buffers a failure of the user's attempt, in the same order
	// as Push: it applies after the user's events pushed before it and
	// before those pushed after. at is the time of the failure in Unix
	// ns, step in [0, Steps) or ImpairFurthest, errType an index that
	// ErrorType names. The state marks the attempt active at at (not
	// ended, within its window, having reached a step) impaired at the
	// step, once per attempt and step: the first impairment counts in
	// Impaired with its error type, and counts the attempt in
	// ImpairedSteps at every step it reached, as does every step it
	// reaches later. Without such an attempt it does nothing. It neither
	// blocks nor allocates, and reports false when Shutdown began (the
	// failure is dropped, not counted); a buffered failure may be dropped
	// later as an event is, and counted as Unavailable.
	Impair(user uint64, at int64, step int, errType int) bool
	// Read returns the global counts per row id, every replica's events
	// that reached the store included. It works after Shutdown.
	Read(ctx context.Context) (map[string]*ProgressCounts, error)
	// Flush waits until every event pushed before the call was written,
	// or ctx ends; it returns an error after Shutdown.
	Flush(ctx context.Context) error
	// Shutdown stops taking events and writes those buffered until ctx
	// ends; what is left is counted as Unavailable and ctx.Err() is
	// returned. Only the first call does anything.
	Shutdown(ctx context.Context) error
}

// StepCounts returns the step counts of key in *m, creating the map and
// the counts when missing: the per-error-type and per-period counts of
// ProgressCounts are filled this way.
func StepCounts[K comparable](m *map[K]*[MaxProgressSteps]int64, key K) *[MaxProgressSteps]int64 {
	if *m == nil {
		*m = make(map[K]*[MaxProgressSteps]int64)
	}
	c := (*m)[key]
	if c == nil {
		c = new([MaxProgressSteps]int64)
		(*m)[key] = c
	}
	return c
}
