package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/operational"
	"github.com/kpikit/kpikit/slo"
)

// horizonDays is how many daily periods the shop's activity keeps: the
// window of its retention and revenue figures.
const horizonDays = 30

// Funnel steps of the shop, in order.
var steps = []string{"visit", "search", "product", "cart", "checkout", "pay"}

type product struct {
	ID    string
	Name  string
	Cents int64
}

var catalog = []product{
	{"p1", "espresso beans", 1290}, {"p2", "grinder", 8900}, {"p3", "kettle", 4500},
	{"p4", "scale", 2900}, {"p5", "filters", 490}, {"p6", "mug", 1200},
	{"p7", "dripper", 2300}, {"p8", "tea sampler", 1800},
}

// errInjected is the failure the shop injects on purpose; it names its own
// error.type.
type injectedError struct{}

func (injectedError) Error() string     { return "injected failure" }
func (injectedError) ErrorType() string { return "injected" }

// shop is the instrumented application: its recorders are created once and
// used from the handlers, as a real application would.
type shop struct {
	clock    *simClock
	funnel   *customer.Funnel
	paid     *customer.Goal
	activity *customer.Activity
	query    *operational.Operation
	rejects  *operational.ErrorCounter
	slos     []slo.SLO // shopSLOs, each given to the recorder it is about

	errorRate float64
	latency   time.Duration

	orders atomic.Int64 // for the run's report
}

func newShop(mp metric.MeterProvider, clock *simClock, errorRate float64, latency time.Duration) (*shop, error) {
	s := &shop{clock: clock, errorRate: errorRate, latency: latency, slos: shopSLOs()}
	var errs []error
	var err error
	// Cohorts by first-seen day, a month of daily periods: active users,
	// retention and revenue in dollars (cents, the currency's minor unit),
	// and the lifecycle (new, returning, resurrecting, dormant) with the
	// stickiness distribution.
	s.activity, err = customer.NewActivity("shop",
		customer.WithMeterProvider(mp), customer.WithClock(clock.Now),
		customer.WithPeriod(customer.Day), customer.WithHorizon(horizonDays), customer.WithCurrencies("USD"),
		customer.WithLifecycle())
	errs = append(errs, err)
	// The funnel prices the conversions that failed requests cost with
	// the activity's ARPPU of the day: customer.revenue.at_risk. By entry
	// day it also counts each user once at the furthest step, as a
	// product-analytics tool does: customer.funnel.period.users.
	s.funnel, err = customer.NewFunnel("checkout", steps,
		customer.WithMeterProvider(mp), customer.WithClock(clock.Now),
		customer.WithSegments("device", "channel"), customer.WithWindow(7*24*time.Hour),
		customer.WithRevenueFrom(s.activity), customer.WithPeriod(customer.Day), customer.WithHorizon(horizonDays))
	errs = append(errs, err)
	s.paid, err = customer.NewGoal("cart_to_paid",
		customer.WithMeterProvider(mp), customer.WithClock(clock.Now),
		customer.WithSegments("device"), customer.WithWindow(24*time.Hour),
		customer.WithSLOs(slo.Select(s.slos, slo.Goal("cart_to_paid"))...))
	errs = append(errs, err)
	s.query, err = operational.NewOperation("shop.db.query", operational.WithMeterProvider(mp),
		operational.WithSLOs(slo.Select(s.slos, slo.Operation("shop.db.query"))...))
	errs = append(errs, err)
	s.rejects, err = operational.NewErrorCounter("shop.payment", operational.WithMeterProvider(mp))
	errs = append(errs, err)
	return s, errors.Join(errs...)
}

// Close stops the recorders; they keep reporting their last values until
// the provider shuts down.
func (s *shop) Close() error {
	return errors.Join(s.funnel.Close(), s.paid.Close(), s.activity.Close())
}

// routes returns the shop's mux with Go 1.22 route patterns.
func (s *shop) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /catalog", s.list)
	mux.HandleFunc("GET /search", s.search)
	mux.HandleFunc("GET /product/{id}", s.product)
	mux.HandleFunc("POST /cart/{id}", s.cart)
	mux.HandleFunc("POST /checkout", s.checkout)
	mux.HandleFunc("POST /pay", s.pay)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// middleware returns the Middleware that records the shop's requests but
// for health checks and scrapes, and counts them for its HTTP SLOs.
func (s *shop) middleware(mp metric.MeterProvider) (*operational.Middleware, error) {
	return operational.NewMiddleware(operational.WithMeterProvider(mp),
		operational.WithSLOs(slo.Select(s.slos, slo.Middleware)...),
		operational.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" && r.URL.Path != "/metrics" }))
}

// visitor reads who is calling: the user id and the segment values. A real
// shop takes them from its session; this one from headers the traffic
// generator sets.
func visitor(r *http.Request) (user, device, channel string) {
	return r.Header.Get("X-User-ID"), r.Header.Get("X-Device"), r.Header.Get("X-Channel")
}

// work simulates the handler's own work: a database query with the
// configured latency, failing at the configured rate. Now and then a query is
// ten times slower.
func (s *shop) work(ctx context.Context) error {
	t := s.query.Start(ctx)
	d := time.Duration(rand.ExpFloat64() * float64(s.latency))
	if rand.IntN(100) == 0 {
		d *= 10
	}
	var err error
	select {
	case <-time.After(d):
		if rand.Float64() < s.errorRate {
			err = injectedError{}
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	t.End(err)
	return err
}

func (s *shop) fail(w http.ResponseWriter, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return true // the client went away; the middleware records 499
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
	return true
}

// link ties the visitor's funnel attempt to the request before the work
// that may fail: when the request fails (a 5xx, a panic, or slower than
// the latency SLO), the attempt is impaired at the furthest step it has
// reached. The step itself is recorded only once the work succeeded. A
// request without a user id links nothing.
func (s *shop) link(r *http.Request) {
	if user, _, _ := visitor(r); user != "" {
		s.funnel.Link(r.Context(), user)
	}
}

// step records the funnel step and the user's activity of the day; the
// cohort is the day the shop first saw the user.
func (s *shop) step(r *http.Request, step string) {
	user, device, channel := visitor(r)
	s.funnel.Step(r.Context(), user, step, device, channel)
	s.activity.Active(r.Context(), user, time.Time{})
}

func (s *shop) home(w http.ResponseWriter, r *http.Request) {
	s.link(r)
	if s.fail(w, s.work(r.Context())) {
		return
	}
	s.step(r, "visit")
	fmt.Fprintln(w, "welcome to the shop")
}

func (s *shop) list(w http.ResponseWriter, r *http.Request) {
	s.link(r)
	if s.fail(w, s.work(r.Context())) {
		return
	}
	for _, p := range catalog {
		fmt.Fprintf(w, "%s\t%s\t%d.%02d\n", p.ID, p.Name, p.Cents/100, p.Cents%100)
	}
}

func (s *shop) search(w http.ResponseWriter, r *http.Request) {
	s.link(r)
	if s.fail(w, s.work(r.Context())) {
		return
	}
	s.step(r, "search")
	q := r.URL.Query().Get("q")
	for _, p := range catalog {
		if strings.Contains(p.Name, q) {
			fmt.Fprintln(w, p.ID)
		}
	}
}

func find(id string) (product, bool) {
	for _, p := range catalog {
		if p.ID == id {
			return p, true
		}
	}
	return product{}, false
}

func (s *shop) product(w http.ResponseWriter, r *http.Request) {
	p, ok := find(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.link(r)
	if s.fail(w, s.work(r.Context())) {
		return
	}
	s.step(r, "product")
	fmt.Fprintf(w, "%s %d\n", p.Name, p.Cents)
}

func (s *shop) cart(w http.ResponseWriter, r *http.Request) {
	if _, ok := find(r.PathValue("id")); !ok {
		http.NotFound(w, r)
		return
	}
	s.link(r)
	if s.fail(w, s.work(r.Context())) {
		return
	}
	s.step(r, "cart")
	w.WriteHeader(http.StatusCreated)
}

func (s *shop) checkout(w http.ResponseWriter, r *http.Request) {
	s.link(r)
	if s.fail(w, s.work(r.Context())) {
		return
	}
	s.step(r, "checkout")
	user, device, _ := visitor(r)
	s.paid.Expose(r.Context(), user, device)
	fmt.Fprintln(w, "checkout open")
}

func (s *shop) pay(w http.ResponseWriter, r *http.Request) {
	p, ok := find(r.URL.Query().Get("product"))
	if !ok {
		http.Error(w, "unknown product", http.StatusBadRequest)
		return
	}
	s.link(r)
	if err := s.work(r.Context()); err != nil {
		s.rejects.Add(r.Context(), err)
		s.fail(w, err)
		return
	}
	s.step(r, "pay")
	user, _, _ := visitor(r)
	s.paid.Convert(r.Context(), user)
	s.activity.Purchase(r.Context(), user, time.Time{}, "USD", p.Cents)
	s.orders.Add(1)
	fmt.Fprintln(w, "paid")
}
