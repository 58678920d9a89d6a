package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/corpus"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// withDecco starts a control plane and decco's manager (webhook only) for
// the sections that need them.
func withDecco(ctx context.Context, kcm bool, run func(*controlplane.Cluster, *deccotest.Manager) error) error {
	cluster, err := controlplane.Start(ctx, controlplane.Options{Out: os.Stderr, WithoutControllerManager: !kcm})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	mgr, err := deccotest.StartManager(ctx, cluster.Config, cluster.Client, nil)
	if err != nil {
		return err
	}
	defer mgr.Stop()
	return run(cluster, mgr)
}

func createNamespace(ctx context.Context, cluster *controlplane.Cluster, name string, isSpace bool) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if isSpace {
		ns.Labels = map[string]string{space.LabelSpace: name}
		ns.Annotations = map[string]string{space.AnnotationDomain: "example.com"}
	}
	return cluster.Client.Create(ctx, ns)
}

// httpsSection drives the webhook server over HTTPS at a fixed rate, open
// loop (requests leave on schedule whether or not earlier ones returned),
// the way the apiserver's admission calls arrive. It climbs to rate in
// steps, each twice the last, and stops at the first step the machine
// can't sustain (an error, or more requests in flight than maxInFlight),
// so a loaded machine reports the rate it did sustain and why it stopped,
// rather than collapsing under thousands of queued requests.
func httpsSection(w io.Writer, rate int, d time.Duration) error {
	ctx := context.Background()
	return withDecco(ctx, false, func(cluster *controlplane.Cluster, mgr *deccotest.Manager) error {
		if err := createNamespace(ctx, cluster, "acme", true); err != nil {
			return err
		}
		pod := corpus.Pod(10 << 10)
		body := corpus.AdmissionReview(pod)
		client, err := tlsClient(mgr.CABundle)
		if err != nil {
			return err
		}
		url := mgr.URL + webhook.PodPath
		// Warm up connections and caches.
		for range 200 {
			if _, err := post(client, url, body); err != nil {
				return err
			}
		}
		steps := rateSteps(rate)
		step := max(5*time.Second, d/time.Duration(len(steps)))
		fmt.Fprintf(w, "## Admission over HTTPS, one replica, open loop up to %d requests/s (10 KB Pod, %s a step)\n\n", rate, step)
		fmt.Fprintln(w, "| requests/s | measured at | requests | errors | over the in-flight cap | p50 ms | p99 ms |")
		fmt.Fprintln(w, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
		sustained := 0
		var stopped string
		for _, r := range steps {
			before := serverHistogram()
			res := openLoop(r, step, maxInFlight, func() (time.Duration, error) { return post(client, url, body) })
			after := serverHistogram()
			fmt.Fprintf(w, "| %d | client (TLS, keep-alive) | %d | %d | %d | %.2f | %.2f |\n", r, len(res.lat), res.errs, res.dropped, ms(res.lat.p50()), ms(res.lat.p99()))
			p50, p99 := after.sub(before).quantiles()
			fmt.Fprintf(w, "| %d | server (decco_admission_duration_seconds) | %d | | | ≤ %s | ≤ %s |\n", r, after.count-before.count, p50, p99)
			if why := res.unsustained(); why != "" {
				stopped = fmt.Sprintf("at %d requests/s %s (load average %s)", r, why, loadAverage())
				break
			}
			sustained = r
		}
		fmt.Fprintln(w)
		if sustained < rate {
			fmt.Fprintf(w, "**Not measured at %d requests/s:** %s; the highest rate sustained was %d requests/s.\n\n", rate, stopped, sustained)
		}
		fmt.Fprintln(w, "Target: p99 ≤ 5 ms at both, at 500 requests/s. Server-side percentiles are histogram bucket bounds.")
		fmt.Fprintln(w)
		return nil
	})
}

// maxInFlight caps the open loop's outstanding requests: past it the
// machine is not keeping up, and more goroutines only slow it further.
const maxInFlight = 256

// rateSteps climbs to rate from 50 requests/s, doubling.
func rateSteps(rate int) []int {
	var out []int
	for r := 50; r < rate; r *= 2 {
		out = append(out, r)
	}
	return append(out, rate)
}

// loadAverage is the machine's one-minute load average, for the report.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func tlsClient(ca []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in the webhook's CA bundle")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
	}}, nil
}

func post(c *http.Client, url string, body []byte) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// loopResult is what one open-loop run measured.
type loopResult struct {
	lat  latencies
	errs int
	// dropped are the calls not made because maxInFlight were
	// outstanding at their time.
	dropped int
}

// unsustained says why the rate was not sustained, or "" if it was.
func (r loopResult) unsustained() string {
	switch {
	case r.errs > 0:
		return fmt.Sprintf("%d requests failed", r.errs)
	case r.dropped > 0:
		return fmt.Sprintf("%d requests found %d others still in flight and were not sent", r.dropped, maxInFlight)
	}
	return ""
}

// openLoop calls f rate times a second for d, each call on its own
// goroutine at its scheduled time, and collects latencies. A call due
// while limit calls are outstanding is counted as dropped, not made.
func openLoop(rate int, d time.Duration, limit int, f func() (time.Duration, error)) loopResult {
	var (
		mu       sync.Mutex
		res      loopResult
		wg       sync.WaitGroup
		inFlight atomic.Int64
	)
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		if inFlight.Load() >= int64(limit) {
			res.dropped++
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			l, err := f()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.errs++
				return
			}
			res.lat = append(res.lat, l)
		}()
	}
	wg.Wait()
	return res
}

// histogram is a snapshot of the pod handler's duration histogram.
type histogram struct {
	count   uint64
	bounds  []float64
	buckets []uint64 // cumulative
}

func serverHistogram() histogram {
	families, _ := crmetrics.Registry.Gather()
	for _, f := range families {
		if f.GetName() != "decco_admission_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelOf(m, "handler") == "Pod" {
				h := histogram{count: m.GetHistogram().GetSampleCount()}
				for _, b := range m.GetHistogram().GetBucket() {
					h.bounds = append(h.bounds, b.GetUpperBound())
					h.buckets = append(h.buckets, b.GetCumulativeCount())
				}
				return h
			}
		}
	}
	return histogram{}
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func (h histogram) sub(o histogram) histogram {
	out := histogram{count: h.count - o.count, bounds: h.bounds}
	for i := range h.buckets {
		var prev uint64
		if i < len(o.buckets) {
			prev = o.buckets[i]
		}
		out.buckets = append(out.buckets, h.buckets[i]-prev)
	}
	return out
}

// quantiles returns the bucket bounds holding the 50th and 99th percentile.
func (h histogram) quantiles() (string, string) {
	at := func(q float64) string {
		want := uint64(q * float64(h.count))
		for i, c := range h.buckets {
			if c >= want {
				return fmt.Sprintf("%.2g", h.bounds[i]*1000)
			}
		}
		return "inf"
	}
	return at(0.50), at(0.99)
}
