package kpikit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/operational"
)

// costFixture is a provider with a funnel, a goal and an activity.
type costFixture struct {
	reader   *sdkmetric.ManualReader
	mp       *sdkmetric.MeterProvider
	funnel   *customer.Funnel
	goal     *customer.Goal
	activity *customer.Activity
	day      string
}

func newCostFixture(t *testing.T) *costFixture {
	t.Helper()
	f := &costFixture{reader: sdkmetric.NewManualReader(), day: time.Now().UTC().Format(time.DateOnly)}
	f.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { _ = f.mp.Shutdown(context.Background()) })
	var err error
	if f.activity, err = customer.NewActivity("shop", customer.WithMeterProvider(f.mp)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.activity.Close() })
	if f.funnel, err = customer.NewFunnel("checkout", []string{"visit", "cart", "pay"}, customer.WithMeterProvider(f.mp)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.funnel.Close() })
	if f.goal, err = customer.NewGoal("signup", customer.WithMeterProvider(f.mp)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.goal.Close() })
	return f
}

func (f *costFixture) middleware(t *testing.T, opts ...operational.Option) *operational.Middleware {
	t.Helper()
	mw, err := operational.NewMiddleware(append([]operational.Option{operational.WithMeterProvider(f.mp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

// visit records the first step of users outside any request.
func (f *costFixture) visit(users ...string) {
	for _, u := range users {
		f.funnel.Step(context.Background(), u, "visit")
	}
}

func impairedAt(step string, index int, errType string) string {
	return fmt.Sprintf("customer.funnel.impaired_users{error.type=%s,funnel=checkout,funnel.step=%s,funnel.step.index=%d}", errType, step, index)
}

func impairedStep(step string, index int) string {
	return fmt.Sprintf("customer.funnel.impaired_step_users{funnel=checkout,funnel.step=%s,funnel.step.index=%d}", step, index)
}

// only returns the points whose key starts with prefix.
func only(p map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range p {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func checkPoints(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || diff(g, w) > 1e-9 {
			t.Errorf("%s = %v (reported %v), want %v", k, g, ok, w)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestFailuresCostRequestReplaced: handlers and routers that replace the
// request (WithContext, Clone, a chi-like router that wraps it again)
// before calling the recorders still link the user, once.
func TestFailuresCostRequestReplaced(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	mw := f.middleware(t)
	type rctxKey struct{}
	// chi-like: the router puts its own routing context in a new request.
	router := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rctxKey{}, "/pay")))
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /with-context", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		r = r.WithContext(ctx)
		f.funnel.Step(r.Context(), r.URL.Query().Get("user"), "cart")
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /clone", func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(context.WithValue(r.Context(), rctxKey{}, 1))
		f.funnel.Step(r.Context(), r.URL.Query().Get("user"), "cart")
		f.funnel.Link(r.Context(), r.URL.Query().Get("user"))
		w.WriteHeader(http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mw.Handler(router(mux)))
	defer srv.Close()
	f.visit("ann", "bob")
	if got := get(t, srv.Client(), srv.URL+"/with-context?user=ann"); got != 500 {
		t.Fatalf("status %d", got)
	}
	get(t, srv.Client(), srv.URL+"/clone?user=bob")
	p := points(t, f.reader)
	checkPoints(t, p, map[string]float64{
		impairedAt("cart", 2, "500"):                                 2,
		impairedStep("visit", 1):                                     2,
		impairedStep("cart", 2):                                      2,
		"kpikit.affected_users{error.type=500,period=" + f.day + "}": 2,
	})
}

// TestFailuresCostTimeoutHandler: with http.TimeoutHandler inside the
// middleware, the request is a 503; the handler keeps running on its
// own goroutine and links its users before and after the 503 was sent:
// each is impaired once and counted once, with error.type 503.
func TestFailuresCostTimeoutHandler(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	mw := f.middleware(t)
	var done sync.WaitGroup
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		defer done.Done()
		user := r.URL.Query().Get("user")
		if r.URL.Query().Get("when") == "before" {
			f.funnel.Step(r.Context(), user, "cart")
		}
		<-release
		if r.URL.Query().Get("when") == "after" {
			f.funnel.Step(r.Context(), user, "cart")
			f.goal.Convert(r.Context(), user)
		}
	})
	srv := httptest.NewServer(mw.Handler(http.TimeoutHandler(mux, 20*time.Millisecond, "slow")))
	defer srv.Close()
	f.visit("ann", "bob")
	done.Add(2)
	if got := get(t, srv.Client(), srv.URL+"/cart?user=ann&when=before"); got != 503 {
		t.Fatalf("status %d, want 503", got)
	}
	if got := get(t, srv.Client(), srv.URL+"/cart?user=bob&when=after"); got != 503 {
		t.Fatalf("status %d, want 503", got)
	}
	close(release)
	done.Wait()
	p := points(t, f.reader)
	checkPoints(t, p, map[string]float64{
		impairedAt("cart", 2, "503"):                                 2,
		impairedStep("cart", 2):                                      2,
		"kpikit.affected_users{error.type=503,period=" + f.day + "}": 2,
	})
}

// TestFailuresCostMultipartTempFiles: a form larger than the memory the
// handler allows goes to temporary files, which the server removes: the
// middleware hands the parsed form back to the server's request.
func TestFailuresCostMultipartTempFiles(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	f := newCostFixture(t)
	mw := f.middleware(t)
	seen := make(chan bool, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(16); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		entries, _ := os.ReadDir(tmp)
		seen <- len(entries) > 0
		f.funnel.Link(r.Context(), r.FormValue("user"))
		w.WriteHeader(http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()
	f.visit("ann")
	var body bytes.Buffer
	mpw := multipart.NewWriter(&body)
	_ = mpw.WriteField("user", "ann")
	fw, _ := mpw.CreateFormFile("file", "big.bin")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 64<<10))
	_ = mpw.Close()
	resp, err := srv.Client().Post(srv.URL+"/upload", mpw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !<-seen {
		t.Fatal("the form was not spooled to a temporary file: the test tests nothing")
	}
	// The server removes the files once the handler returned, possibly
	// after the response reached the client.
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, _ := os.ReadDir(tmp)
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporary files left: %v", entries)
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkPoints(t, points(t, f.reader), map[string]float64{impairedAt("visit", 1, "500"): 1})
}

// TestFailuresCostPatternOutside: a middleware outside this one reads the
// pattern ServeMux set on the request this one handed its handler.
func TestFailuresCostPatternOutside(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	mw := f.middleware(t)
	patterns := make(chan string, 1)
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			patterns <- r.Pattern
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.funnel.Step(r.Context(), "ann", "cart")
		w.WriteHeader(http.StatusBadGateway)
	})
	srv := httptest.NewServer(outer(mw.Handler(mux)))
	defer srv.Close()
	f.visit("ann")
	get(t, srv.Client(), srv.URL+"/items/7")
	if got := <-patterns; got != "GET /items/{id}" {
		t.Errorf("pattern outside %q", got)
	}
	checkPoints(t, points(t, f.reader), map[string]float64{
		"kpikit.affected_users{error.type=502,http.route=/items/{id},period=" + f.day + "}": 1,
	})
}

// TestFailuresCostHTTP2AndHijack: over HTTP/2 a failure is told as over
// HTTP/1; a hijacked connection (a websocket) is no failure.
func TestFailuresCostHTTP2AndHijack(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	mw := f.middleware(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("proto %s", r.Proto)
		}
		f.funnel.Step(r.Context(), r.URL.Query().Get("user"), "cart")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	srv := httptest.NewUnstartedServer(mw.Handler(mux))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	f.visit("ann", "bob")
	get(t, srv.Client(), srv.URL+"/cart?user=ann")

	mux1 := http.NewServeMux()
	mux1.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		f.funnel.Step(r.Context(), "bob", "cart")
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
	})
	srv1 := httptest.NewServer(mw.Handler(mux1))
	defer srv1.Close()
	req, _ := http.NewRequest("GET", srv1.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := srv1.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := points(t, f.reader)
	checkPoints(t, p, map[string]float64{
		impairedAt("cart", 2, "503"): 1,
		impairedStep("cart", 2):      1, // bob reached it clean
		"kpikit.affected_users{error.type=503,http.route=/cart,period=" + f.day + "}": 1,
	})
	if n := len(only(p, "kpikit.affected_users{error.type=101")); n != 0 {
		t.Errorf("hijack counted as a failure: %v", p)
	}
}

// TestFailuresCostNestedMiddlewares: two middlewares of one provider, one
// inside the other: a failure is told by both, impairs the attempt once,
// and counts the user in both middlewares' sets.
func TestFailuresCostNestedMiddlewares(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	outer := f.middleware(t, operational.WithRouteFunc(func(*http.Request) string { return "outer" }))
	inner := f.middleware(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		for _, u := range strings.Split(r.URL.Query().Get("users"), ",") {
			f.funnel.Step(r.Context(), u, "cart")
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	srv := httptest.NewServer(outer.Handler(inner.Handler(mux)))
	defer srv.Close()
	f.visit("ann", "bob", "cid")
	get(t, srv.Client(), srv.URL+"/cart?users=ann,bob")
	get(t, srv.Client(), srv.URL+"/cart?users=ann,cid")
	p := points(t, f.reader)
	checkPoints(t, p, map[string]float64{
		impairedAt("cart", 2, "500"): 3,
		impairedStep("visit", 1):     3,
		"kpikit.affected_users{error.type=500,http.route=/cart,period=" + f.day + "}": 3,
		"kpikit.affected_users{error.type=500,http.route=outer,period=" + f.day + "}": 3,
	})
}

// TestFailuresCostOperationInRequest: an operation that fails in a request
// that succeeds, and one that succeeds in a request that fails.
func TestFailuresCostOperationInRequest(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	mw := f.middleware(t)
	op, err := operational.NewOperation("charge", operational.WithMeterProvider(f.mp))
	if err != nil {
		t.Fatal(err)
	}
	errDeclined := errors.New("declined")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pay", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		ctx, timer := op.StartContext(r.Context())
		f.funnel.Link(ctx, user)
		if r.URL.Query().Get("op") == "fail" {
			timer.End(errDeclined)
			timer.End(errDeclined) // a second End tells nobody again
			return                 // the request succeeds
		}
		timer.End(nil)
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /never-ended", func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := op.StartContext(r.Context())
		f.funnel.Link(ctx, r.URL.Query().Get("user"))
		w.WriteHeader(http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()
	f.visit("ann", "bob", "cid")
	get(t, srv.Client(), srv.URL+"/pay?user=ann&op=fail")
	get(t, srv.Client(), srv.URL+"/pay?user=bob")
	get(t, srv.Client(), srv.URL+"/never-ended?user=cid")
	p := points(t, f.reader)
	checkPoints(t, p, map[string]float64{
		impairedAt("visit", 1, "_OTHER"): 1,
		impairedAt("visit", 1, "500"):    2,
		"kpikit.affected_users{error.type=_OTHER,operation.name=charge,period=" + f.day + "}": 1,
		"kpikit.affected_users{error.type=500,http.route=/pay,period=" + f.day + "}":          1,
		"kpikit.affected_users{error.type=500,http.route=/never-ended,period=" + f.day + "}":  1,
	})
	if v, ok := p["kpikit.affected_users{error.type=500,http.route=/pay,period="+f.day+"}"]; ok && v != 1 {
		t.Errorf("ann counted in the request that succeeded")
	}
}

// TestFailuresCostGoalActivity: a goal conversion and a refund in a failing
// request count the user as affected and impair nothing.
func TestFailuresCostGoalActivity(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	mw := f.middleware(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /signup", func(w http.ResponseWriter, r *http.Request) {
		f.goal.Expose(context.Background(), "ann")
		f.goal.Convert(r.Context(), "ann")
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /refund", func(w http.ResponseWriter, r *http.Request) {
		f.activity.Refund(r.Context(), "bob", time.Time{}, "USD", 500)
		f.activity.Purchase(r.Context(), "cid", time.Time{}, "USD", -500) // dropped: not linked
		w.WriteHeader(http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()
	get(t, srv.Client(), srv.URL+"/signup")
	get(t, srv.Client(), srv.URL+"/refund")
	p := points(t, f.reader)
	checkPoints(t, p, map[string]float64{
		"kpikit.affected_users{error.type=500,http.route=/signup,period=" + f.day + "}": 1,
		"kpikit.affected_users{error.type=500,http.route=/refund,period=" + f.day + "}": 1,
	})
	if got := only(p, "customer.funnel.impaired"); len(got) != 0 {
		t.Errorf("impaired without a funnel call: %v", got)
	}
}

// typedErr names its own error.type.
type typedErr struct{}

func (typedErr) Error() string     { return "declined" }
func (typedErr) ErrorType() string { return "card_declined" }

// TestFailuresCostDurationDropped: a view that drops the duration and size
// histograms does not stop the failures from being told and counted.
func TestFailuresCostDurationDropped(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	reader := sdkmetric.NewManualReader()
	drop := sdkmetric.NewView(sdkmetric.Instrument{Name: "*.duration"}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
	dropSize := sdkmetric.NewView(sdkmetric.Instrument{Name: "http.server.*.size"}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(drop, dropSize))
	defer mp.Shutdown(context.Background())
	mw, err := operational.NewMiddleware(operational.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	op, err := operational.NewOperation("charge", operational.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		f.funnel.Step(r.Context(), "ann", "cart")
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /pay", func(w http.ResponseWriter, r *http.Request) {
		ctx, timer := op.StartContext(r.Context())
		f.funnel.Link(ctx, "bob")
		timer.End(typedErr{})
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()
	f.visit("ann", "bob")
	get(t, srv.Client(), srv.URL+"/cart")
	get(t, srv.Client(), srv.URL+"/pay")
	checkPoints(t, points(t, f.reader), map[string]float64{
		impairedAt("cart", 2, "500"):            1,
		impairedAt("visit", 1, "card_declined"): 1,
	})
	checkPoints(t, points(t, reader), map[string]float64{
		"kpikit.affected_users{error.type=500,http.route=/cart,period=" + f.day + "}":                1,
		"kpikit.affected_users{error.type=card_declined,operation.name=charge,period=" + f.day + "}": 1,
	})
}

// TestFailuresCostMiddlewareDisabled: a middleware with nothing to record
// (no SDK behind it) still hands its handler the outcome: a funnel on
// another provider learns of the failure. With WithoutOutcome it does not.
func TestFailuresCostMiddlewareDisabled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newCostFixture(t)
	on, err := operational.NewMiddleware(operational.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	off, err := operational.NewMiddleware(operational.WithMeterProvider(noop.NewMeterProvider()), operational.WithoutOutcome())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		f.funnel.Step(r.Context(), r.URL.Query().Get("user"), "cart")
		w.WriteHeader(http.StatusInternalServerError)
	})
	srvOn := httptest.NewServer(on.Handler(mux))
	defer srvOn.Close()
	srvOff := httptest.NewServer(off.Handler(mux))
	defer srvOff.Close()
	f.visit("ann", "bob")
	get(t, srvOn.Client(), srvOn.URL+"/cart?user=ann")
	get(t, srvOff.Client(), srvOff.URL+"/cart?user=bob")
	checkPoints(t, points(t, f.reader), map[string]float64{
		impairedAt("cart", 2, "500"): 1, // ann's
		impairedStep("visit", 1):     1,
	})
}
