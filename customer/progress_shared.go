package customer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
)

// This file keeps the progress of funnels and goals in a shared state
// (WithState), through the boundary of internal/shared.
//
// Recording validates the event as the memory store does (user, step,
// future, late against this replica's watermark), resolves the segment row
// when the event may start an attempt, and pushes the user's hash, the
// event time, the step and the row's id to the state, which buffers it:
// no network, no allocation. A failed request linked to a funnel's user
// is pushed the same way, in order with the events (failedShared in
// impaired.go); the funnel reports the global counts of impaired attempts
// the state reads back.
//
// The rules of an attempt live here: advance decides, for each class of
// (steps reached, step, ended), whether an event is counted, reaches its
// step or ends the attempt, and attemptRules hands that table to the
// state, which only classifies (shared.RuleClass). Whether an event may
// start an attempt is decided here too: the event carries a row only
// then. Rows are named by ids that every replica computes alike (rowID);
// the counts the state reads are keyed by them.

// sharedReadTimeout bounds a read of the shared state that no collection
// context bounds (SLOStatus).
const sharedReadTimeout = 5 * time.Second

// attemptRules is the rule table of order for the shared state: per class
// (see shared.RuleClasses) and per ended (false, true), a digit whose bits
// say the event is counted, reaches its step, ends the attempt. It is
// advance applied to one attempt of each class, so that the rules are
// written once.
func attemptRules(order Order) string {
	examples := [shared.RuleClasses]struct {
		mask uint32
		k    int
	}{
		{0b11, 0}, // below next-1: next is 2
		{0b1, 0},  // next-1
		{0, 0},    // next
		{0, 1},    // above, not reached
		{0b10, 1}, // above, reached (order Any)
	}
	b := make([]byte, 0, 2*shared.RuleClasses)
	for _, ex := range examples {
		for _, ended := range []bool{false, true} {
			a := attempt{mask: ex.mask, ended: ended}
			o := advance(&a, ex.k, MaxSteps, order)
			d := byte('0')
			if o.counted {
				d |= shared.RuleCounted
			}
			if o.reached >= 0 {
				d |= shared.RuleReaches
			}
			if a.ended && !ended {
				d |= shared.RuleEnds
			}
			b = append(b, d)
		}
	}
	return string(b)
}

// newSharedProgress makes the shared state of the funnel or goal (kind)
// called name whose memory store is s. Completed attempts are recorded in
// ttc, when not nil, from the state's goroutine.
func newSharedProgress(c config, kind shared.ProgressKind, name string, s *progressStore, ttc metric.Float64Histogram) (shared.Progress, error) {
	cfg := shared.ProgressConfig{
		Kind:        kind,
		Name:        name,
		Steps:       s.steps,
		Window:      c.window,
		CountEvents: s.events,
		Rules:       attemptRules(c.order),
		Unavailable: s.drops.unavailable,
		Closed:      s.drops.closed,
	}
	if s.imp != nil {
		cfg.ErrorType = s.imp.name
	}
	if s.pf != nil {
		cfg.Entries = s.pf.entryRules()
	}
	if ttc != nil {
		cfg.Completed = func(id string, elapsed time.Duration) {
			if r := s.rowOf(id); r != nil {
				ttc.Record(context.Background(), elapsed.Seconds(), r.opts.record...)
			}
		}
	}
	p, err := c.shared.NewProgress(cfg)
	if err != nil {
		return nil, fmt.Errorf("customer: %s %q: %w: %w", kind, name, err, ErrInvalidConfig)
	}
	return p, nil
}

// pushShared pushes a validated event to the shared state. now and at are
// Unix ns. It reports false when the event was dropped as late or closed;
// one that reaches the state's buffer is accepted, even if a full buffer
// drops it later.
func (s *progressStore) pushShared(ctx context.Context, now, at int64, user string, k int, segs []string) bool {
	if _, ok := s.admitTime(now, at); !ok {
		s.drops.late.Add(ctx, 1)
		return false
	}
	h := sketch.Hash(user)
	id := ""
	if k < s.steps && startsAttempt(k, s.order) {
		sh := &s.shards[h%numShards]
		sh.mu.Lock()
		id = s.rowFor(ctx, sh, segs).id
		sh.mu.Unlock()
	}
	if s.pf != nil {
		return s.remote.PushEntry(h, at, k, id, s.pf.sharedPeriod(ctx, at, k))
	}
	return s.remote.Push(h, at, k, id)
}

// rowID is the id of the row of combination k in a shared state: "r"
// then, per dimension, the length of the value, ":" and the value.
// Replicas agree on it; combination keys differ.
func (t *rowTable) rowID(k comboKey) string {
	var sb strings.Builder
	sb.WriteByte('r')
	for j, d := range t.dims {
		v := d.value(k[j])
		sb.WriteString(strconv.Itoa(len(v)))
		sb.WriteByte(':')
		sb.WriteString(v)
	}
	return sb.String()
}

// rowOf is the row of a row id, created when this replica has not seen
// it; nil for a malformed id. A value this replica folds (over a
// dimension's limit) maps the id to the folded row.
func (s *progressStore) rowOf(id string) *row {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if r, ok := s.byID[id]; ok {
		return r
	}
	rest, ok := strings.CutPrefix(id, "r")
	if !ok {
		return nil
	}
	values := make([]string, 0, len(s.rows.dims))
	for range s.rows.dims {
		l, tail, ok := strings.Cut(rest, ":")
		n, err := strconv.Atoi(l)
		if !ok || err != nil || n < 0 || n > len(tail) {
			return nil
		}
		values = append(values, tail[:n])
		rest = tail[n:]
	}
	if rest != "" {
		return nil
	}
	k, _, _ := s.rows.key(values)
	r := s.rows.get(k)
	if s.byID == nil {
		s.byID = make(map[string]*row)
	}
	s.byID[id] = r
	return r
}

// readShared returns the global counts per row, in the row table's order.
func (s *progressStore) readShared(ctx context.Context) ([]*row, map[*row]*shared.ProgressCounts, error) {
	byID, err := s.remote.Read(ctx)
	if err != nil {
		return nil, nil, err
	}
	counts := make(map[*row]*shared.ProgressCounts, len(byID))
	for id, c := range byID {
		r := s.rowOf(id)
		if r == nil {
			continue
		}
		sum := counts[r]
		if sum == nil {
			sum = new(shared.ProgressCounts)
			counts[r] = sum
		}
		for k := range s.steps {
			sum.Users[k] += c.Users[k]
			sum.Events[k] += c.Events[k]
			sum.ImpairedSteps[k] += c.ImpairedSteps[k]
		}
		for q, byStep := range c.Periods {
			to := shared.StepCounts(&sum.Periods, q)
			for k := range s.steps {
				to[k] += byStep[k]
			}
		}
		for t, byStep := range c.Impaired {
			to := shared.StepCounts(&sum.Impaired, t)
			for k := range s.steps {
				to[k] += byStep[k]
			}
		}
	}
	var rows []*row
	s.rows.each(func(r *row) {
		if counts[r] != nil {
			rows = append(rows, r)
		}
	})
	return rows, counts, nil
}
