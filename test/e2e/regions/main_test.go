// Package regions proves decco's spaces across regions end to end: two
// real control planes (each with its apiserver, controller-manager and
// cert-manager), two decco managers run as real processes, one BIND zone
// taking TSIG-signed updates from both. A customer's spaces foo-east and
// foo-west share a global name and a CA; the zone serves both gateways'
// addresses under the name, each owned by its cluster, an unready
// region's address leaves and comes back, a killed manager leaves the
// zone consistent, and real stunnel accepts one region's client
// certificate in the other region while refusing another customer's.
package regions

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/decco-dev/decco/dns/dnstest"
	"github.com/decco-dev/decco/test/controlplane"
)

// zone is the DNS zone both regions publish in; addresses are written
// into records, never dialed.
const zone = "platform9.test"

var (
	east, west *controlplane.Cluster
	named      *dnstest.Server
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run starts both control planes and, when named is installed, BIND;
// with -short nothing starts and the tests skip.
func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clusters []*controlplane.Cluster
	stop := func() {
		for _, c := range clusters {
			if err := c.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "stopping a control plane: %v\n", err)
			}
		}
		if named != nil {
			_ = named.Stop()
		}
	}
	defer stop()
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-interrupted; ok {
			stop()
			os.Exit(130)
		}
	}()
	defer func() { signal.Stop(interrupted); close(interrupted) }()
	for _, into := range []**controlplane.Cluster{&east, &west} {
		c, err := controlplane.Start(ctx, controlplane.Options{WithCertManager: true})
		if err != nil {
			fmt.Fprintf(os.Stderr, "starting a control plane: %v\n", err)
			return 1
		}
		clusters = append(clusters, c)
		*into = c
	}
	if _, err := dnstest.Binary(); err == nil {
		if named, err = dnstest.Start(dnstest.Options{Zones: []string{zone}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// needAll skips (or, by prereq's rule, fails) without the control planes
// or BIND.
func needAll(t *testing.T) {
	t.Helper()
	east.Need(t) // west starts with it
	dnstest.Require(t)
}
