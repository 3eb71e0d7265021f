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
	const path = "/etc/mailgate/mailgate.yaml"
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		log.Fatal(err)
	}
	// every configuration error at once, with its YAML path; the loader is
	// what SIGHUP and POST /api/reload read again
	g, err := gateway.New(cfg, gateway.WithConfigLoader(func() (*gateway.Config, error) { return gateway.LoadConfig(path) }))
	if err != nil {
		log.Fatal(err)
	}
	if err := g.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("submission on", g.Addr("submission"), "admin on", g.AdminAddr())

	// On SIGHUP: a bad file keeps the running configuration.
	if err := g.ReloadConfig(); err != nil {
		log.Print(err)
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
