package spacectl

import (
	"fmt"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/install"
)

// cluster is what talking to the apiserver needs.
type cluster struct {
	cfg *rest.Config
	c   client.Client
}

// connect builds a client from the kubeconfig flags. It knows every kind
// decco's manager does (install.Scheme: built-ins, cert-manager, Gateway
// API); other kinds go through unstructured objects. The RESTMapper is
// discovered lazily and kept in memory only, so a CRD installed a moment
// ago is found.
func (r *root) connect() (*cluster, error) {
	cfg, err := r.kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config): %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: install.Scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the apiserver at %s: %w", cfg.Host, err)
	}
	r.log().V(1).Info("connected", "host", cfg.Host)
	return &cluster{cfg: cfg, c: c}, nil
}

// discovery is a fresh (uncached) discovery client, so checks see CRDs as
// they are now, not as a disk cache remembers them.
func (cl *cluster) discovery() (discovery.DiscoveryInterface, error) {
	d, err := discovery.NewDiscoveryClientForConfig(cl.cfg)
	if err != nil {
		return nil, fmt.Errorf("building a discovery client: %w", err)
	}
	return d, nil
}

// namespace is the -n flag, else the kubeconfig context's namespace, else
// "default", as kubectl resolves it.
func (r *root) namespace() (string, error) {
	ns, _, err := r.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

// explicitNamespace is -n only, without the kubeconfig: for offline
// commands.
func (r *root) explicitNamespace() string {
	if r.kube.Namespace == nil {
		return ""
	}
	return *r.kube.Namespace
}
