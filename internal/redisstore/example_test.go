package redisstore_test

import (
	"fmt"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/sketch"
)

func ExampleMember() {
	fmt.Println(redisstore.Member(sketch.Hash("ann")))
	fmt.Println(redisstore.Member(1))
	// Output:
	// 0b41beba40346ebe
	// 0000000000000001
}
