// Package operational records service health through the OpenTelemetry
// metric API: net/http server middleware and client transport following the
// OpenTelemetry HTTP semantic conventions, a duration recorder for any unit
// of work, and an error counter. It depends on the metric API only; the
// application chooses the SDK and exporter (see package exporter of this
// module, or bring your own MeterProvider).
//
// # Usage
//
// Wrap the router once:
//
//	mw, err := operational.NewMiddleware()
//	if err != nil { … }
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /users/{id}", getUser)
//	http.ListenAndServe(":8080", mw.Handler(mux))
//
// Every request is then recorded on
//
//   - http.server.request.duration (s; buckets 0.005 … 10 s),
//   - http.server.active_requests ({request}; method and scheme only),
//   - http.server.request.body.size and http.server.response.body.size (By;
//     buckets of powers of four from 64 B to 1 GiB),
//
// with http.request.method (the nine known methods, else "_OTHER"),
// url.scheme, http.response.status_code, http.route, network.protocol.version
// and, on failure only, error.type: the status code for a 5xx, "panic" for a
// handler that panicked. The raw path is never recorded.
//
// The outcome is decided once per request, when the handler returns:
//
//   - a handler that writes nothing is a 200; 1xx responses other than 101
//     are informational, not the final status;
//   - a handler that panics is recorded as 500 with error.type "panic" and
//     the panic continues; [http.ErrAbortHandler] is not reported as a panic;
//   - a request whose client went away (its context canceled before the
//     handler wrote a status by WriteHeader, a first Write or a Flush) is
//     recorded as 499, [StatusClientClosedRequest], with no error.type: it
//     is not a server error; a client that goes away later, mid-body,
//     leaves the status the handler wrote;
//   - a hijacked connection (a websocket upgrade) with no status written is
//     recorded as 101; calls through the writer after the hijack, which
//     net/http refuses, do not change the status;
//   - a status code net/http rejects (below 100 or above 999) is counted on
//     the kpikit.dropped counter (kpikit.component
//     "operational.http.server", reason "invalid_status_code") and recorded
//     as 500.
//
// The request body size is the Content-Length of a body of known length,
// read or not, and the bytes the handler read of one of unknown length (a
// chunked body). The response body size is the bytes the writer accepted;
// for a HEAD request, whose body net/http discards, it is 0.
//
// [http.TimeoutHandler] belongs inside the middleware
// (mw.Handler(http.TimeoutHandler(mux, …))), which then records the 503 it
// sends on a timeout. Outside, the middleware sees only the handler it
// wraps, which outlives the request, and records what that handler wrote.
//
// http.route comes from [http.Request.Pattern], set by [http.ServeMux] on
// the request the middleware passed it; other routers provide it with
// [WithRouteFunc]. A request no pattern matched carries no http.route.
//
// The wrapped ResponseWriter keeps exactly the optional interfaces of the
// original ([http.Flusher], [http.Hijacker], [io.ReaderFrom], deadlines and
// full duplex through [http.ResponseController]), so streaming and
// websockets work through the middleware. One thing no wrapper can pass
// on: [http.MaxBytesReader] tells net/http's own writer, by an unexported
// method, to close the connection once the limit is hit; through the
// middleware the server instead discards the rest of the body (up to
// 256 KiB) and may keep the connection.
//
// For outbound calls, wrap a RoundTripper with [NewTransport]; it records
// http.client.request.duration, with error.type for transport errors and
// for 4xx and 5xx responses. For any other unit of work:
//
//	query, err := operational.NewOperation("db.get_user")
//	…
//	t := query.Start(ctx)
//	err = db.QueryRowContext(ctx, q, id).Scan(&u)
//	t.End(err)
//
// records kpikit.operation.duration (s) with operation.name and, on failure,
// error.type from [ErrorType]. [ErrorCounter] counts failures that have no
// duration on kpikit.errors ({error}).
//
// # What failures cost
//
// The handler gets a copy of the server's request whose context holds the
// request's outcome (one more allocation per request, of 416 bytes; the
// server's request is left as it was, but for the pattern ServeMux found
// and a multipart form the handler parsed, which are copied back). A
// customer recorder called with that context (package customer's
// Funnel.Step, Funnel.Link, Goal.Convert, Activity.Purchase, …) links its
// user to the request. When the request ends as a failure — a 5xx, a
// panic, or slower than the threshold of an [slo.HTTPLatency] SLO that
// selects it, told as error.type [ErrorTypeSlow] — every linked recorder
// is told, with the error.type, and the distinct users are counted on
// [MetricAffectedUsers] per route, error.type and UTC day. A request holds
// 8 links; a link made after it failed is told at once. [WithoutOutcome]
// turns this off. [Operation.StartContext] does the same for an operation
// and passes its links on to the request it runs in. The user id is never
// an attribute.
//
// # SLOs
//
// [WithSLOs] gives a Middleware SLOs of kind [slo.HTTPAvailability] and
// [slo.HTTPLatency], selecting requests by http.route and method, and an
// Operation SLOs of kind [slo.OperationAvailability] and
// [slo.OperationLatency] naming it. Each request or call counts for every
// SLO that selects it: a failure is a 5xx or a panic (a 499, a client that
// went away, is not) or, for an operation, an error other than the
// caller's cancellation. The recorder reports the slo.* metrics of package
// slo (objective, event counts, error ratio and burn rate per window,
// budget left, alert state) and returns the same figures from
// [Middleware.SLOStatus] and [Operation.SLOStatus]. A latency threshold
// that is not one of [DurationBuckets] becomes a boundary of the
// Middleware's duration histogram, so that the rules package slo generates
// read the same SLI from the buckets.
//
// # Configuration
//
// Options are shared by the constructors; each says which recorders it
// applies to. [WithMeterProvider] picks the provider (default: the global
// one at construction). [WithFilter] skips requests such as health checks.
// [WithAttributes] adds a small set of static attributes. [WithoutBodySizes]
// leaves out the two body-size histograms. [WithServerAddress]
// adds server.address to server measurements (the Host header is never
// used). [WithValueLimit] caps the distinct values of http.route,
// server.address and error.type; values past it are recorded as "_OTHER"
// and counted on kpikit.dropped. Options with nonsense values, and options
// passed to a recorder they do not apply to (WithRouteFunc to
// [NewTransport], say), make the constructors return an error wrapping
// [ErrInvalidOption] that names the option.
//
// A nil handler passed to [Middleware.Handler] is [http.DefaultServeMux]
// and a nil base passed to [NewTransport] is [http.DefaultTransport], as in
// net/http. Methods of a nil *Middleware, *Transport, *Operation or
// *ErrorCounter record nothing and do not panic.
//
// # Performance
//
// Attribute sets are built once per combination of bounded values (method,
// scheme, status, route, protocol version, error type) and cached in
// lock-free tables, so the common path builds no attributes and takes no
// lock. Active requests are counted in atomics and observed at collection,
// so a request makes one SDK measurement per histogram and no more. Each
// request checks the histograms' Enabled method first: with no SDK
// installed, or every histogram dropped by a view, no SLO and
// [WithoutOutcome], the middleware only counts the request as active and
// calls the handler directly. Without WithoutOutcome it still hands the
// handler the request's outcome and observes its status, so that customer
// recorders, which may record into another provider, learn of failures.
//
// The ResponseWriter the handler gets has exactly the optional interfaces
// of the one it wraps (Flusher, Hijacker, ReaderFrom, io.StringWriter,
// Pusher, deadlines, full duplex, CloseNotifier) and an Unwrap method for
// [http.ResponseController]. For the writers net/http's HTTP/1 and HTTP/2
// servers and httptest.ResponseRecorder hand to handlers, it is one
// allocation per request, holding the response's status and size (plus
// the handler's copy of the request, see "What failures cost"); any
// other writer (one wrapped by another middleware, say) is wrapped with
// github.com/felixge/httpsnoop, at one allocation for its state, two for
// httpsnoop's, and three per method it has that the middleware observes
// (eleven for a plain ResponseWriter). Nothing is pooled: see Concurrency.
// [Operation.Record], [Timer.End] and [ErrorCounter.Add] do not allocate,
// and neither do SLOs: counting a request for an SLO is one or two atomic
// additions, and a comparison of the minute with the last snapshot's. The benchmarks of this package and of
// the benchmarks module of this repository compare the cost with the raw SDK,
// otelhttp and promhttp.
//
// # Concurrency
//
// Every type is safe for concurrent use by any number of goroutines, and a
// [Timer] is a value that may be ended from another goroutine. As with
// net/http, the ResponseWriter passed to a handler must not be used after
// the handler returns. When it is (a goroutine the handler left behind),
// the middleware contains the bug: each request has its own state, never
// reused, and once the handler returned every call through its writer
// fails with an error (Write, WriteString, ReadFrom, Hijack, Push, the
// deadlines), does nothing (WriteHeader, Flush), or gets a value of its own
// (Header a new map, CloseNotify a channel that has fired), so nothing
// reaches the connection, which may already serve another request. A call
// already under way when the handler returns is waited for before the
// middleware returns. A request body the
// middleware wrapped to count it is put back on the request when the
// handler returns, so that net/http treats an unread body as it would
// without the middleware.
package operational
