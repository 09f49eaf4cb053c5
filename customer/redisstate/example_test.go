package redisstate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
)

// Every replica of a service builds its recorders on a store of the same
// Redis server (or cluster) with the same key prefix: they then report
// the same global figures.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	// On Redis Cluster: redis.NewClusterClient(&redis.ClusterOptions{
	//	Addrs: nodes, ContextTimeoutEnabled: true})
	defer client.Close()
	st, err := redisstate.New(client, redisstate.WithKeyPrefix("shop:prod:"))
	if err != nil {
		fmt.Println(err)
		return
	}
	shop, err := customer.NewActivity("shop", customer.WithState(st))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shop.Close()
	checkout, err := customer.NewFunnel("checkout", []string{"cart", "pay"}, customer.WithState(st))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer checkout.Close()

	ctx := context.Background()
	shop.Purchase(ctx, "user-42", time.Now().Add(-24*time.Hour), "EUR", 1999)
	checkout.Step(ctx, "user-42", "cart")
}

// A client that does not honour context deadlines could hold Shutdown
// past its deadline: New refuses it.
func ExampleNew_contextTimeouts() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()
	_, err := redisstate.New(client)
	fmt.Println(err != nil)
	// Output: true
}
