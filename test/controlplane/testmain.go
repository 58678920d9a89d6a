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
// it say so with cluster.Need(t).
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

// Need is the first line of a test that needs the cluster: it returns c,
// or skips t when c is nil because the tests run with -short, which starts
// none. It is a method so that it can be called on the nil package
// variable RunTests fills:
//
//	c := cluster.Need(t).Client
//
// A nil cluster is something the user asked for, not a missing component
// (RunTests fails the package when the control plane can't start), so
// this skips even where package prereq's rule would fail.
func (c *Cluster) Need(t testing.TB) *Cluster {
	t.Helper()
	if c == nil {
		t.Skip("needs the local control plane; run without -short")
	}
	return c
}
