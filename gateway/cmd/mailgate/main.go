// Command mailgate is the intranet mail gateway: one SMTP submission
// endpoint for internal applications, with tenants, sender rules, limits,
// routing to provider accounts and a hash-chained audit log.
//
//	mailgate -config /etc/mailgate/mailgate.yaml    run
//	mailgate -dev                                   try it: loopback, capture, one tenant
//	mailgate check -config FILE                     validate, print the tenant table
//	mailgate token new NAME                         a new token and its hash (tenant or admin principal)
//	mailgate audit verify FILE...                   check an audit log's hash chain (rotated files oldest first)
//
// mailgate audit verify exits 0 when the files are one intact chain, 1
// when it is broken, and 3 when a single file is given whose chain is
// intact but whose first line continues an earlier file (after a
// rotation, or after the file was emptied): that file alone cannot
// prove its start, and the output names the hash the earlier file must
// end with.
//
// Signals: SIGHUP reloads the configuration (a bad file keeps the old one;
// POST /api/reload on the admin listener does the same), SIGTERM and
// SIGINT drain and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/postkit/mailer/gateway"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// An idle gateway's heap is mostly the garbage of TLS handshakes;
		// collecting at +50% instead of +100% keeps 1,000 idle sessions
		// under 50 MiB for a little CPU. GOGC in the environment wins.
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return check(args[1:], stdout, stderr)
		case "token":
			return token(args[1:], stdout, stderr)
		case "audit":
			return audit(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("mailgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	dev := fs.Bool("dev", false, "start on loopback with a generated certificate, one tenant and an in-process capture server")
	checkOnly := fs.Bool("check", false, "validate the configuration, print the tenant table and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *checkOnly {
		return check([]string{"-config", *cfgPath}, stdout, stderr)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var (
		cfg     *gateway.Config
		cleanup func()
		err     error
	)
	switch {
	case *dev:
		cfg, cleanup, err = devConfig(stdout)
	case *cfgPath != "":
		cfg, err = gateway.LoadConfig(*cfgPath)
	default:
		fmt.Fprintln(stderr, "mailgate: give -config FILE or -dev")
		fs.Usage()
		return 2
	}
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	opts := []gateway.Option{gateway.WithLogger(log)}
	if !*dev {
		// SIGHUP and POST /api/reload both reload through this loader.
		path := *cfgPath
		opts = append(opts, gateway.WithConfigLoader(func() (*gateway.Config, error) { return gateway.LoadConfig(path) }))
	}
	g, err := gateway.New(cfg, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	// Signals first, so a SIGTERM right after start drains too.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	if err := g.Start(); err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		g.Shutdown(context.Background())
		return 1
	}
	for _, l := range cfg.Server.Listeners {
		log.Info("listening", "listener", l.Name, "addr", g.Addr(l.Name), "tls", l.TLS)
	}
	if h := g.AdminAddr(); h != "" {
		scheme := "http"
		if cfg.Admin.TLS.CertFile != "" {
			scheme = "https"
		}
		log.Info("admin", "addr", h, "readyz", scheme+"://"+h+"/readyz")
	}
	if *dev {
		printDev(stdout, g, cfg)
	}
	for s := range sig {
		if s == syscall.SIGHUP {
			if *dev {
				log.Warn("reload: nothing to reload in -dev mode")
				continue
			}
			g.ReloadConfig() // logs "configuration reloaded" or why not
			continue
		}
		log.Info("draining", "signal", s.String())
		if err := g.Shutdown(context.Background()); err != nil {
			log.Error("drain timeout: connections closed", "err", err)
		}
		log.Info("stopped")
		return 0
	}
	return 0
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailgate check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "mailgate check: -config FILE is needed")
		return 2
	}
	cfg, err := gateway.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	table, err := gateway.Compile(cfg)
	if err != nil {
		var ce *gateway.ConfigError
		if errors.As(err, &ce) {
			for _, e := range ce.Errors {
				fmt.Fprintf(stderr, "%s: %s: %s\n", *cfgPath, e.Path, e.Reason)
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	table.WriteTo(stdout)
	return 0
}

func token(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "new" {
		fmt.Fprintln(stderr, "usage: mailgate token new NAME (a tenant or an admin principal)")
		return 2
	}
	tok, hash := gateway.NewToken()
	fmt.Fprintf(stdout, "token:        %s\n", tok)
	fmt.Fprintf(stdout, "token_sha256: %s\n\n", hash)
	fmt.Fprintf(stdout, "Give the token to the application (it is its AUTH password) and keep only the hash:\n")
	fmt.Fprintf(stdout, "tenants:\n  %s:\n    credentials:\n      - {username: %s-app, token_sha256: %q}\n", args[1], args[1], hash)
	fmt.Fprintf(stdout, "\nor, for a caller of the admin API (role admin or auditor), sent as \"Authorization: Bearer TOKEN\":\n")
	fmt.Fprintf(stdout, "admin:\n  principals:\n    - {name: %s, role: auditor, token_sha256: %q}\n", args[1], hash)
	return 0
}

// exitAuditContinues is the exit code of mailgate audit verify for one
// file whose chain is intact but whose first line continues an earlier
// file's chain: the file alone cannot prove that nothing was lost before
// it. 1 is a broken chain, 2 a usage error.
const exitAuditContinues = 3

// audit is mailgate audit verify FILE...: it exits 0 when the files,
// oldest first, are one intact chain, 1 when it is broken, and
// exitAuditContinues for a single file that continues another.
func audit(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: mailgate audit verify FILE... (rotated files oldest first: audit.jsonl.2 audit.jsonl.1 audit.jsonl)")
		return 2
	}
	files := args[1:]
	sums, err := gateway.VerifyAuditFiles(files...)
	if len(files) == 1 && err == nil && sums[0].Continues != "" {
		// A lone file that continues another: its lines are intact, but
		// nothing here shows what came before its first line (a rotated
		// file, or history erased by emptying the file).
		fmt.Fprintf(stdout, "%s: %d lines, chain intact from line 1, which continues an earlier file whose last hash must be %s (%s)\n",
			files[0], sums[0].Lines, sums[0].Continues, sums[0].Reason)
		fmt.Fprintf(stderr, "%s: a file that continues another cannot prove its start; verify it with the file before it: mailgate audit verify OLDER %s\n",
			files[0], files[0])
		return exitAuditContinues
	}
	for i, sum := range sums {
		note := ""
		if sum.Continues != "" {
			note = fmt.Sprintf(" (its first line continues %s: %s)", sum.Continues, sum.Reason)
		}
		fmt.Fprintf(stdout, "%s: %d lines, chain intact%s\n", files[i], sum.Lines, note)
	}
	if err != nil {
		var ae *gateway.AuditError
		if errors.As(err, &ae) {
			fmt.Fprintf(stderr, "%s: chain broken: line %d: %s\n", ae.File, ae.Line, ae.Reason)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	if len(files) > 1 {
		fmt.Fprintf(stdout, "%d files, one chain\n", len(files))
	}
	return 0
}
