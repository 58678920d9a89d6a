package supervisor

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/decco-dev/decco/sidecar"
)

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
	scheme, port, path, ok := sidecar.ParseAppHealthPath(r.URL.Path)
	if !ok {
		http.Error(w, "want "+sidecar.AppHealthPrefix+"{http,https}/<port>/<path> or "+sidecar.AppHealthPrefix+"tcp/<port>", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), appHealthTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	if scheme == sidecar.ProbeTCP {
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
