// Command replay backfills customer KPIs from an orders CSV and prints the
// KPI tables as JSON.
//
//	go run ./examples/replay -in orders.csv -user UserId -time OrderDate \
//		[-time-layout 2006-01-02] [-amount TotalCharges] [-currency USD] \
//		[-scale 4] [-period day|week|month]
//
// One row is one order: the user is active at the row's time and, when
// -amount is given, pays the amount (a negative amount is a refund). Every
// row is recorded through a customer.Activity at its event time, in time
// order; the metrics are collected once through an SDK ManualReader and the
// JSON on stdout is built from the collected data points only. A user's
// cohort is the period of their first order.
//
// With -funnel, the file is a step log: one row is one event whose step
// is in the -step column. Every row still makes its user active; the rows
// whose step is one of the funnel's steps (or an -exclude event) also go
// through a customer.Funnel with figures by entry period, and the JSON
// gains a "funnel" table: for each period, the users who entered the
// funnel in it, each counted once at the furthest step reached within the
// window (as PostHog's funnels count them), with the conversion from the
// first step, and the attempts per step over the whole log:
//
//	go run ./examples/replay -in events.csv -user user_id -time timestamp \
//		-funnel visit,cart,pay -step event [-window 336h] \
//		[-order sequential|strict|any] [-exclude coupon:visit:pay]
//
// A malformed row (a CSV syntax error, a number of fields other than the
// header's, an empty user, a time or amount that does not parse) is
// skipped. The skipped rows are reported on stderr with their line numbers,
// in line order, followed by the numbers of rows read, recorded and skipped
// and the skipped ones by reason. A missing file or column is an error and
// the exit status is 1, and so is a file of which no row is usable: the
// error says why the first row was skipped. -h prints the usage on stderr
// and the exit status is 0.
package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
)

func main() {
	os.Exit(status(os.Args[1:], os.Stdout, os.Stderr))
}

// status runs the program and returns its exit status: 0 on success and
// for -h, which prints the usage on stderr, or 1 after printing the error
// on stderr.
func status(args []string, stdout, stderr io.Writer) int {
	err := run(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 1
	}
	return 0
}

// config is what the flags say.
type config struct {
	in, user, time, layout, amount, currency, period string
	scale                                            int
	// Funnel mode.
	funnel, step, order, exclude string
	window                       time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: replay -in FILE -user COLUMN -time COLUMN [flags]\n\n"+
			"Backfills customer KPIs from an orders CSV, one order a row, and prints\n"+
			"the period and cohort tables as JSON.\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.in, "in", "", "orders CSV file with a header row (required)")
	fs.StringVar(&c.user, "user", "", "column of the user id (required)")
	fs.StringVar(&c.time, "time", "", "column of the order time (required)")
	fs.StringVar(&c.layout, "time-layout", "", "Go time layout of the time column; default: 2006-01-02, 20060102, RFC 3339 or 2006-01-02 15:04:05, whichever parses")
	fs.StringVar(&c.amount, "amount", "", "column of the order amount in major units, such as 12.34; a negative amount is a refund (optional)")
	fs.StringVar(&c.currency, "currency", "USD", "ISO 4217 code of the amounts")
	fs.IntVar(&c.scale, "scale", -1, "fractional digits amounts are kept in; default: the currency's minor unit, or finer when the file has finer amounts")
	fs.StringVar(&c.period, "period", "month", "period of cohorts and figures: day, week or month")
	fs.StringVar(&c.funnel, "funnel", "", "comma-separated funnel steps, such as visit,cart,pay: the file is a step log and a funnel table is printed (needs -step)")
	fs.StringVar(&c.step, "step", "", "column of the step name, with -funnel")
	fs.DurationVar(&c.window, "window", customer.DefaultWindow, "conversion window of the funnel")
	fs.StringVar(&c.order, "order", "sequential", "order of the funnel: sequential, strict or any")
	fs.StringVar(&c.exclude, "exclude", "", "comma-separated exclusions EVENT:FROM:TO: a window in which EVENT happens once FROM was reached and before TO leaves the funnel")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"-in", c.in}, {"-user", c.user}, {"-time", c.time}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing flag %s", strings.Join(missing, ", "))
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (c.funnel == "") != (c.step == "") {
		return c, errors.New("-funnel and -step go together")
	}
	return c, nil
}

// order is one well-formed row.
type order struct {
	line   int
	user   string
	at     time.Time
	amount string // as in the file; parsed once the scale is known
	step   string // with -funnel
}

var defaultLayouts = []string{time.DateOnly, "20060102", time.RFC3339, time.DateTime}

func parseTime(s, layout string) (time.Time, error) {
	if layout != "" {
		t, err := time.Parse(layout, s)
		if err != nil {
			return t, fmt.Errorf("-time-layout %q: %w", layout, err)
		}
		return t, nil
	}
	for _, l := range defaultLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q matches none of the layouts %q (set -time-layout)", s, defaultLayouts)
}

// decimal matches a plain decimal amount: an optional sign, digits and an
// optional fraction.
var decimal = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// fracDigits returns the significant fractional digits of a decimal text,
// or 0 for a text that is not a plain decimal (it is skipped later, and
// must not make the other amounts finer).
func fracDigits(s string) int {
	i := strings.IndexByte(s, '.')
	if i < 0 || !decimal.MatchString(s) {
		return 0
	}
	return len(strings.TrimRight(s[i+1:], "0"))
}

// reason is why a row was skipped. The summary lists the reasons in this
// order.
type reason int

const (
	badSyntax reason = iota // a CSV syntax error
	badFields               // a number of fields other than the header's
	badUser                 // an empty user id
	badTime                 // a time that does not parse
	badAmount               // an empty amount or one that does not parse
	numReasons
)

// String returns the reason's name in the summary.
func (r reason) String() string {
	switch r {
	case badSyntax:
		return "CSV syntax"
	case badFields:
		return "field count"
	case badUser:
		return "empty user"
	case badTime:
		return "time"
	case badAmount:
		return "amount"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// skip is one skipped row.
type skip struct {
	line   int
	reason reason
	msg    string
}

// rows counts the rows read and keeps the rows skipped by any step, so
// that they are reported in line order whichever step skipped them.
type rows struct {
	file    string
	read    int // records after the header; blank lines are none
	skipped []skip
}

func (r *rows) skip(line int, why reason, format string, args ...any) {
	r.skipped = append(r.skipped, skip{line, why, fmt.Sprintf(format, args...)})
}

// report prints the skipped rows in line order, then the counts: rows
// read, recorded and skipped, and the skipped ones by reason.
func (r *rows) report(w io.Writer, recorded int) {
	slices.SortStableFunc(r.skipped, func(a, b skip) int { return cmp.Compare(a.line, b.line) })
	var by [numReasons]int
	for _, s := range r.skipped {
		by[s.reason]++
		fmt.Fprintf(w, "%s:%d: skipped: %s\n", r.file, s.line, s.msg)
	}
	var reasons []string
	for why, n := range by {
		if n > 0 {
			reasons = append(reasons, fmt.Sprintf("%d %v", n, reason(why)))
		}
	}
	fmt.Fprintf(w, "replay: %d rows read, %d rows recorded, %d rows skipped", r.read, recorded, len(r.skipped))
	if len(reasons) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(reasons, ", "))
	}
	fmt.Fprintln(w)
}

// unusable returns the error for a file of which no row was recorded: it
// says why the first skipped row was skipped.
func (r *rows) unusable() error {
	if len(r.skipped) == 0 {
		return fmt.Errorf("no row was usable: %s has no rows after the header", r.file)
	}
	first := slices.MinFunc(r.skipped, func(a, b skip) int { return cmp.Compare(a.line, b.line) })
	return fmt.Errorf("no row was usable: all %d rows were skipped, the first at %s:%d: %s", len(r.skipped), r.file, first.line, first.msg)
}

// readOrders reads the well-formed rows of the CSV and keeps the others in
// the returned rows.
func readOrders(c config) ([]order, *rows, error) {
	f, err := os.Open(c.in)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	// Every row must have the header's number of fields: a row with more,
	// such as an unquoted decimal comma, would otherwise be read shifted.
	r.FieldsPerRecord = 0
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("%s is empty: want a header row", c.in)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", c.in, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	idx := func(flagName, name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		i, ok := col[name]
		if !ok {
			return 0, fmt.Errorf("%s: column %q (%s) is not in the header %q", c.in, name, flagName, header)
		}
		return i, nil
	}
	ui, err1 := idx("-user", c.user)
	ti, err2 := idx("-time", c.time)
	ai, err3 := idx("-amount", c.amount)
	si, err4 := idx("-step", c.step)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, nil, err
	}
	var orders []order
	rs := &rows{file: c.in}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		rs.read++
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				rs.skip(pe.StartLine, badFields, "%d fields, the header has %d", len(rec), len(header))
			} else {
				rs.skip(pe.StartLine, badSyntax, "%v", pe.Err)
			}
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.in, err)
		}
		line, _ := r.FieldPos(0)
		o := order{line: line, user: strings.TrimSpace(rec[ui])}
		if o.user == "" {
			rs.skip(line, badUser, "empty user id in column %q", c.user)
			continue
		}
		if o.at, err = parseTime(strings.TrimSpace(rec[ti]), c.layout); err != nil {
			rs.skip(line, badTime, "%v", err)
			continue
		}
		if ai >= 0 {
			o.amount = strings.TrimSpace(rec[ai])
			if o.amount == "" {
				rs.skip(line, badAmount, "empty amount in column %q", c.amount)
				continue
			}
		}
		if si >= 0 {
			o.step = strings.Clone(strings.TrimSpace(rec[si]))
		}
		o.user = strings.Clone(o.user)
		o.amount = strings.Clone(o.amount)
		orders = append(orders, o)
	}
	return orders, rs, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	unit, err := customer.ParsePeriod(c.period)
	if err != nil {
		return err
	}
	orders, rs, err := readOrders(c)
	if err != nil {
		return err
	}
	// Time order, so that each user's first order comes first and sets the
	// cohort; rows of the same time keep their file order.
	slices.SortStableFunc(orders, func(a, b order) int { return a.at.Compare(b.at) })

	opts := []customer.Option{customer.WithPeriod(unit)}
	if len(orders) > 0 {
		first, last := orders[0].at, orders[len(orders)-1].at
		opts = append(opts,
			customer.WithHorizon(min(max(spanPeriods(unit, first, last), 1), customer.MaxHorizon)),
			customer.WithClock(func() time.Time { return last }))
	}
	periodOpts := opts[:len(opts):len(opts)] // the funnel's too
	if c.amount != "" {
		scale, err := amountScale(c, orders)
		if err != nil {
			return err
		}
		opts = append(opts, customer.WithCurrencies(c.currency), customer.WithScale(scale))
	}

	reader := sdkmetric.NewManualReader()
	// A long horizon reports more series than the SDK's default cardinality
	// limit (2000 per instrument): a cohort matrix of n periods has
	// n(n+1) retention series per mode. A batch replay lifts the limit.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithCardinalityLimit(0))
	ctx := context.Background()
	defer func() { _ = mp.Shutdown(ctx) }()
	a, err := customer.NewActivity("replay", append(opts, customer.WithMeterProvider(mp))...)
	if err != nil {
		return err
	}
	defer a.Close()
	f, ft, err := newFunnel(c, append(periodOpts, customer.WithMeterProvider(mp)))
	if err != nil {
		return err
	}
	defer f.Close()

	var none time.Time // no signup time: the cohort is the first order's period
	recorded := 0
	for _, o := range orders {
		recorded++
		if ft != nil && ft.records[o.step] {
			f.StepAt(ctx, o.at, o.user, o.step)
		}
		if c.amount == "" {
			a.ActiveAt(ctx, o.at, o.user, none)
			continue
		}
		v, err := a.ParseAmount(c.currency, o.amount)
		if err != nil {
			recorded--
			rs.skip(o.line, badAmount, "amount: %v", err)
			continue
		}
		if v < 0 {
			a.RefundAt(ctx, o.at, o.user, none, c.currency, -v)
		} else {
			a.PurchaseAt(ctx, o.at, o.user, none, c.currency, v)
		}
	}
	rs.report(stderr, recorded)
	if recorded == 0 {
		return rs.unusable()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	out, dropped := tables(rm, unit.String(), c.amount != "")
	if ft != nil {
		out.Funnel = &ft.funnelTable
		funnelTables(rm, out.Funnel)
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(out); err != nil {
		return err
	}
	for _, why := range slices.Sorted(maps.Keys(dropped)) {
		if n := dropped[why]; n != 0 {
			fmt.Fprintf(stderr, "replay: the library dropped %d rows: %s\n", n, why)
		}
	}
	return nil
}

// amountScale returns -scale, or else the finest scale the amounts of the
// file need and at least the currency's minor unit.
func amountScale(c config, orders []order) (int, error) {
	probe, err := customer.NewActivity("replay", customer.WithCurrencies(c.currency))
	if err != nil {
		return 0, err
	}
	_ = probe.Close()
	minor, _ := probe.Scale(c.currency)
	if c.scale >= 0 {
		return c.scale, nil
	}
	scale := minor
	for _, o := range orders {
		scale = max(scale, min(fracDigits(o.amount), 18))
	}
	return scale, nil
}

// spanPeriods returns the number of periods from the one of first to the
// one of last, both included.
func spanPeriods(unit customer.Period, first, last time.Time) int {
	switch unit {
	case customer.Day:
		return int(last.Sub(first).Hours()/24) + 2
	case customer.Week:
		return int(last.Sub(first).Hours()/24/7) + 2
	}
	return (last.Year()-first.Year())*12 + int(last.Month()) - int(first.Month()) + 1
}

// replayFunnel is the funnel of -funnel and the steps and exclusion
// events it records.
type replayFunnel struct {
	funnelTable
	records map[string]bool
}

// newFunnel returns the funnel that -funnel describes, with the options of
// the activity (period, horizon, clock) and its own; nil without -funnel.
func newFunnel(c config, opts []customer.Option) (*customer.Funnel, *replayFunnel, error) {
	if c.funnel == "" {
		return nil, nil, nil
	}
	var order customer.Order
	switch c.order {
	case "sequential":
		order = customer.Sequential
	case "strict":
		order = customer.Strict
	case "any":
		order = customer.Any
	default:
		return nil, nil, fmt.Errorf("-order %q: want sequential, strict or any", c.order)
	}
	steps := strings.Split(c.funnel, ",")
	t := &replayFunnel{funnelTable: funnelTable{Steps: steps, Order: c.order, Window: c.window.String()}, records: map[string]bool{}}
	for _, s := range steps {
		t.records[s] = true
	}
	opts = append(opts, customer.WithWindow(c.window), customer.WithOrder(order))
	if c.exclude != "" {
		for _, x := range strings.Split(c.exclude, ",") {
			parts := strings.Split(x, ":")
			if len(parts) != 3 {
				return nil, nil, fmt.Errorf("-exclude %q: want EVENT:FROM:TO", x)
			}
			opts = append(opts, customer.WithExclusion(parts[0], parts[1], parts[2]))
			t.records[parts[0]] = true
		}
	}
	f, err := customer.NewFunnel("replay", steps, opts...)
	if err != nil {
		return nil, nil, err
	}
	return f, t, nil
}
