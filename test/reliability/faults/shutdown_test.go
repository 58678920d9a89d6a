package faults

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/decco-dev/decco/test/corpus"
	"github.com/decco-dev/decco/test/reliability/reltest"
	"github.com/decco-dev/decco/webhook"
)

// drainDelay is the --shutdown-delay of TestGracefulShutdown.
const drainDelay = 2 * time.Second

// SIGTERM to a webhook replica: /readyz fails at once, and for
// --shutdown-delay admission requests are still served, each answer
// closing its connection ("Connection: close", so a client retires the
// connection itself instead of racing the server's close). Then a
// request in flight (its body only half sent) still gets its full answer,
// a keep-alive connection left idle all along is closed by the server,
// and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	cluster.Need(t)
	reltest.EnsureSpace(t, cluster.Client, "acme") // the corpus pod's namespace
	w := startWebhook(t, "--shutdown-delay="+drainDelay.String())
	body := corpus.AdmissionReview(corpus.Pod(4 << 10))

	idle, reused := dialWebhook(t, w), dialWebhook(t, w)
	for _, conn := range []net.Conn{idle, reused} {
		resp := roundTrip(t, conn, body)
		checkAdmitted(t, resp, "a request before SIGTERM")
		assert.False(t, resp.Close, "keep-alive before SIGTERM")
	}
	inflight := dialWebhook(t, w)
	half := len(body) / 2
	writeRequestHead(t, inflight, len(body))
	_, err := inflight.Write(body[:half])
	require.NoError(t, err)

	code, err := w.readyz()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, w.proc.Signal(syscall.SIGTERM))
	term := time.Now()

	reltest.WaitFor(t, 5*time.Second, "/readyz failing after SIGTERM", func() error {
		if code, _ := w.readyz(); code == http.StatusOK {
			return errors.New("still ready")
		}
		return nil
	})
	notReady := time.Since(term)
	for what, conn := range map[string]net.Conn{"a reused connection": reused, "a new connection": dialWebhook(t, w)} {
		resp := roundTrip(t, conn, body)
		checkAdmitted(t, resp, "a request during the drain, on "+what)
		assert.True(t, resp.Close, "during the drain, the answer on %s closes it", what)
	}

	// Past the delay the server shuts down: the connection idle all along
	// is closed by the server ...
	_ = idle.SetReadDeadline(time.Now().Add(drainDelay + 10*time.Second))
	_, err = idle.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the idle connection must be closed by the server")
	idleClosed := time.Since(term)
	assert.GreaterOrEqual(t, idleClosed, drainDelay, "idle connections stay open while draining")

	// ... and the request in flight still completes.
	_, err = inflight.Write(body[half:])
	require.NoError(t, err)
	checkAdmitted(t, readResponse(t, inflight), "the request in flight when the server shut down")
	answered := time.Since(term)

	require.NoError(t, w.proc.Wait(30*time.Second), "decco must exit 0 after a graceful shutdown")
	exited := time.Since(term)
	t.Logf("after SIGTERM: not ready in %s; served with Connection: close while draining; idle connection closed at %s (--shutdown-delay=%s); in-flight request answered at %s; exit 0 at %s",
		notReady.Round(time.Millisecond), idleClosed.Round(time.Millisecond), drainDelay, answered.Round(time.Millisecond), exited.Round(time.Millisecond))
}

// dialWebhook opens an HTTP/1.1 TLS connection to the webhook, verifying
// its certificate.
func dialWebhook(t *testing.T, w *webhookServer) *tls.Conn {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(w.ca.PEM)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", w.addr(),
		&tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func writeRequestHead(t *testing.T, conn net.Conn, length int) {
	t.Helper()
	_, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		webhook.PodPath, length)
	require.NoError(t, err)
}

func roundTrip(t *testing.T, conn net.Conn, body []byte) *http.Response {
	t.Helper()
	writeRequestHead(t, conn, len(body))
	_, err := conn.Write(body)
	require.NoError(t, err)
	return readResponse(t, conn)
}

// readers keeps one buffered reader per connection, so bytes read ahead
// of one response are there for the next.
var readers = map[net.Conn]*bufio.Reader{}

func readResponse(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	r, ok := readers[conn]
	if !ok {
		r = bufio.NewReader(conn)
		readers[conn] = r
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	_ = conn.SetReadDeadline(time.Time{})
	return resp
}

// checkAdmitted asserts resp is a 200 AdmissionReview allowing the pod
// with a patch.
func checkAdmitted(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode, what)
	var review admissionv1.AdmissionReview
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&review), what)
	require.NotNil(t, review.Response, what)
	assert.True(t, review.Response.Allowed, "%s: %+v", what, review.Response.Result)
	assert.NotEmpty(t, review.Response.Patch, what)
}
