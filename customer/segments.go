package customer

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reserved segment values.
const (
	// OtherValue is the segment value reported for values over the
	// dimension's limit, invalid UTF-8, and values longer than
	// [MaxSegmentValueLen].
	OtherValue = "_OTHER"
	// UnknownValue is the segment value reported when a recording call
	// gives no value, or an empty one, for a dimension.
	UnknownValue = "_UNKNOWN"
)

const (
	otherIdx   uint16 = 0
	unknownIdx uint16 = 1
	maxNameLen        = 255
)

func validName(s string) bool {
	return s != "" && len(s) <= maxNameLen && utf8.ValidString(s)
}

// fold says why a segment value was folded into OtherValue.
type fold uint8

const (
	foldNone fold = iota
	foldInvalid
	foldOverflow
)

// dimension interns the values of one segment dimension. Lookups of known
// values read an immutable map without locking; a new value copies the map
// under mu. Once the limit is reached, full short-cuts every unknown value
// to OtherValue without taking the lock.
type dimension struct {
	key    attribute.Key
	limit  int
	index  atomic.Pointer[map[string]uint16]
	full   atomic.Bool
	mu     sync.Mutex
	values []string // by index; guarded by mu
}

func newDimension(name string, limit int) *dimension {
	d := &dimension{key: attribute.Key(name), limit: limit, values: []string{OtherValue, UnknownValue}}
	m := map[string]uint16{OtherValue: otherIdx, UnknownValue: unknownIdx}
	d.index.Store(&m)
	return d
}

func (d *dimension) resolve(v string) (uint16, fold) {
	if v == "" {
		return unknownIdx, foldNone
	}
	if i, ok := (*d.index.Load())[v]; ok {
		return i, foldNone
	}
	if len(v) > MaxSegmentValueLen || !utf8.ValidString(v) {
		return otherIdx, foldInvalid
	}
	if d.full.Load() {
		return otherIdx, foldOverflow
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.index.Load()
	if i, ok := old[v]; ok {
		return i, foldNone
	}
	if len(d.values)-2 >= d.limit {
		d.full.Store(true)
		return otherIdx, foldOverflow
	}
	i := uint16(len(d.values))
	v = strings.Clone(v)
	m := make(map[string]uint16, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	m[v] = i
	d.values = append(d.values, v)
	d.index.Store(&m)
	return i, foldNone
}

func (d *dimension) value(i uint16) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.values[i]
}

// comboKey identifies one combination of segment values.
type comboKey [MaxSegments]uint16

// row holds the counts of one segment combination. Rows are created once
// per combination and never freed; an attempt points at its row.
type row struct {
	key      comboKey
	users    []atomic.Int64 // attempts that reached each step
	events   []atomic.Int64 // events counted per step (goals only)
	impaired []atomic.Int64 // impaired attempts that reached each step (funnels in memory only)
	opts     rowOpts
	id       string // the row's id in a shared state (rowTable.ids); "" without one
	idx      int32  // index in rowTable.list
}

// rowOpts are the prebuilt measurement options of a row, so that neither
// recording nor collection builds attribute sets.
type rowOpts struct {
	observe []metric.ObserveOption
	record  []metric.RecordOption
}

// rowTable owns the segment dimensions and the rows.
type rowTable struct {
	name  attribute.KeyValue
	dims  []*dimension
	steps int
	build func(base []attribute.KeyValue) rowOpts

	// impaired: rows count impaired attempts per step (a funnel in memory).
	impaired bool
	// ids: rows carry their id in a shared state (a funnel or goal with
	// WithState).
	ids bool

	mu    sync.RWMutex
	byKey map[comboKey]*row
	list  []*row
}

func newRowTable(name attribute.KeyValue, dims []string, limit, steps int, build func([]attribute.KeyValue) rowOpts) *rowTable {
	t := &rowTable{name: name, steps: steps, build: build, byKey: make(map[comboKey]*row)}
	for _, d := range dims {
		t.dims = append(t.dims, newDimension(d, limit))
	}
	return t
}

// key resolves segment values to a combination. It returns how many values
// were folded for being invalid (or extra) and for overflowing a limit.
func (t *rowTable) key(values []string) (k comboKey, invalid, overflow int64) {
	for i, d := range t.dims {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		idx, f := d.resolve(v)
		k[i] = idx
		switch f {
		case foldInvalid:
			invalid++
		case foldOverflow:
			overflow++
		}
	}
	if len(values) > len(t.dims) {
		invalid++
	}
	return k, invalid, overflow
}

// get returns the row of k, creating it if needed.
func (t *rowTable) get(k comboKey) *row {
	t.mu.RLock()
	r := t.byKey[k]
	t.mu.RUnlock()
	if r != nil {
		return r
	}
	attrs := t.attrs(k, 0)
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.byKey[k]; r != nil {
		return r
	}
	r = &row{key: k, users: make([]atomic.Int64, t.steps), events: make([]atomic.Int64, t.steps), opts: t.build(attrs)}
	if t.impaired {
		r.impaired = make([]atomic.Int64, t.steps)
	}
	if t.ids {
		r.id = t.rowID(k)
	}
	r.idx = int32(len(t.list))
	t.byKey[k] = r
	t.list = append(t.list, r)
	return r
}

// attrs returns the attributes every metric of the row of k has: the
// recorder's name and the segment values, with room for extra more.
func (t *rowTable) attrs(k comboKey, extra int) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 1+len(t.dims)+extra)
	attrs = append(attrs, t.name)
	for i, d := range t.dims {
		attrs = append(attrs, d.key.String(d.value(k[i])))
	}
	return attrs
}

// byIndex returns the row of index i.
func (t *rowTable) byIndex(i int32) *row {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.list[i]
}

// each calls fn for every row, in creation order.
func (t *rowTable) each(fn func(*row)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, r := range t.list {
		fn(r)
	}
}
