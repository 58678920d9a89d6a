// Command decco-sidecar is the TLS sidecar the decco webhook injects into
// tenant pods. It parses its arguments (sidecar.Config.Args, the contract
// with the injector) and hands them to package sidecar/supervisor, which
// runs stunnel.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/sidecar/supervisor"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := sidecar.ParseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "decco-sidecar: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	opts := supervisor.Options{
		Stunnel: os.Getenv("DECCO_STUNNEL"), // empty: stunnel4 from PATH
		Logger:  log,
		Signals: sigs,
	}
	if err := supervisor.Run(context.Background(), cfg, opts); err != nil {
		log.Error("sidecar failed", "error", err)
		return 1
	}
	return 0
}
