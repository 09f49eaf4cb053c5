package sketch_test

import (
	"fmt"

	"github.com/kpikit/kpikit/internal/sketch"
)

func Example() {
	monday, tuesday := sketch.New(), sketch.New()
	for _, id := range []string{"ann", "bob", "cy"} {
		monday.Insert(sketch.Hash(id))
	}
	for _, id := range []string{"bob", "dee"} {
		tuesday.Insert(sketch.Hash(id))
	}
	week := sketch.Union(monday, tuesday)
	fmt.Println(monday.Estimate(), tuesday.Estimate(), week.Estimate(), week.Exact())
	// Output: 3 2 4 true
}

func ExampleSet_Insert() {
	var s sketch.Set
	fmt.Println(s.Insert(sketch.Hash("ann")))
	fmt.Println(s.Insert(sketch.Hash("ann")))
	// Output:
	// added
	// present
}

func ExampleSet_MarshalBinary() {
	s := sketch.New()
	s.Insert(sketch.Hash("ann"))
	b, _ := s.MarshalBinary()

	var restored sketch.Set
	if err := restored.UnmarshalBinary(b); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b), restored.Estimate())
	// Output: 14 1
}
