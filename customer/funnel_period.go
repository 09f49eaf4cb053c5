package customer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file keeps a funnel's figures by entry period (WithPeriod): for
// each period, the users who entered the funnel in it, each counted once
// at the furthest step reached by a window that starts at any of their
// entries in the period, as PostHog's funnels and ClickHouse's
// windowFunnel count them (see the package documentation, "Funnels by
// entry period").
//
// Each tracked user's attempt carries, besides its attempt state, one
// block of words per entry period still able to change (entries):
//
//	word 0: bits 0-31 the excluded chains (bit k: the chain that reached
//	        step k was hit by an exclusion), bits 32-55 the period index,
//	        bits 56-61 the furthest step reached (level, 0 to 32), bit 62
//	        the furthest chain is excluded, bit 63 the entry converted
//	        (final: nothing changes it any more)
//	word 1: start of the chain that reached the level
//	word 2: index of the segment row, fixed by the event that entered
//	then, in sequential and strict order, n words: entered[k], the start
//	of the latest chain that reached step k, or -1; in any order, 2n
//	words: the latest event of each step since the entry, then the latest
//	event of each step within the entry period (-1: none).
//
// A user counts in its entry period at its level unless the chain of that
// level is excluded; the counts per period, row and step change only when
// a user's contribution does.

// Metric names of the figures by entry period.
const (
	MetricFunnelPeriodUsers      = "customer.funnel.period.users"
	MetricFunnelPeriodConversion = "customer.funnel.period.conversion"
)

const (
	wordExcluded = 0xffff_ffff
	periodShift  = 32
	periodBits   = 24
	levelShift   = 56
	maxExBit     = uint64(1) << 62
	finalBit     = uint64(1) << 63
	blockHeader  = 3
	// maxEntryPeriod is the largest period index an entry holds: days
	// until the year 47,000.
	maxEntryPeriod = 1<<periodBits - 1
)

// exclRange is the steps between which an exclusion event excludes: an
// attempt that reached step from and not step to.
type exclRange struct{ from, to int }

// periodFunnel keeps the figures by entry period of a funnel.
type periodFunnel struct {
	unit    period.Unit
	loc     *time.Location
	utc     bool
	horizon int64
	steps   int
	order   Order
	window  int64
	excl    []exclRange // by exclusion index
	block   int         // words per entry
	rows    *rowTable
	counts  *ring.Ring[periodCounts]
	last    atomic.Pointer[ring.Entry[periodCounts]] // the entry count used last
	beyond  selfobs.Reason                           // an entry in a period older than the horizon

	// What collections report: the funnel's instruments and step names.
	users     metric.Int64ObservableGauge
	conv      metric.Float64ObservableGauge
	stepNames []string
}

// periodCounts are the counts of one entry period.
type periodCounts struct {
	label string
	// byRow holds the counts of each row by row index (nil: none yet),
	// copied on write under mu; list, in creation order, is guarded by mu.
	byRow atomic.Pointer[[]*periodRow]
	mu    sync.Mutex
	list  []*periodRow
}

// periodRow is one segment row of one entry period.
type periodRow struct {
	row   *row
	users []atomic.Int64 // users whose level reached each step
	// opts are the attribute sets of the users per step, then of the
	// conversion to each step after the first; built at the first
	// collection, guarded by the collector.
	opts []metric.ObserveOption
}

func newPeriodFunnel(c config, steps int, rows *rowTable, excl []exclRange, beyond selfobs.Reason) *periodFunnel {
	pf := &periodFunnel{
		unit:    period.Unit(c.period),
		loc:     c.loc,
		utc:     c.loc == time.UTC,
		horizon: int64(c.horizon),
		steps:   steps,
		order:   c.order,
		window:  int64(c.window),
		excl:    excl,
		rows:    rows,
		beyond:  beyond,
	}
	pf.block = blockHeader + steps
	if c.order == Any {
		pf.block = blockHeader + 2*steps
	}
	pf.counts = ring.New(c.horizon, func(i int64, v *periodCounts) {
		v.label = pf.unit.Label(pf.unit.Start(i, pf.loc), pf.loc)
	})
	return pf
}

// periodOf returns the index of the period of event time at (Unix ns).
func (pf *periodFunnel) periodOf(at int64) int64 {
	if pf.utc {
		return pf.unit.IndexOfDay(period.DayOfUnix(unixSeconds(at)))
	}
	return pf.unit.Index(time.Unix(0, at), pf.loc)
}

// unixSeconds is the Unix second of at (Unix ns), which is never negative.
func unixSeconds(at int64) int64 { return at / int64(time.Second) }

// entersAt says whether an event of step k enters the funnel.
func (pf *periodFunnel) entersAt(k int) bool { return k == 0 || pf.order == Any }

// apply applies an accepted event at time at to a's entries: a step k
// (x < 0) or the exclusion x (k < 0). row returns the row of the event,
// for an event that enters; it is called at most once. wm is the
// watermark: an event that enters first drops the entries it no longer
// reaches. The shard's lock is held.
func (pf *periodFunnel) apply(ctx context.Context, a *attempt, wm, at int64, k, x int, row func() *row) {
	per := a.entries()
	// The event's period matters only to an event that may enter: for
	// its entry, and to tell its own period's entry from the others.
	q := int64(-1)
	if k >= 0 && pf.entersAt(k) {
		q = pf.periodOf(at)
		if pf.find(*per, q) < 0 {
			if len(*per) > 0 {
				pf.prune(a, pf.periodOf(max(wm-2*pf.window, 0)))
			}
			pf.enter(ctx, per, q, row)
		}
	}
	n := pf.steps
	for i := 0; i+pf.block <= len(*per); i += pf.block {
		b := (*per)[i : i+pf.block : i+pf.block]
		w0 := uint64(b[0])
		if w0&finalBit != 0 {
			continue
		}
		own := int64(w0>>periodShift&maxEntryPeriod) == q
		before := contribution(w0)
		switch {
		case pf.order == Any:
			if k >= 0 {
				pf.anyStep(b, at, k, own)
			}
		case x >= 0:
			pf.exclude(b, at, pf.excl[x])
		default:
			pf.step(b, at, k, own)
		}
		if pf.order == Strict {
			// Any other event of the funnel breaks every chain but the
			// one of its own step (an exclusion breaks all).
			e := b[blockHeader : blockHeader+n]
			for j := range e {
				if j != k {
					e[j] = -1
				}
			}
			keep := uint64(0)
			if k >= 0 {
				keep = 1 << k
			}
			b[0] = int64(uint64(b[0]) &^ (wordExcluded &^ keep))
		}
		w := uint64(b[0])
		if after := contribution(w); after != before {
			if after == n && w&maxExBit == 0 {
				b[0] = int64(w | finalBit)
			}
			pf.count(int64(w>>periodShift&maxEntryPeriod), int32(b[2]), before, after)
		}
	}
}

// contribution is the level at which an entry counts: 0 when its
// furthest chain is excluded.
func contribution(w0 uint64) int {
	if w0&maxExBit != 0 {
		return 0
	}
	return int(w0 >> levelShift & 63)
}

func setLevel(w0 uint64, level int, excluded bool) uint64 {
	w0 = w0&^(63<<levelShift|maxExBit) | uint64(level)<<levelShift
	if excluded {
		w0 |= maxExBit
	}
	return w0
}

// find returns the offset in per of the entry of period q, or -1.
func (pf *periodFunnel) find(per []int64, q int64) int {
	for i := 0; i+pf.block <= len(per); i += pf.block {
		if int64(uint64(per[i])>>periodShift&maxEntryPeriod) == q {
			return i
		}
	}
	return -1
}

// enter adds the entry of period q to per, unless the period is older
// than the horizon (counted) or beyond what an entry holds.
func (pf *periodFunnel) enter(ctx context.Context, per *[]int64, q int64, row func() *row) {
	if q > maxEntryPeriod || pf.counts.Get(q) == nil {
		pf.beyond.Add(ctx, 1)
		return
	}
	r := row()
	off := len(*per)
	if cap(*per)-off < pf.block {
		grown := make([]int64, off, off+pf.block)
		copy(grown, *per)
		*per = grown
	}
	*per = (*per)[:off+pf.block]
	b := (*per)[off:]
	b[0] = int64(uint64(q) << periodShift)
	b[1] = -1
	b[2] = int64(r.idx)
	for j := blockHeader; j < len(b); j++ {
		b[j] = -1
	}
}

// step applies step k at time at to a sequential or strict entry b, as
// ClickHouse's windowFunnel and PostHog's funnels do: the first step
// (own period only) starts a chain, later than any before; step k
// carries the latest chain that reached step k-1 to step k when at is
// within the window of its start. A chain that an exclusion hit carries
// its mark: it reaches no further step itself, and the level it would
// reach counts as excluded.
func (pf *periodFunnel) step(b []int64, at int64, k int, own bool) {
	e := b[blockHeader : blockHeader+pf.steps]
	w0 := uint64(b[0])
	level := int(w0 >> levelShift & 63)
	if k == 0 {
		if !own || at <= e[0] {
			return
		}
		e[0] = at
		w0 &^= 1
		if level < 1 || (level == 1 && w0&maxExBit != 0) {
			w0 = setLevel(w0, 1, false)
			b[1] = at
		}
		b[0] = int64(w0)
		return
	}
	prev := e[k-1]
	if prev < 0 || at < prev || at-prev > pf.window || e[k] == prev {
		return
	}
	ex := w0>>(k-1)&1 != 0
	if !ex {
		e[k] = prev
		w0 &^= 1 << k
	}
	if k+1 > level || (k+1 == level && w0&maxExBit != 0) {
		w0 = setLevel(w0, k+1, ex)
		b[1] = prev
	}
	b[0] = int64(w0)
}

// exclude applies an exclusion event at time at to entry b: each chain
// that reached a step from r.from to r.to-1, and not the next, within its
// window, is marked, and so is the furthest chain when it is one of them.
func (pf *periodFunnel) exclude(b []int64, at int64, r exclRange) {
	e := b[blockHeader : blockHeader+pf.steps]
	w0 := uint64(b[0])
	for k := r.to; k > r.from; k-- {
		prev := e[k-1]
		if prev < 0 || at < prev || at-prev > pf.window || e[k] == prev || w0>>(k-1)&1 != 0 {
			continue
		}
		w0 |= 1 << (k - 1)
		if int(w0>>levelShift&63) == k && at >= b[1] && at-b[1] <= pf.window {
			w0 |= maxExBit
		}
	}
	b[0] = int64(w0)
}

// anyStep applies step k at time at to an entry b in any order: the
// level is the most distinct steps among the events within the window of
// one of the entry period's events. The best window at time at starts at
// the earliest event of the period not older than at-window; its steps
// are those whose latest event is at or after that start.
func (pf *periodFunnel) anyStep(b []int64, at int64, k int, own bool) {
	n := pf.steps
	last, in := b[blockHeader:blockHeader+n], b[blockHeader+n:blockHeader+2*n]
	last[k] = max(last[k], at)
	if own {
		in[k] = max(in[k], at)
	}
	start := int64(-1)
	for _, t := range in {
		if t >= 0 && t >= at-pf.window && (start < 0 || t < start) {
			start = t
		}
	}
	if start < 0 {
		return
	}
	level := 0
	for _, t := range last {
		if t >= start && t-start <= pf.window {
			level++
		}
	}
	if w0 := uint64(b[0]); level > int(w0>>levelShift&63) {
		b[0] = int64(setLevel(w0, level, false))
		b[1] = start
	}
}

// count moves a user of row ri in period q from level before to after.
func (pf *periodFunnel) count(q int64, ri int32, before, after int) {
	// Most moves are in the latest period: its entry is cached. An entry
	// the ring dropped keeps its index, which the ring never gives again
	// (its top only grows): counts moved there are of a period no longer
	// reported.
	e := pf.last.Load()
	if e == nil || e.Index != q {
		if e = pf.counts.Lookup(q); e == nil {
			return // the period left the horizon
		}
		pf.last.Store(e)
	}
	pr := e.V.row(ri, pf)
	for k := after; k < before; k++ {
		pr.users[k].Add(-1)
	}
	for k := before; k < after; k++ {
		pr.users[k].Add(1)
	}
}

// row returns the counts of row ri, creating them if needed.
func (p *periodCounts) row(ri int32, pf *periodFunnel) *periodRow {
	if rows := p.byRow.Load(); rows != nil && int(ri) < len(*rows) && (*rows)[ri] != nil {
		return (*rows)[ri]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var rows []*periodRow
	if old := p.byRow.Load(); old != nil {
		if int(ri) < len(*old) && (*old)[ri] != nil {
			return (*old)[ri]
		}
		rows = *old
	}
	grown := make([]*periodRow, max(len(rows), int(ri)+1))
	copy(grown, rows)
	pr := &periodRow{row: pf.rows.byIndex(ri), users: make([]atomic.Int64, pf.steps)}
	grown[ri] = pr
	p.byRow.Store(&grown)
	p.list = append(p.list, pr)
	return pr
}

// prune drops the entries of a that no accepted event can change any
// more: those of periods before qc, the period of cut (the watermark less
// twice the window): they ended, and their chains all started, before
// cut. It reports whether a holds no entry.
func (pf *periodFunnel) prune(a *attempt, qc int64) bool {
	per := a.entries()
	if len(*per) == 0 {
		return true
	}
	kept := (*per)[:0]
	for i := 0; i+pf.block <= len(*per); i += pf.block {
		if int64(uint64((*per)[i])>>periodShift&maxEntryPeriod) >= qc {
			kept = append(kept, (*per)[i:i+pf.block]...)
		}
	}
	if len(kept) == 0 {
		*per = nil
		return true
	}
	*per = kept
	return false
}

// observe reports the users per step and the conversions of every entry
// period of the horizon, oldest first.
func (pf *periodFunnel) observe(o metric.Observer) {
	var counts [MaxSteps]int64
	pf.counts.Each(pf.counts.Top(), func(e *ring.Entry[periodCounts]) {
		p := &e.V
		p.mu.Lock()
		list := p.list
		p.mu.Unlock()
		for _, pr := range list {
			for k := pf.steps - 1; k >= 0; k-- {
				counts[k] = pr.users[k].Load()
			}
			pf.observeRow(o, p.label, pr, &counts)
		}
	})
}

// observeRow reports the users per step of one row of the period
// labelled label, and the conversions from the first step.
func (pf *periodFunnel) observeRow(o metric.Observer, label string, pr *periodRow, counts *[MaxSteps]int64) {
	if pr.opts == nil {
		pr.opts = pf.buildOpts(label, pr.row)
	}
	n := pf.steps
	for k := range n {
		o.ObserveInt64(pf.users, counts[k], pr.opts[k])
		if k > 0 && counts[0] > 0 {
			o.ObserveFloat64(pf.conv, float64(counts[k])/float64(counts[0]), pr.opts[n+k-1])
		}
	}
}

// buildOpts builds the attribute sets of one row of one period: users
// per step, then conversion from the first step to each later one.
func (pf *periodFunnel) buildOpts(label string, r *row) []metric.ObserveOption {
	steps := pf.stepNames
	n := len(steps)
	opts := make([]metric.ObserveOption, 2*n-1)
	base := pf.rows.attrs(r.key, 4)
	base = append(base, periodKey.String(label))
	for k, s := range steps {
		kv := append(base[:len(base):len(base)], stepKey.String(s), stepIndexKey.Int(k+1))
		opts[k] = metric.WithAttributeSet(attribute.NewSet(kv...))
		if k > 0 {
			opts[n+k-1] = metric.WithAttributeSet(attribute.NewSet(append(kv, basisFirst)...))
		}
	}
	return opts
}

// checkPeriodOptions validates the options of the figures by entry
// period of funnel name, whose steps index names, and returns the
// exclusion ranges: nil without WithPeriod, empty without exclusions.
func checkPeriodOptions(c config, name string, index map[string]int) ([]exclRange, error) {
	var errs []error
	if c.given&givenPeriod == 0 {
		for _, o := range []struct {
			bit  optionSet
			name string
		}{{givenHorizon, "WithHorizon"}, {givenLocation, "WithLocation"}, {givenExclusion, "WithExclusion"}} {
			if c.given&o.bit != 0 {
				errs = append(errs, invalidf("funnel %q: %s applies to the figures by entry period: give WithPeriod too", name, o.name))
			}
		}
		return nil, errors.Join(errs...)
	}
	if !period.Unit(c.period).Valid() {
		errs = append(errs, invalidf("funnel %q: unknown period %v", name, c.period))
	}
	if c.horizon < 1 || c.horizon > MaxHorizon {
		errs = append(errs, invalidf("funnel %q: horizon %d must be between 1 and %d periods", name, c.horizon, MaxHorizon))
	}
	if len(c.exclusions) > 0 && c.order == Any {
		errs = append(errs, invalidf("funnel %q: WithExclusion needs an ordered funnel (sequential or strict), not %v", name, c.order))
	}
	excl := make([]exclRange, 0, len(c.exclusions))
	events := map[string]bool{}
	for _, x := range c.exclusions {
		from, okFrom := index[x.from]
		to, okTo := index[x.to]
		_, isStep := index[x.event]
		switch {
		case !validName(x.event):
			errs = append(errs, invalidf("funnel %q: exclusion event %q is not valid UTF-8 of 1 to %d bytes", name, x.event, maxNameLen))
		case isStep:
			errs = append(errs, invalidf("funnel %q: exclusion event %q is a step of the funnel", name, x.event))
		case events[x.event]:
			errs = append(errs, invalidf("funnel %q: exclusion event %q given twice", name, x.event))
		case !okFrom:
			errs = append(errs, invalidf("funnel %q: exclusion %q: from step %q is not a step of the funnel", name, x.event, x.from))
		case !okTo:
			errs = append(errs, invalidf("funnel %q: exclusion %q: to step %q is not a step of the funnel", name, x.event, x.to))
		case from >= to:
			errs = append(errs, invalidf("funnel %q: exclusion %q: from step %q must come before to step %q", name, x.event, x.from, x.to))
		default:
			events[x.event] = true
			excl = append(excl, exclRange{from: from, to: to})
		}
	}
	return excl, errors.Join(errs...)
}

// periodsTag starts the section of the entries by period in a snapshot
// (progress_state.go); the failures section before it starts with its
// version, 1.
const periodsTag = 'P'

// periodsVersion is the version of the section of the entries by period.
const periodsVersion = 1

// appendState appends the section of the entries by period: the counts of
// every period and row (rows by their position in index), then each
// user's entries.
func (pf *periodFunnel) appendState(b []byte, s *progressStore, index map[*row]uint64) []byte {
	b = append(b, periodsTag)
	b = binary.AppendUvarint(b, periodsVersion)
	b = binary.AppendUvarint(b, uint64(pf.unit))
	b = appendString(b, pf.loc.String())
	b = binary.AppendUvarint(b, uint64(pf.block))
	b = binary.AppendUvarint(b, uint64(pf.steps))
	var periods []*ring.Entry[periodCounts]
	pf.counts.Each(pf.counts.Top(), func(e *ring.Entry[periodCounts]) { periods = append(periods, e) })
	b = binary.AppendUvarint(b, uint64(len(periods)))
	for _, e := range periods {
		b = binary.AppendVarint(b, e.Index)
		e.V.mu.Lock()
		var list []*periodRow
		for _, pr := range e.V.list {
			if _, ok := index[pr.row]; ok { // not a row created since the rows were written
				list = append(list, pr)
			}
		}
		e.V.mu.Unlock()
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, pr := range list {
			b = binary.AppendUvarint(b, index[pr.row])
			for k := range pr.users {
				b = binary.AppendVarint(b, pr.users[k].Load())
			}
		}
	}
	countAt := len(b)
	b = append(b, make([]byte, 8)...) // user count, fixed width
	var n uint64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for u, a := range sh.users {
			per := *a.entries()
			if len(per) == 0 {
				continue
			}
			b = appendString(b, u)
			b = binary.AppendUvarint(b, uint64(len(per)/pf.block))
			for _, w := range per {
				b = binary.AppendVarint(b, w)
			}
			n++
		}
		sh.mu.Unlock()
	}
	binary.LittleEndian.PutUint64(b[countAt:], n)
	return b
}

// restorePeriods loads the section of the entries by period into a store
// whose rows (in the order of the payload) and attempts are loaded. A
// store without figures by period skips it; one whose period or location
// differs from the writer's refuses it.
func (s *progressStore) restorePeriods(d *decoder, rows []*row) error {
	d.bytes(1)
	if v := d.uvarint(); d.err == nil && v != periodsVersion {
		return fmt.Errorf("entries by period of version %d, want %d", v, periodsVersion)
	}
	unit, loc, block, steps := period.Unit(d.uvarint()), d.string(), int(d.uvarint()), int(d.uvarint())
	pf := s.pf
	if d.err == nil && pf != nil && (unit != pf.unit || loc != pf.loc.String() || block != pf.block || steps != pf.steps) {
		return fmt.Errorf("entries by %v in %s (%d words), want by %v in %s (%d words)", unit, loc, block, pf.unit, pf.loc, pf.block)
	}
	if block < blockHeader {
		return fmt.Errorf("entries of %d words", block)
	}
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		q := d.varint()
		var pc *ring.Entry[periodCounts]
		if pf != nil {
			pc = pf.counts.Get(q)
		}
		for m := d.count(1); m > 0 && d.err == nil; m-- {
			ri := d.uvarint()
			if d.err == nil && ri >= uint64(len(rows)) {
				return fmt.Errorf("counts of row %d, %d rows", ri, len(rows))
			}
			var pr *periodRow
			if pc != nil {
				pr = pc.V.row(rows[ri].idx, pf)
			}
			for k := range steps {
				v := d.varint()
				if pr != nil && k < len(pr.users) {
					pr.users[k].Add(v)
				}
			}
		}
	}
	users := d.fixed64()
	if d.err != nil {
		return d.err
	}
	for ; users > 0 && d.err == nil; users-- {
		user := d.string()
		words := d.count(1) * uint64(block)
		if d.err == nil && words > uint64(len(d.b)) {
			return errShort
		}
		per := make([]int64, 0, words)
		for range words {
			per = append(per, d.varint())
		}
		if d.err != nil || pf == nil {
			continue
		}
		kept := per[:0]
		for i := 0; i < len(per); i += block {
			// An entry of a row created after the rows were written, or
			// one that cannot be, is left out.
			ri := uint64(per[i+2])
			if ri >= uint64(len(rows)) || int(uint64(per[i])>>levelShift&63) > pf.steps {
				continue
			}
			per[i+2] = int64(rows[ri].idx)
			kept = append(kept, per[i:i+block]...)
		}
		if len(kept) == 0 {
			continue
		}
		per = kept
		sh := &s.shards[maphash.String(s.seed, user)%numShards]
		sh.mu.Lock()
		if a := sh.users[user]; a != nil { // not an attempt left out by the user cap
			*a.entries() = per
		}
		sh.mu.Unlock()
	}
	return d.err
}

// entryRules describes the figures by entry period to a shared state.
func (pf *periodFunnel) entryRules() *shared.EntryRules {
	r := &shared.EntryRules{PeriodOf: pf.periodOf, Horizon: int(pf.horizon)}
	switch pf.order {
	case Any:
		r.Order = shared.EntryAny
	case Strict:
		r.Order = shared.EntryStrict
	}
	for _, x := range pf.excl {
		r.Exclusions = append(r.Exclusions, [2]int{x.from, x.to})
	}
	return r
}

// sharedPeriod is the period of an event at time at (Unix ns) of step k
// for a shared state: its index, or -1-index when the event may enter but
// its period is older than the horizon (counted, as in memory).
func (pf *periodFunnel) sharedPeriod(ctx context.Context, at int64, k int) int64 {
	q := pf.periodOf(at)
	if k < pf.steps && pf.entersAt(k) && (q > maxEntryPeriod || pf.counts.Get(q) == nil) {
		pf.beyond.Add(ctx, 1)
		return -1 - q
	}
	return q
}

// observeShared reports the figures by entry period that a shared state
// read: those of the horizon's periods, the latest being the latest of
// this replica's and of the state's.
func (pf *periodFunnel) observeShared(o metric.Observer, rows []*row, counts map[*row]*shared.ProgressCounts) {
	top := pf.counts.Top()
	for _, r := range rows {
		for q := range counts[r].Periods {
			top = max(top, q)
		}
	}
	for q := top - pf.horizon + 1; q <= top; q++ {
		var e *ring.Entry[periodCounts]
		for _, r := range rows {
			c := counts[r].Periods[q]
			if c == nil {
				continue
			}
			if e == nil {
				if e = pf.counts.Get(q); e == nil {
					break
				}
			}
			pf.observeRow(o, e.V.label, e.V.row(r.idx, pf), c)
		}
	}
}
