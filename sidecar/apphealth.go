package sidecar

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
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
		http.Error(w, "want "+AppHealthPrefix+"{http,https}/<port>/<path>, "+AppHealthPrefix+"tcp/<port> or "+AppHealthPrefix+"grpc/<port>[/<service>]", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), appHealthTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	if scheme == ProbeGRPC {
		checkGRPC(ctx, w, addr, strings.TrimPrefix(path, "/"))
		return
	}
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

// checkGRPC makes the kubelet's gRPC probe against addr: the standard
// health check (grpc.health.v1.Health/Check) for service, in plaintext
// HTTP/2 as the kubelet's probe, answering 200 only for SERVING.
//
// It speaks the gRPC wire format with net/http rather than link grpc-go:
// one unary call with a one-field message in each direction, against
// 5.7 MB (78%) more sidecar binary, in every pod, for grpc-go. The test
// checks it against grpc-go's own health server.
func checkGRPC(ctx context.Context, w http.ResponseWriter, addr, service string) {
	status, err := grpcHealthCheck(ctx, addr, service)
	switch {
	case err != nil:
		http.Error(w, "gRPC health check: "+err.Error(), http.StatusServiceUnavailable)
	case status != grpcServing:
		http.Error(w, fmt.Sprintf("gRPC health check: status %d (%s), want SERVING", status, grpcStatusName(status)), http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "SERVING")
	}
}

// grpc.health.v1.HealthCheckResponse.ServingStatus values.
const (
	grpcUnknown        = 0
	grpcServing        = 1
	grpcNotServing     = 2
	grpcServiceUnknown = 3
)

func grpcStatusName(s uint64) string {
	switch s {
	case grpcUnknown:
		return "UNKNOWN"
	case grpcServing:
		return "SERVING"
	case grpcNotServing:
		return "NOT_SERVING"
	case grpcServiceUnknown:
		return "SERVICE_UNKNOWN"
	}
	return "unexpected"
}

// grpcClient speaks HTTP/2 without TLS (h2c with prior knowledge), as
// gRPC's plaintext transport does.
var grpcClient = func() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p, Proxy: nil, DisableKeepAlives: true}}
}()

// grpcHealthCheck calls Health/Check on addr and returns the serving
// status. A call the server fails (grpc-status not 0, such as NOT_FOUND
// for an unknown service) is an error naming the status and message.
func grpcHealthCheck(ctx context.Context, addr, service string) (uint64, error) {
	msg := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), service)
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))) // uncompressed, length-prefixed
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader(append(body, msg...)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := grpcClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, err
	}
	code := resp.Trailer.Get("Grpc-Status")
	if code == "" { // a trailers-only response carries it in the headers
		code = resp.Header.Get("Grpc-Status")
	}
	if resp.StatusCode != http.StatusOK || code != "0" {
		return 0, fmt.Errorf("HTTP %d, grpc-status %q: %s", resp.StatusCode, code, resp.Trailer.Get("Grpc-Message")+resp.Header.Get("Grpc-Message"))
	}
	if len(data) < 5 || data[0] != 0 || int(binary.BigEndian.Uint32(data[1:5])) != len(data)-5 {
		return 0, errors.New("malformed gRPC response message")
	}
	return servingStatus(data[5:])
}

// servingStatus reads field 1 (status) of a HealthCheckResponse; absent
// means UNKNOWN, as in proto3.
func servingStatus(b []byte) (uint64, error) {
	status := uint64(grpcUnknown)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, protowire.ParseError(m)
			}
			status, b = v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, protowire.ParseError(m)
		}
		b = b[m:]
	}
	return status, nil
}
