package benchmarks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/datasketches-go/cpc"
	"github.com/apache/datasketches-go/hll"
	"github.com/axiomhq/hyperloglog"

	"github.com/kpikit/kpikit/internal/sketch"
)

// bounds lists the checkpoints of TestAccuracy, in distinct users, and the
// largest RMSE of kpikit's estimate there, in percent of the true count,
// that the test accepts. At 2,000 and 5,000 users a set is in its first
// sparse tier and the bound is the 0.05% the tier is built for (it
// measures 0.027%: with the default 8 trials the measured RMSE exceeds 1.85
// times the true one with a probability of about 6e-4); at 10,000 in its
// second (0.048%), bound 0.1%. Above, the set is dense and each bound is
// about three times the RMSE that 1000 trials measured (in the comments):
// with 8 trials, the measured RMSE exceeds twice the true one with a
// probability of about 1e-4.
var bounds = []struct {
	users   int
	maxRMSE float64 // percent
}{
	{1_000, 0},       // exact up to exactUpTo
	{2_000, 0.05},    // 0.027 (sparse; 0.574 when dense at once)
	{5_000, 0.05},    // 0.027 (sparse; 0.588 when dense at once)
	{10_000, 0.1},    // 0.048 (second sparse tier; 0.614 when dense)
	{20_000, 1.9},    // 0.603
	{100_000, 2.3},   // 0.760
	{1_000_000, 2.4}, // 0.792
}

const (
	// exactUpTo is the number of distinct users up to which a sketch.Set
	// counts exactly (sketch.ExactLimit).
	exactUpTo = 1536

	// maxRelErr is the largest relative error of any one estimate, of any
	// implementation, that the test accepts: every sketch measured has a
	// standard error under 1.2%, so a miss of 10% means a broken harness.
	maxRelErr = 0.10

	// Without KPIKIT_ACCURACY_TRIALS the test runs defaultTrials trials up
	// to defaultMaxUsers (the CI run, a few seconds); with it, up to
	// fullMaxUsers. KPIKIT_ACCURACY_MAX overrides the largest size.
	defaultTrials   = 8
	defaultMaxUsers = 100_000
	fullMaxUsers    = 1_000_000
)

// counter is one distinct-count implementation under test.
type counter interface {
	insert(id []byte) error
	estimate() (float64, error)
	// memory returns the bytes the set holds in memory (-1 where the
	// library does not say) and the length of its serialized form.
	memory() (held, serialized int, err error)
}

// impls are the implementations compared. serialized names the call whose
// output length is the serialized size; held says whether memory's held
// size is known.
var impls = []struct {
	name       string
	serialized string
	held       bool
	new        func() (counter, error)
}{
	{"kpikit", "MarshalBinary", true, newKpikit},
	{"axiomhq p14", "MarshalBinary", false, newAxiomHQ},
	{"ds HLL_8 lgK14", "ToCompactSlice", false, func() (counter, error) { return newDSHLL(14, hll.TgtHllTypeHll8) }},
	{"ds HLL_4 lgK14", "ToCompactSlice", false, func() (counter, error) { return newDSHLL(14, hll.TgtHllTypeHll4) }},
	{"ds CPC lgK14", "ToCompactSlice", false, func() (counter, error) { return newDSCPC(14) }},
}

type kpikitSet struct{ s *sketch.Set }

func newKpikit() (counter, error) { return kpikitSet{sketch.New()}, nil }

func (k kpikitSet) insert(id []byte) error {
	k.s.Insert(sketch.HashBytes(id))
	return nil
}

func (k kpikitSet) estimate() (float64, error) { return float64(k.s.Estimate()), nil }

func (k kpikitSet) memory() (int, int, error) {
	b, err := k.s.MarshalBinary()
	return k.s.SizeBytes(), len(b), err
}

// axiomHQ is hyperloglog.New(): precision 14 with its sparse mode.
type axiomHQ struct{ s *hyperloglog.Sketch }

func newAxiomHQ() (counter, error) { return axiomHQ{hyperloglog.New()}, nil }

func (a axiomHQ) insert(id []byte) error {
	a.s.Insert(id)
	return nil
}

func (a axiomHQ) estimate() (float64, error) { return float64(a.s.Estimate()), nil }

func (a axiomHQ) memory() (int, int, error) {
	b, err := a.s.MarshalBinary()
	return -1, len(b), err
}

// dsHLL is an Apache DataSketches HLL sketch (coupon list, then coupon hash
// set, then registers; HIP estimator).
type dsHLL struct{ s hll.HllSketch }

func newDSHLL(lgK int, typ hll.TgtHllType) (counter, error) {
	s, err := hll.NewHllSketch(lgK, typ)
	return dsHLL{s}, err
}

func (d dsHLL) insert(id []byte) error { return d.s.UpdateSlice(id) }

func (d dsHLL) estimate() (float64, error) { return d.s.GetEstimate() }

func (d dsHLL) memory() (int, int, error) {
	b, err := d.s.ToCompactSlice()
	return -1, len(b), err
}

// dsCPC is an Apache DataSketches CPC sketch (HIP estimator).
type dsCPC struct{ s *cpc.CpcSketch }

func newDSCPC(lgK int) (counter, error) {
	s, err := cpc.NewCpcSketchWithDefault(lgK)
	return dsCPC{s}, err
}

func (d dsCPC) insert(id []byte) error { return d.s.UpdateByteSlice(id) }

func (d dsCPC) estimate() (float64, error) { return d.s.GetEstimate(), nil }

func (d dsCPC) memory() (int, int, error) {
	b, err := d.s.ToCompactSlice()
	return -1, len(b), err
}

// idStream yields distinct 64-bit ids: splitmix64, whose output function is
// a bijection of a counter that does not repeat within 2^64 steps.
type idStream struct{ state uint64 }

func newIDStream(trial int) *idStream {
	s := &idStream{uint64(trial)}
	s.state = s.next() // a well-spread starting point per trial
	return s
}

func (s *idStream) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// sample is what one set says at one checkpoint.
type sample struct {
	estimate         float64
	held, serialized int
}

// runTrial feeds the id stream of trial to a fresh set of each
// implementation in turn, and returns per implementation and checkpoint
// (sizes, ascending) what the set says there.
func runTrial(trial int, sizes []int) ([][]sample, error) {
	out := make([][]sample, len(impls))
	for i, im := range impls {
		c, err := im.new()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", im.name, err)
		}
		out[i] = make([]sample, len(sizes))
		ids := newIDStream(trial)
		id := make([]byte, 8)
		n := 0
		for j, size := range sizes {
			for ; n < size; n++ {
				binary.LittleEndian.PutUint64(id, ids.next())
				if err := c.insert(id); err != nil {
					return nil, fmt.Errorf("%s: insert: %w", im.name, err)
				}
			}
			s := &out[i][j]
			if s.estimate, err = c.estimate(); err != nil {
				return nil, fmt.Errorf("%s: estimate: %w", im.name, err)
			}
			if s.held, s.serialized, err = c.memory(); err != nil {
				return nil, fmt.Errorf("%s: serialize: %w", im.name, err)
			}
		}
	}
	return out, nil
}

// runTrials runs trials 0..trials-1 on GOMAXPROCS goroutines and returns
// their samples indexed by trial, implementation and checkpoint.
func runTrials(trials int, sizes []int) ([][][]sample, error) {
	res := make([][][]sample, trials)
	errs := make([]error, trials)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), trials) {
		wg.Go(func() {
			for t := int(next.Add(1) - 1); t < trials; t = int(next.Add(1) - 1) {
				res[t], errs[t] = runTrial(t, sizes)
			}
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// stats summarises one implementation at one checkpoint over all trials.
// Errors are relative to the true count, in percent; sizes are means in
// bytes.
type stats struct {
	rmse, bias, maxAbs float64
	held, serialized   float64
}

func summarize(res [][][]sample, impl, checkpoint, users int) stats {
	var st stats
	for _, trial := range res {
		s := trial[impl][checkpoint]
		e := 100 * (s.estimate - float64(users)) / float64(users)
		st.rmse += e * e
		st.bias += e
		st.maxAbs = max(st.maxAbs, math.Abs(e))
		st.held += float64(s.held)
		st.serialized += float64(s.serialized)
	}
	n := float64(len(res))
	st.rmse = math.Sqrt(st.rmse / n)
	st.bias /= n
	st.held /= n
	st.serialized /= n
	return st
}

// accuracyConfig reads the number of trials and the largest size from the
// environment.
func accuracyConfig() (trials, maxUsers int, err error) {
	trials, maxUsers = defaultTrials, defaultMaxUsers
	if v := os.Getenv("KPIKIT_ACCURACY_TRIALS"); v != "" {
		if trials, err = strconv.Atoi(v); err != nil || trials < 1 {
			return 0, 0, fmt.Errorf("KPIKIT_ACCURACY_TRIALS=%q: want a positive integer", v)
		}
		maxUsers = fullMaxUsers
	}
	if v := os.Getenv("KPIKIT_ACCURACY_MAX"); v != "" {
		if maxUsers, err = strconv.Atoi(v); err != nil || maxUsers < bounds[0].users {
			return 0, 0, fmt.Errorf("KPIKIT_ACCURACY_MAX=%q: want an integer ≥ %d", v, bounds[0].users)
		}
	}
	return trials, maxUsers, nil
}

// tables renders two Markdown tables, one row per checkpoint: RMSE and
// memory, then bias and largest error.
func tables(st [][]stats, sizes []int) string {
	var b strings.Builder
	b.WriteString("| users |")
	for _, im := range impls {
		fmt.Fprintf(&b, " %s RMSE %% |", im.name)
		if im.held {
			fmt.Fprintf(&b, " %s SizeBytes |", im.name)
		}
		fmt.Fprintf(&b, " %s %s bytes |", im.name, im.serialized)
	}
	b.WriteString("\n|---:|")
	for _, im := range impls {
		b.WriteString("---:|---:|")
		if im.held {
			b.WriteString("---:|")
		}
	}
	for j, users := range sizes {
		fmt.Fprintf(&b, "\n| %d |", users)
		for i, im := range impls {
			s := st[i][j]
			fmt.Fprintf(&b, " %.3f |", s.rmse)
			if im.held {
				fmt.Fprintf(&b, " %.0f |", s.held)
			}
			fmt.Fprintf(&b, " %.0f |", s.serialized)
		}
	}

	b.WriteString("\n\n| users |")
	for _, im := range impls {
		fmt.Fprintf(&b, " %s bias %% | %s max abs error %% |", im.name, im.name)
	}
	b.WriteString("\n|---:|")
	for range impls {
		b.WriteString("---:|---:|")
	}
	for j, users := range sizes {
		fmt.Fprintf(&b, "\n| %d |", users)
		for i := range impls {
			fmt.Fprintf(&b, " %+.3f | %.3f |", st[i][j].bias, st[i][j].maxAbs)
		}
	}
	return b.String()
}

// TestAccuracy compares the distinct counts of kpikit's sketch.Set with peer
// libraries on the same streams of distinct ids, and logs the result as
// Markdown tables (go test -v). KPIKIT_ACCURACY_TRIALS=1000 gives the
// figures for the README; the default is a quick run.
func TestAccuracy(t *testing.T) {
	trials, maxUsers, err := accuracyConfig()
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, b := range bounds {
		if b.users <= maxUsers {
			sizes = append(sizes, b.users)
		}
	}

	start := time.Now()
	res, err := runTrials(trials, sizes)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)

	st := make([][]stats, len(impls))
	for i, im := range impls {
		st[i] = make([]stats, len(sizes))
		for j, users := range sizes {
			s := summarize(res, i, j, users)
			st[i][j] = s
			if s.maxAbs > 100*maxRelErr {
				t.Errorf("%s at %d users: an estimate is %.2f%% off, more than %.0f%%", im.name, users, s.maxAbs, 100*maxRelErr)
			}
		}
	}
	for j, users := range sizes {
		k := st[0][j] // kpikit
		if users <= exactUpTo && k.maxAbs != 0 {
			t.Errorf("kpikit at %d users: not exact (largest error %.3f%%)", users, k.maxAbs)
		}
		if k.rmse > bounds[j].maxRMSE {
			t.Errorf("kpikit at %d users: RMSE %.3f%% exceeds the bound %.3f%%", users, k.rmse, bounds[j].maxRMSE)
		}
	}

	t.Logf("%d trials, up to %d distinct users, %d goroutines, %v\n\n%s",
		trials, sizes[len(sizes)-1], min(runtime.GOMAXPROCS(0), trials), elapsed.Round(time.Millisecond), tables(st, sizes))
}
