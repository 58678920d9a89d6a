// Command decco-sidecar is the TLS sidecar the decco webhook injects into
// tenant pods. It turns its arguments (sidecar.Config.Args) into a stunnel
// configuration and supervises stunnel; see package sidecar.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/decco-dev/decco/sidecar"
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
	opts := sidecar.Options{
		Stunnel: os.Getenv("DECCO_STUNNEL"), // empty: stunnel4 from PATH
		Logger:  log,
		Signals: sigs,
	}
	if err := sidecar.Run(context.Background(), cfg, opts); err != nil {
		log.Error("sidecar failed", "error", err)
		return 1
	}
	return 0
}
