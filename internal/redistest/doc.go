// Package redistest runs a real redis-server for tests: [Start] launches
// the binary from PATH on a free loopback port with its own temporary data
// directory, waits until it answers PING and stops it when the test ends.
// [Server.Stop], [Server.Kill] and [Server.Restart] simulate outages on the
// same port. Tests that need Redis skip, with a message, when redis-server
// is not installed, or fail when the environment variable [RequireEnv] is
// set, as continuous integration does.
//
// # Usage
//
//	func TestStore(t *testing.T) {
//		srv := redistest.Start(t)
//		client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
//		defer client.Close()
//		...
//		srv.Stop()    // outage: connections are refused
//		srv.Restart() // same port, same data directory
//	}
//
// # Configuration
//
// The server listens on 127.0.0.1 only, with RDB snapshots and the
// append-only file turned off: it keeps nothing on disk and a restart
// starts empty. [WithDurable] switches to an
// append-only file fsynced on every write, so that a crash ([Server.Kill])
// and restart keep every acknowledged write. The server log is written to
// server.log in [Server.Dir] and shown when the server fails to start.
//
// # Performance
//
// Starting a server takes a few milliseconds to tens of milliseconds; each
// test may start its own.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use. One goroutine per running
// process waits for it to exit; it ends with the process, and the process
// ends at test cleanup at the latest.
package redistest
