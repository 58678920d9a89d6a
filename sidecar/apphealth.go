package sidecar

import (
	"strconv"
	"strings"
)

// AppHealthPrefix starts the health port's paths that check the app for
// the kubelet. With cni interception every connection to the pod's ports
// is redirected to a TLS listener, including the kubelet's probes, which
// speak plaintext; so the injector points the app's HTTP and TCP probes
// here instead, and the sidecar repeats them against the app on loopback,
// as Istio's probe rewrite does. gRPC probes come the same way: the
// sidecar makes the gRPC health check (grpc.health.v1.Health/Check) the
// kubelet would have made. Exempting the node's address instead
// would also exempt whatever kube-proxy masquerades as the node.
const AppHealthPrefix = "/app-health/"

// Probe schemes in an app-health path.
const (
	ProbeHTTP  = "http"
	ProbeHTTPS = "https"
	ProbeTCP   = "tcp"
	ProbeGRPC  = "grpc"
)

// AppHealthPath is the path that checks the app's port with scheme (for
// HTTP, GETting path there; for gRPC, asking about the service named by
// path, "" for the server as a whole): /app-health/<scheme>/<port><path>.
func AppHealthPath(scheme string, port int32, path string) string {
	switch {
	case scheme == ProbeTCP, scheme == ProbeGRPC && strings.TrimPrefix(path, "/") == "":
		path = ""
	case !strings.HasPrefix(path, "/"):
		path = "/" + path
	}
	return AppHealthPrefix + scheme + "/" + strconv.Itoa(int(port)) + path
}

// ParseAppHealthPath reverses AppHealthPath.
func ParseAppHealthPath(p string) (scheme string, port int32, path string, ok bool) {
	rest, ok := strings.CutPrefix(p, AppHealthPrefix)
	if !ok {
		return "", 0, "", false
	}
	scheme, rest, _ = strings.Cut(rest, "/")
	num, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		num, path = rest[:i], rest[i:]
	}
	n, err := checkPort("port", num)
	if err != nil {
		return "", 0, "", false
	}
	switch {
	case scheme == ProbeTCP && path == "":
		return scheme, n, "", true
	case scheme == ProbeGRPC && path != "/":
		return scheme, n, path, true
	case (scheme == ProbeHTTP || scheme == ProbeHTTPS) && path != "":
		return scheme, n, path, true
	}
	return "", 0, "", false
}
