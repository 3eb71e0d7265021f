package gateway_test

import (
	"context"
	"fmt"
	"log"

	"github.com/postkit/mailer/gateway"
)

// A gateway from a configuration file: check it, start it, reload it on
// SIGHUP, drain it on SIGTERM (as cmd/mailgate does).
func Example() {
	cfg, err := gateway.LoadConfig("/etc/mailgate/mailgate.yaml")
	if err != nil {
		log.Fatal(err)
	}
	g, err := gateway.New(cfg) // every configuration error at once, with its YAML path
	if err != nil {
		log.Fatal(err)
	}
	if err := g.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("submission on", g.Addr("submission"))

	// On SIGHUP: a bad file keeps the running configuration.
	if next, err := gateway.LoadConfig("/etc/mailgate/mailgate.yaml"); err == nil {
		if err := g.Reload(next); err != nil {
			log.Print(err)
		}
	}
	// On SIGTERM: drain within the configured drain_timeout.
	g.Shutdown(context.Background())
}

// A credential for a new application: the token goes to the application
// (its AUTH password), the hash into the configuration.
func ExampleNewToken() {
	token, hash := gateway.NewToken()
	fmt.Println(len(token) > 40, hash == gateway.TokenHash(token))
	// Output: true true
}
