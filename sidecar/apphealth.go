package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AppHealthPrefix starts the health port's paths that check the app for
// the kubelet. With cni interception every connection to the pod's ports
// is redirected to a TLS listener, including the kubelet's probes, which
// speak plaintext; so the injector points the app's HTTP and TCP probes
// here instead, and the sidecar repeats them against the app on loopback,
// as Istio's probe rewrite does. Exempting the node's address instead
// would also exempt whatever kube-proxy masquerades as the node.
const AppHealthPrefix = "/app-health/"

// Probe schemes in an app-health path.
const (
	ProbeHTTP  = "http"
	ProbeHTTPS = "https"
	ProbeTCP   = "tcp"
)

// AppHealthPath is the path that checks the app's port with scheme (for
// HTTP, GETting path there): /app-health/<scheme>/<port><path>.
func AppHealthPath(scheme string, port int32, path string) string {
	if scheme == ProbeTCP {
		path = ""
	} else if !strings.HasPrefix(path, "/") {
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
	case (scheme == ProbeHTTP || scheme == ProbeHTTPS) && path != "":
		return scheme, n, path, true
	}
	return "", 0, "", false
}

// appHealthTimeout caps one check; the kubelet's own timeout (1s by
// default) usually ends the request first.
const appHealthTimeout = 10 * time.Second

// appHealthClient checks the app as the kubelet would: no certificate
// check for HTTPS (the kubelet does none), no redirects followed (a 3xx
// is a success to the kubelet either way), no keep-alive.
var appHealthClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet's probes
		DisableKeepAlives: true,
		Proxy:             nil,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// appHealthHandler answers an app-health path with the app's status: the
// app's own for HTTP, 200 when a TCP connection opens, 503 otherwise.
func appHealthHandler(w http.ResponseWriter, r *http.Request) {
	scheme, port, path, ok := ParseAppHealthPath(r.URL.Path)
	if !ok {
		http.Error(w, "want "+AppHealthPrefix+"{http,https}/<port>/<path> or "+AppHealthPrefix+"tcp/<port>", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), appHealthTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	if scheme == ProbeTCP {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		conn.Close()
		fmt.Fprintln(w, "ok")
		return
	}
	u := scheme + "://" + addr + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if h := r.Header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := appHealthClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
}
