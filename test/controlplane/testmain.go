package controlplane

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// Runner is what RunTests runs: a *testing.M, or a wrapper that starts
// more once the cluster is up.
type Runner interface{ Run() int }

// RunTests is a TestMain body for packages whose tests need a cluster: it
// starts one, points *into at it, runs the tests and always stops it, on
// Ctrl-C too. Use it as
//
//	var cluster *controlplane.Cluster
//	func TestMain(m *testing.M) { os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{})) }
//
// With -short, no cluster is started and *into stays nil: tests that need
// it must skip.
func RunTests(m Runner, into **Cluster, opts Options) int {
	flag.Parse() // so testing.Short works before m.Run
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the local control plane: %v\n", err)
		return 1
	}
	*into = c
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-interrupted; ok {
			c.Stop()
			os.Exit(130)
		}
	}()
	code := m.Run()
	signal.Stop(interrupted)
	close(interrupted)
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the local control plane: %v\n", err)
	}
	return code
}
