package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/corpus"
	"github.com/decco-dev/decco/test/deccotest"
)

// spaceNamespace is the space of the apiserver benchmark.
const spaceNamespace = "acme"

// createNamespaces are the apiserver benchmark's namespaces, each with
// the row name it is reported under.
var createNamespaces = []struct{ ns, name string }{
	{spaceNamespace, "space: decco's webhook injects"},
	{samePatchNamespace, "bench webhook answering decco's patch from memory (same patch)"},
	{touchNamespace, "bench webhook adding one annotation"},
	{noopNamespace, "bench webhook admitting unchanged (no-op floor)"},
	{"plain", "plain: no webhook"},
}

// apiserverSection creates pods through the real apiserver, one at a time
// and in turn in each of createNamespaces: a space (the apiserver calls
// decco's webhook, which injects), three namespaces where it calls the
// bench webhook on the same server instead (no-op, one annotation,
// decco's own patch served from memory), and a plain one (no webhook
// call). It reports what each webhook adds and decco's added latency as a
// multiple of each bench webhook's.
func apiserverSection(w io.Writer, pods int, window time.Duration) error {
	ctx := context.Background()
	return withDecco(ctx, false, func(cluster *controlplane.Cluster, mgr *deccotest.Manager) error {
		if err := createNamespace(ctx, cluster, spaceNamespace, true); err != nil {
			return err
		}
		if err := createNamespace(ctx, cluster, "plain", false); err != nil {
			return err
		}
		template := corpus.Pod(10 << 10)
		bench, err := startBenchWebhook(ctx, cluster, mgr, template)
		if err != nil {
			return err
		}
		lat := map[string]latencies{}
		size := map[string]int{}
		var plainPod []byte
		for i := range pods {
			for _, n := range createNamespaces {
				pod := podFor(template, n.ns, i)
				start := time.Now()
				if err := cluster.Client.Create(ctx, pod); err != nil {
					return fmt.Errorf("creating pod %d in %s: %w", i, n.ns, err)
				}
				lat[n.ns] = append(lat[n.ns], time.Since(start))
				if (n.ns == spaceNamespace || n.ns == samePatchNamespace) && !deccotest.Injected(pod) {
					return fmt.Errorf("pod %d in %s was not injected", i, n.ns)
				}
				if i == 0 {
					b, _ := json.Marshal(pod)
					size[n.ns] = len(b)
					if n.ns == "plain" {
						plainPod = b
					}
				}
			}
		}
		off := lat["plain"]
		fmt.Fprintf(w, "## Pod creation through the real apiserver, %d pods each: decco's webhook against the bench webhook (interleaved)\n\n", pods)
		fmt.Fprintln(w, "| namespace | stored Pod KB | p50 ms | p99 ms | added p50 ms | added p99 ms |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
		for _, n := range createNamespaces {
			l := lat[n.ns]
			fmt.Fprintf(w, "| %s | %.1f | %.2f | %.2f | %.2f | %.2f |\n", n.name, float64(size[n.ns])/1024, ms(l.p50()), ms(l.p99()),
				ms(l.p50()-off.p50()), ms(l.p99()-off.p99()))
		}
		added := func(ns string, q func(latencies) time.Duration) time.Duration { return q(lat[ns]) - q(off) }
		ratio := func(to string, q func(latencies) time.Duration) string {
			a, b := added(spaceNamespace, q), added(to, q)
			if b <= 0 {
				// A floor whose added latency is not above zero is
				// inside the run's noise (p99 on a loaded machine).
				return "n/a (floor within noise)"
			}
			return fmt.Sprintf("%.2f×", float64(a)/float64(b))
		}
		fmt.Fprintln(w, "\ndecco's added latency ÷ each bench webhook's:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| ÷ | p50 | p99 |")
		fmt.Fprintln(w, "| --- | ---: | ---: |")
		for _, to := range []string{noopNamespace, touchNamespace, samePatchNamespace} {
			fmt.Fprintf(w, "| %s | %s | %s |\n", to, ratio(to, latencies.p50), ratio(to, latencies.p99))
		}
		fmt.Fprintln(w, "\nTargets: decco's added p50 and p99 ≤ 1.5× the no-op webhook's; p99 adds ≤ 10 ms.")
		fmt.Fprintln(w)
		if err := createCost(ctx, w, cluster, template, window); err != nil {
			return err
		}
		return patchCost(w, plainPod, bench.patch())
	})
}

// createCost creates pods back to back for window in each namespace, one
// namespace at a time, and reports what each create costs: the CPU of the
// apiserver and of this process (decco's manager and the client), the
// webhook calls the apiserver makes and the space reconciles it causes.
// With -profile it saves the apiserver's CPU profile of each window.
func createCost(ctx context.Context, w io.Writer, cluster *controlplane.Cluster, template *corev1.Pod, window time.Duration) error {
	apiserver := findProcess("kube-apiserver", cluster.Config.Host[strings.LastIndexByte(cluster.Config.Host, ':'):])
	fmt.Fprintf(w, "Where it goes: pods created back to back for %s per namespace, one namespace at a time (per create).\n\n", window)
	fmt.Fprintln(w, "| namespace | creates | ms per create | kube-apiserver CPU ms | manager + client CPU ms | webhook calls | space reconciles |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, n := range createNamespaces {
		profile := make(chan error, 1)
		if profileDir != "" {
			go func() { profile <- saveAPIServerProfile(ctx, cluster, window, "apiserver-"+n.ns+"-cpu.pprof") }()
		} else {
			profile <- nil
		}
		api0, self0 := procCPU(apiserver), procCPU(os.Getpid())
		rec0 := inProcessCounter("controller_runtime_reconcile_total", "controller", "space")
		calls0, err := webhookCalls(ctx, cluster)
		if err != nil {
			return err
		}
		start := time.Now()
		creates := 0
		for time.Since(start) < window {
			if err := cluster.Client.Create(ctx, podFor(template, n.ns, 100000+creates)); err != nil {
				return fmt.Errorf("creating pod %d in %s: %w", creates, n.ns, err)
			}
			creates++
		}
		elapsed := time.Since(start)
		api, self := procCPU(apiserver)-api0, procCPU(os.Getpid())-self0
		recs := inProcessCounter("controller_runtime_reconcile_total", "controller", "space") - rec0
		calls, err := webhookCalls(ctx, cluster)
		if err != nil {
			return err
		}
		if err := <-profile; err != nil {
			return err
		}
		per := func(v float64) float64 { return v / float64(creates) }
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", n.ns, creates, per(ms(elapsed)), per(ms(api)), per(ms(self)),
			per(calls-calls0), per(recs))
	}
	fmt.Fprintln(w)
	return nil
}

// saveAPIServerProfile records the apiserver's CPU for d into profileDir.
func saveAPIServerProfile(ctx context.Context, cluster *controlplane.Cluster, d time.Duration, file string) error {
	profile, err := cluster.CPUProfile(ctx, d)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(profileDir, file), profile, 0o644)
}

// webhookCalls is how many admission webhook calls the apiserver has
// made, from its own metrics.
func webhookCalls(ctx context.Context, cluster *controlplane.Cluster) (float64, error) {
	body, err := cluster.Get(ctx, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	var n float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_count{") {
			fields := strings.Fields(line)
			v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
			n += v
		}
	}
	return n, sc.Err()
}

// podFor is template named for index i in namespace ns. Pods outside the
// space and the same-patch namespace lose the space label: they are no
// space's pods.
func podFor(template *corev1.Pod, ns string, i int) *corev1.Pod {
	pod := template.DeepCopy()
	pod.Namespace = ns
	pod.GenerateName = ""
	pod.Name = fmt.Sprintf("shop-%05d", i)
	pod.OwnerReferences = nil
	if ns != spaceNamespace && ns != samePatchNamespace {
		delete(pod.Labels, space.LabelSpace)
	}
	return pod
}
