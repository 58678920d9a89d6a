// Package install names what the manager and spacectl both know about a
// decco installation: the kinds it reads and writes (Scheme), its default
// namespace and its leader-election Lease. It holds no behaviour and
// imports no controller, so the CLI links none of the reconciler or its
// DNS providers (see TestSpacectlDeps in cmd/spacectl).
package install

import (
	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
)

// Scheme holds every kind decco reads or writes: Kubernetes' built-ins,
// cert-manager's, Gateway API's and external-dns's DNSEndpoint.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(certmanagerv1.AddToScheme(Scheme))
	utilruntime.Must(gatewayv1.Install(Scheme))
	utilruntime.Must(endpoint.AddToScheme(Scheme))
}

// SystemNamespace is decco's own namespace unless --system-namespace
// says otherwise (the chart installs there).
const SystemNamespace = "decco-system"

// LeaderElectionID names the reconciler's leader-election Lease.
const LeaderElectionID = "decco-reconciler"
