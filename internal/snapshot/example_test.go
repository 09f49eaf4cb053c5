package snapshot_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kpikit/kpikit/internal/snapshot"
)

func Example() {
	dir, _ := os.MkdirTemp("", "snapshot-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "customer.state")

	fmt.Printf("%q\n", snapshot.Load(path, 1)) // no file yet: empty state
	if err := snapshot.Write(path, 1, []byte("sketches and totals")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", snapshot.Load(path, 1))
	_, err := snapshot.Read(path, 2)
	fmt.Println(err != nil)
	// Output:
	// ""
	// "sketches and totals"
	// true
}
