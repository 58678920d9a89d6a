package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/corpus"
	"github.com/decco-dev/decco/test/deccotest"
)

// apiserverSection creates pods through the real apiserver, one at a time
// and in turn in three namespaces: a space (the apiserver calls decco's
// webhook, which injects), one where it calls a no-op webhook on the same
// server (the floor any mutating webhook costs), and a plain one (no
// webhook call). It reports what each webhook adds and decco's added
// latency as a multiple of the no-op webhook's.
func apiserverSection(w io.Writer, pods int) error {
	ctx := context.Background()
	return withDecco(ctx, false, func(cluster *controlplane.Cluster, mgr *deccotest.Manager) error {
		if err := createNamespace(ctx, cluster, "acme", true); err != nil {
			return err
		}
		if err := createNamespace(ctx, cluster, "plain", false); err != nil {
			return err
		}
		if err := startNoop(ctx, cluster, mgr); err != nil {
			return err
		}
		template := corpus.Pod(10 << 10)
		namespaces := []string{"acme", noopNamespace, touchNamespace, "plain"}
		lat := map[string]latencies{}
		size := map[string]int{}
		for i := range pods {
			for _, ns := range namespaces {
				pod := podFor(template, ns, i)
				start := time.Now()
				if err := cluster.Client.Create(ctx, pod); err != nil {
					return fmt.Errorf("creating pod %d in %s: %w", i, ns, err)
				}
				lat[ns] = append(lat[ns], time.Since(start))
				if ns == "acme" && !deccotest.Injected(pod) {
					return fmt.Errorf("pod %d in the space was not injected", i)
				}
				if i == 0 {
					b, _ := json.Marshal(pod)
					size[ns] = len(b)
				}
			}
		}
		on, noop, off := lat["acme"], lat[noopNamespace], lat["plain"]
		fmt.Fprintf(w, "## Pod creation through the real apiserver, %d pods each: decco's webhook vs a no-op webhook vs none (interleaved)\n\n", pods)
		fmt.Fprintln(w, "| namespace | stored Pod KB | p50 ms | p99 ms | added p50 ms | added p99 ms |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
		row := func(name, ns string, l latencies) {
			fmt.Fprintf(w, "| %s | %.1f | %.2f | %.2f | %.2f | %.2f |\n", name, float64(size[ns])/1024, ms(l.p50()), ms(l.p99()),
				ms(l.p50()-off.p50()), ms(l.p99()-off.p99()))
		}
		row("space: decco's webhook injects", "acme", on)
		row("no-op mutating webhook, same server (floor)", noopNamespace, noop)
		row("the same webhook adding one annotation", touchNamespace, lat[touchNamespace])
		row("plain: no webhook", "plain", off)
		// A floor whose added latency is not above zero is inside the
		// run's noise (p99 on a loaded machine): no ratio to it.
		ratio := func(a, b time.Duration) string {
			if b <= 0 {
				return "n/a (floor within noise)"
			}
			return fmt.Sprintf("%.2f×", float64(a)/float64(b))
		}
		touch := lat[touchNamespace]
		fmt.Fprintf(w, "\n**decco's added latency ÷ the no-op webhook's: p50 %s, p99 %s** (÷ the one-annotation webhook's: p50 %s, p99 %s).\n\n",
			ratio(on.p50()-off.p50(), noop.p50()-off.p50()), ratio(on.p99()-off.p99(), noop.p99()-off.p99()),
			ratio(on.p50()-off.p50(), touch.p50()-off.p50()), ratio(on.p99()-off.p99(), touch.p99()-off.p99()))
		fmt.Fprintln(w, "Targets: decco's added p50 and p99 ≤ 1.5× the no-op webhook's; p99 adds ≤ 10 ms.")
		fmt.Fprintln(w)
		return createCost(ctx, w, cluster, template, namespaces, min(pods, 300))
	})
}

// createCost creates n more pods in each namespace, one namespace at a
// time, and reports the CPU each create costs the apiserver and this
// process (decco's manager and the client), and the space reconciles it
// causes: where the added latency goes.
func createCost(ctx context.Context, w io.Writer, cluster *controlplane.Cluster, template *corev1.Pod, namespaces []string, n int) error {
	apiserver := findProcess("kube-apiserver", cluster.Config.Host[strings.LastIndexByte(cluster.Config.Host, ':'):])
	fmt.Fprintf(w, "Where it goes: %d more pods per namespace, one namespace at a time (CPU per create).\n\n", n)
	fmt.Fprintln(w, "| namespace | kube-apiserver CPU ms | manager + client CPU ms | space reconciles |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, ns := range namespaces {
		api0, self0 := procCPU(apiserver), procCPU(os.Getpid())
		rec0 := inProcessCounter("controller_runtime_reconcile_total", "controller", "space")
		for i := range n {
			if err := cluster.Client.Create(ctx, podFor(template, ns, 100000+i)); err != nil {
				return fmt.Errorf("creating pod %d in %s: %w", i, ns, err)
			}
		}
		recs := inProcessCounter("controller_runtime_reconcile_total", "controller", "space") - rec0
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f |\n", ns, ms(procCPU(apiserver)-api0)/float64(n),
			ms(procCPU(os.Getpid())-self0)/float64(n), recs/float64(n))
	}
	fmt.Fprintln(w)
	return nil
}

func podFor(template *corev1.Pod, ns string, i int) *corev1.Pod {
	pod := template.DeepCopy()
	pod.Namespace = ns
	pod.GenerateName = ""
	pod.Name = fmt.Sprintf("shop-%05d", i)
	pod.OwnerReferences = nil
	if ns != "acme" {
		delete(pod.Labels, space.LabelSpace)
	}
	return pod
}
