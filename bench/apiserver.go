package main

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/corpus"
	"github.com/decco-dev/decco/test/deccotest"
)

// apiserverSection creates pods through the real apiserver, alternating a
// space namespace (the apiserver calls decco's webhook, which injects)
// with a plain one (no webhook call), and compares creation latency.
func apiserverSection(w io.Writer, pods int) error {
	ctx := context.Background()
	return withDecco(ctx, false, func(cluster *controlplane.Cluster, _ *deccotest.Manager) error {
		if err := createNamespace(ctx, cluster, "acme", true); err != nil {
			return err
		}
		if err := createNamespace(ctx, cluster, "plain", false); err != nil {
			return err
		}
		template := corpus.Pod(10 << 10)
		var on, off latencies
		for i := range pods {
			for _, ns := range []string{"acme", "plain"} {
				pod := podFor(template, ns, i)
				start := time.Now()
				if err := cluster.Client.Create(ctx, pod); err != nil {
					return fmt.Errorf("creating pod %d in %s: %w", i, ns, err)
				}
				d := time.Since(start)
				if ns == "acme" {
					if !deccotest.Injected(pod) {
						return fmt.Errorf("pod %d in the space was not injected", i)
					}
					on = append(on, d)
				} else {
					off = append(off, d)
				}
			}
		}
		fmt.Fprintf(w, "## Pod creation through the real apiserver, %d pods each, webhook on vs off (interleaved)\n\n", pods)
		fmt.Fprintln(w, "| | p50 ms | p99 ms |")
		fmt.Fprintln(w, "| --- | ---: | ---: |")
		fmt.Fprintf(w, "| webhook on (space namespace, injected) | %.2f | %.2f |\n", ms(on.p50()), ms(on.p99()))
		fmt.Fprintf(w, "| webhook off (plain namespace) | %.2f | %.2f |\n", ms(off.p50()), ms(off.p99()))
		fmt.Fprintf(w, "| added by decco | %.2f | %.2f |\n\n", ms(on.p50()-off.p50()), ms(on.p99()-off.p99()))
		fmt.Fprintln(w, "Target: p99 adds ≤ 10 ms.")
		fmt.Fprintln(w)
		return nil
	})
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
