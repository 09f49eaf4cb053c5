package customer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
	"github.com/kpikit/kpikit/internal/snapshot"
)

// This file is the state boundary of an Activity. The state lives in one
// of three places, chosen at construction:
//
//   - memory (a.st == nil, a.saver == nil): the rings of activity.go;
//   - memory and a snapshot file (a.saver != nil): the same rings, written
//     by appendState and read back by restoreState;
//   - a state shared by replicas (a.st != nil, from WithState): record
//     hands each validated event to a.st (shared.Activity), Defer when the
//     user's first-seen cohort is to be decided across replicas, and
//     collection reports what a.st.Read returns (observeShared). The rings
//     then hold only the attribute sets of collection and the horizon.

// CloseTimeout bounds how long [Activity.Close] waits for the last
// snapshot or for buffered writes to reach the shared state; use
// [Activity.Shutdown] to choose the deadline.
const CloseTimeout = 5 * time.Second

// activityStateVersion is the payload version of activity snapshots.
const activityStateVersion = 1

// resolve replaces the pending cohort of h with c, or records c for a user
// not tracked here, within the cap: the shared state calls it with the
// cohort it decided.
func (f *firstSeen) resolve(h uint64, c int64) {
	sh := &f.shards[h>>58]
	sh.mu.Lock()
	switch v, ok := sh.m[h]; {
	case ok && v == pendingCohort:
		sh.m[h] = c
	case !ok && f.n.Add(1) <= f.max:
		sh.m[h] = c
	case !ok:
		f.n.Add(-1)
	}
	sh.mu.Unlock()
}

// observeShared reports the figures of an Activity kept in a shared
// state: the periods of the horizon that ends at the clock's period (or
// the newest period with an event, when later), as every replica sees
// them.
func (a *Activity) observeShared(ctx context.Context, o metric.Observer) error {
	now := a.clock()
	today := a.dayOf(now, now.Unix())
	top := max(a.periods.Top(), a.periodOf(today))
	f, err := a.st.Read(ctx, shared.ActivityQuery{Top: top, Today: today})
	if f == nil {
		return err
	}
	current := false // the current period's money was read
	for j := range f.Periods {
		p := &f.Periods[j]
		e := a.periods.Get(p.Index)
		if e == nil {
			continue
		}
		v := a.view(e, top-p.Index)
		a.reportSharedPeriod(o, p, v)
		if p.Index == top && p.Money != nil {
			a.current.set(len(p.Money), func(i int) int64 { return p.Money[i].Revenue }, func(i int) uint64 { return p.Money[i].Paying })
			current = true
		}
		if len(p.Cells) > 0 {
			a.reportSharedCohort(o, p, v)
		}
	}
	if !current {
		a.current.set(0, nil, nil)
	}
	if f.MAU > 0 {
		o.ObserveInt64(a.activeUsers, int64(f.DAU), a.winOpts[0]...)
		o.ObserveInt64(a.activeUsers, int64(f.WAU), a.winOpts[1]...)
		o.ObserveInt64(a.activeUsers, int64(f.MAU), a.winOpts[2]...)
		o.ObserveFloat64(a.stickiness, ratio(f.DAU, f.MAU), a.nameOpt...)
	}
	return err
}

// reportSharedPeriod reports one period as observePeriod does.
func (a *Activity) reportSharedPeriod(o metric.Observer, p *shared.PeriodFigures, v *periodView) {
	any := p.Active > 0 || p.Members > 0
	for _, m := range p.Money {
		any = any || m.Revenue != 0 || m.Purchases != 0 || m.Refunds != 0
	}
	if !any {
		return
	}
	o.ObserveInt64(a.periodUsers, int64(p.Active), v.period...)
	for i, m := range p.Money[:min(len(p.Money), len(v.money))] {
		if m.Purchases == 0 && m.Refunds == 0 && p.Active == 0 {
			continue
		}
		a.observeMoney(o, v.money[i], a.cur.unit(i), m.Revenue, m.Purchases, m.Refunds, m.Paying, p.Active)
	}
}

// reportSharedCohort reports one cohort as observeCohort does.
func (a *Activity) reportSharedCohort(o metric.Observer, p *shared.PeriodFigures, v *periodView) {
	size := p.Members
	o.ObserveInt64(a.cohortSize, int64(size), v.cohort...)
	var cum [MaxCurrencies]int64
	var overflow [MaxCurrencies]bool
	for k := range p.Cells[:min(len(p.Cells), len(v.offsets))] {
		c := &p.Cells[k]
		ov := &v.offsets[k]
		a.observeRetention(o, ov, c.On, c.OnOrAfter, size)
		for i, m := range c.Money[:min(len(c.Money), len(ov.money))] {
			a.observeCohortMoney(o, ov.money[i], a.cur.unit(i), m.Revenue, m.Purchases, size, &cum[i], &overflow[i])
		}
	}
}

// Snapshot payload (activityStateVersion 1), all integers as varints:
//
//	name, period unit, horizon, currencies (code, scale)...
//	first-seen: count, (hash as 8 bytes, cohort)...
//	periods: count, (index, active, members,
//	    per currency (revenue, purchases, refunds, paying),
//	    cells: count, (offset, users, per currency (revenue, purchases))...)...
//	days: count, (index, set)...
//	sections: (tag, byte length, bytes)...
//
// A set is a length and the bytes of sketch.Set.AppendBinary. The only
// section is the lifecycle (lifeSection, written with WithLifecycle; see
// lifecycle.go): a payload without it is what versions before it wrote,
// and an activity without WithLifecycle skips it. With WithLifecycle the
// first-seen cohorts are read from the lifecycle records and written to
// the first-seen section as well.

// appendState appends the activity's state to b. It runs while recording
// goes on: each set and total is read atomically, the whole is not.
func (a *Activity) appendState(b []byte) ([]byte, error) {
	nCur := a.cur.len() // a currency taken after this is not in the snapshot
	b = a.appendHeader(b, nCur)
	if a.life != nil {
		b = a.life.appendSeen(b)
	} else {
		b = a.seen.appendTo(b)
	}
	top := a.periods.Top()
	var periods []*ring.Entry[periodState]
	a.periods.Each(top, func(e *ring.Entry[periodState]) { periods = append(periods, e) })
	b = binary.AppendUvarint(b, uint64(len(periods)))
	var err error
	for _, e := range periods {
		b = binary.AppendVarint(b, e.Index)
		if b, err = appendSet(b, &e.V.active); err != nil {
			return nil, err
		}
		if b, err = appendSet(b, &e.V.members); err != nil {
			return nil, err
		}
		for i := range nCur {
			pm := &e.V.money[i]
			b = binary.AppendVarint(b, pm.revenue.Load())
			b = binary.AppendVarint(b, pm.purchases.Load())
			b = binary.AppendVarint(b, pm.refunds.Load())
			if b, err = appendSet(b, &pm.paying); err != nil {
				return nil, err
			}
		}
		var cells []int64
		for k := range e.V.cells {
			if e.V.cells[k].Load() != nil {
				cells = append(cells, int64(k))
			}
		}
		b = binary.AppendUvarint(b, uint64(len(cells)))
		for _, k := range cells {
			cl := e.V.cells[k].Load()
			b = binary.AppendVarint(b, k)
			if b, err = appendSet(b, &cl.users); err != nil {
				return nil, err
			}
			for i := range nCur {
				b = binary.AppendVarint(b, cl.money[i].revenue.Load())
				b = binary.AppendVarint(b, cl.money[i].purchases.Load())
			}
		}
	}
	var days []*ring.Entry[sketch.Set]
	a.days.Each(a.days.Top(), func(e *ring.Entry[sketch.Set]) { days = append(days, e) })
	b = binary.AppendUvarint(b, uint64(len(days)))
	for _, e := range days {
		b = binary.AppendVarint(b, e.Index)
		if b, err = appendSet(b, &e.V); err != nil {
			return nil, err
		}
	}
	if a.life != nil {
		b = a.appendLife(b, periods)
	}
	return b, nil
}

// appendHeader appends what identifies the activity's state: name,
// period, horizon, and the currencies of the first nCur slots with their
// scales.
func (a *Activity) appendHeader(b []byte, nCur int) []byte {
	b = a.appendIdentity(b)
	b = binary.AppendUvarint(b, uint64(nCur))
	for i := range nCur {
		u := a.cur.unit(i)
		b = appendString(b, u.Currency())
		b = binary.AppendUvarint(b, uint64(u.Scale()))
	}
	return b
}

func (a *Activity) appendIdentity(b []byte) []byte {
	b = appendString(b, a.name)
	b = binary.AppendUvarint(b, uint64(a.unit))
	return binary.AppendUvarint(b, uint64(a.horizon))
}

// restoreCurrencies reads the currencies of a snapshot header. With
// WithCurrencies they must be the declared ones; without, each must be an
// ISO 4217 currency at its minor unit, and takes the next slot.
func (a *Activity) restoreCurrencies(d *decoder) (int, error) {
	errOther := errors.New("written by an activity with other currencies")
	n := d.uvarint()
	if d.err != nil {
		return 0, d.err
	}
	if n > MaxCurrencies || a.cur.declared && n != uint64(a.cur.len()) {
		return 0, errOther
	}
	for i := range int(n) {
		code, scale := d.string(), d.uvarint()
		if d.err != nil {
			return 0, d.err
		}
		if a.cur.declared {
			if u := a.cur.unit(i); u.Currency() != code || uint64(u.Scale()) != scale {
				return 0, errOther
			}
			continue
		}
		if u, ok := a.cur.unitOf(code); !ok || uint64(u.Scale()) != scale || a.cur.index(code) != i {
			return 0, errOther
		}
	}
	return int(n), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSet(b []byte, s *sketch.Set) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := s.AppendBinary(b)
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b, nil
}

// appendTo appends the first-seen cohorts.
func (f *firstSeen) appendTo(b []byte) []byte {
	var pairs []int64 // hash, cohort
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		for h, c := range sh.m {
			pairs = append(pairs, int64(h), c)
		}
		sh.mu.Unlock()
	}
	b = binary.AppendUvarint(b, uint64(len(pairs)/2))
	for i := 0; i < len(pairs); i += 2 {
		b = binary.LittleEndian.AppendUint64(b, uint64(pairs[i]))
		b = binary.AppendVarint(b, pairs[i+1])
	}
	return b
}

// decoder reads a snapshot payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("payload ends early")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

// fixed64 reads 8 bytes, little-endian: a fixed-width count or a hash;
// 0 once the payload ended early.
func (d *decoder) fixed64() uint64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// count reads a count of items of at least min bytes each, bounded by
// what is left.
func (d *decoder) count(min uint64) uint64 {
	n := d.uvarint()
	if d.err == nil && n*min > uint64(len(d.b)) {
		d.err = errShort
		return 0
	}
	return n
}

func (d *decoder) set(s *sketch.Set) {
	if d.err != nil {
		return
	}
	data := d.bytes(uint64(binary.LittleEndian.Uint32(d.bytes(4))))
	if d.err == nil {
		if err := s.UnmarshalBinary(data); err != nil {
			d.err = err
		}
	}
}

// restoreState loads a snapshot payload into an empty activity.
func (a *Activity) restoreState(p []byte) error {
	want := a.appendIdentity(nil)
	if len(p) < len(want) || string(p[:len(want)]) != string(want) {
		return errors.New("written by an activity with another name, period or horizon")
	}
	d := &decoder{b: p[len(want):]}
	nCur, err := a.restoreCurrencies(d)
	if err != nil {
		return err
	}
	for n := d.count(9); n > 0 && d.err == nil; n-- {
		h := d.fixed64()
		c := d.varint()
		switch {
		case d.err != nil:
		case a.life != nil:
			a.life.restoreSeen(h, c)
		default:
			a.seen.restore(h, c)
		}
	}
	for n := d.count(3); n > 0 && d.err == nil; n-- {
		e := a.periods.Get(d.varint())
		if d.err != nil {
			break
		}
		if e == nil {
			return errors.New("periods out of order")
		}
		d.set(&e.V.active)
		d.set(&e.V.members)
		for i := range nCur {
			pm := &e.V.money[i]
			pm.revenue.Store(d.varint())
			pm.purchases.Store(d.varint())
			pm.refunds.Store(d.varint())
			d.set(&pm.paying)
		}
		for m := d.count(2); m > 0 && d.err == nil; m-- {
			k := d.varint()
			if d.err == nil && (k < 0 || k >= a.horizon) {
				return fmt.Errorf("cohort offset %d out of range", k)
			}
			cl := e.V.cell(k, a.cur.slots())
			d.set(&cl.users)
			for i := range nCur {
				cl.money[i].revenue.Store(d.varint())
				cl.money[i].purchases.Store(d.varint())
			}
		}
	}
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		e := a.days.Get(d.varint())
		if d.err != nil {
			break
		}
		if e == nil {
			return errors.New("days out of order")
		}
		d.set(&e.V)
	}
	if d.err != nil {
		return d.err
	}
	return a.restoreSections(d)
}

// restore records c as the cohort of h, within the cap.
func (f *firstSeen) restore(h uint64, c int64) {
	sh := &f.shards[h>>58]
	sh.mu.Lock()
	if _, ok := sh.m[h]; !ok && f.n.Load() < f.max {
		sh.m[h] = c
		f.n.Add(1)
	}
	sh.mu.Unlock()
}

// loadSnapshot restores the snapshot at path, if any. A file that
// snapshot.Load accepts but that does not decode is moved aside and
// reported, and the activity starts empty; it reports whether state was
// restored.
func (a *Activity) loadSnapshot(path string, reset func()) bool {
	p := snapshot.Load(path, activityStateVersion)
	if p == nil {
		return false
	}
	err := a.restoreState(p)
	if err == nil {
		return true
	}
	reset()
	moveAsideReport(path, fmt.Sprintf("activity %q", a.name), err)
	return false
}
