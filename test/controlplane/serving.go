package controlplane

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// kubernetesServiceIP is the ClusterIP the apiserver gives the kubernetes
// Service: the first address of envtest's service range, 10.0.0.0/24.
const kubernetesServiceIP = "10.0.0.1"

// serveOn makes the apiserver serve and advertise on address instead of
// loopback, so that pods on a test node reach it through the kubernetes
// Service as in-cluster clients do. envtest's own certificate is valid
// only for loopback, so the cluster gets one valid for address and for the
// Service's IP and names, written with the service-account keys into a
// certificate directory envtest then uses as it is. It returns that
// directory, which the caller removes.
func serveOn(env *envtest.Environment, address string) (string, error) {
	ip := net.ParseIP(address)
	if ip == nil {
		return "", fmt.Errorf("APIServerAddress %q is not an IP address", address)
	}
	dir, err := os.MkdirTemp("", "decco-apiserver-")
	if err != nil {
		return "", err
	}
	cert, key, err := certutil.GenerateSelfSignedCertKey("kube-apiserver",
		[]net.IP{net.ParseIP("127.0.0.1"), ip, net.ParseIP(kubernetesServiceIP)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return dir, fmt.Errorf("generating the apiserver's serving certificate: %w", err)
	}
	saCert, saKey, err := certutil.GenerateSelfSignedCertKey("service-accounts", nil, nil)
	if err != nil {
		return dir, fmt.Errorf("generating the service-account signing key: %w", err)
	}
	for name, data := range map[string][]byte{
		// The names envtest looks for: with apiserver.crt present it
		// generates none of these itself.
		"apiserver.crt": cert, "apiserver.key": key,
		"sa-signer.crt": saCert, "sa-signer.key": saKey,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return dir, err
		}
	}
	// envtest picks a loopback address unless both are set.
	port, err := freePortOn(address)
	if err != nil {
		return dir, err
	}
	api := env.ControlPlane.GetAPIServer()
	api.CertDir = dir
	api.SecureServing.Address = address
	api.SecureServing.Port = strconv.Itoa(port)
	// The bundle holds the CA that signed the serving certificate; clients
	// (envtest's, the kubeconfig, kube-root-ca.crt in every namespace)
	// trust it.
	api.SecureServing.CA = cert
	return dir, nil
}

func freePortOn(address string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(address, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", address, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
