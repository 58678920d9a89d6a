// Command coredns is CoreDNS with only the plugins the test node's cluster
// DNS uses: it answers for cluster.local from the apiserver and forwards
// nothing, so no pod's name lookup ever leaves the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

// directives is the order the plugins above run in, as CoreDNS requires
// it to be set before the server starts.
var directives = []string{"bind", "ready", "errors", "cache", "kubernetes", "template"}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
