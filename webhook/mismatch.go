package webhook

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// mismatchLookup finds the Service ports whose target the pods they
// select don't declare (space.PortMismatches), for admission warnings: on
// a Service against the pods it selects, on a workload against the
// Services that select its pod template. Helm applies Services before
// workloads, so the workload's warning is the one a chart's user sees on
// install; the Service's is the one after a change to it.
//
// Each is one API call, a List narrowed to the namespace (and, for pods,
// the selector), made with the live reader: pods are not cached in the
// webhook. A failed or slow call only loses the warning, never the
// admission; the space's status reports the same mismatches later.
type mismatchLookup struct {
	live client.Reader
}

// lookupTimeout keeps a warning's List well inside the webhook's 2 s.
const lookupTimeout = 500 * time.Millisecond

// forService warns about svc's ports against the pods it selects.
func (l mismatchLookup) forService(ctx context.Context, svc *corev1.Service) []string {
	if l.live == nil || len(svc.Spec.Selector) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var pods corev1.PodList
	if err := l.live.List(ctx, &pods, client.InNamespace(svc.Namespace), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		logf.FromContext(ctx).Info("no port mismatch warning: listing the Service's pods failed", "service", svc.Namespace+"/"+svc.Name, "error", err.Error())
		return nil
	}
	return messages(space.PortMismatches(svc, pods.Items))
}

// forPod warns about the ports of the Services that select pod (a
// workload's pod template, as injected): those of the space's Services
// that it doesn't declare, and those of Services without the space label
// that land on an app port decco took over (see unlabeledTargets).
func (l mismatchLookup) forPod(ctx context.Context, pod *corev1.Pod) []string {
	if l.live == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var svcs corev1.ServiceList
	if err := l.live.List(ctx, &svcs, client.InNamespace(pod.Namespace)); err != nil {
		logf.FromContext(ctx).Info("no port mismatch warning: listing the space's Services failed", "pod", pod.Namespace+"/"+pod.Name, "error", err.Error())
		return nil
	}
	var out []string
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		if svc.Labels[space.LabelSpace] == "" {
			out = append(out, unlabeledTargets(svc, pod)...)
			continue
		}
		out = append(out, messages(space.PortMismatches(svc, []corev1.Pod{*pod}))...)
	}
	return out
}

func messages(ms []space.PortMismatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Message())
	}
	return out
}

// unlabeledTargets warns about the TCP ports of svc, a Service without
// the space label, whose target lands on pod's app port that the sidecar
// took over (renamed app-<port>): decco points only labeled Services at
// the TLS listeners, so this one reaches the plaintext port, which
// decco's policy closes to other pods. Helm charts that let users label
// pods but not Services make these.
func unlabeledTargets(svc *corev1.Service, pod *corev1.Pod) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		_, cp, ok := space.TargetedBy(pod, p)
		if !ok || !inject.ReservedTarget(intstr.FromString(cp.Name)) {
			continue
		}
		out = append(out, fmt.Sprintf("Service %s port %d targets the app's plaintext port %d, which decco closes to other pods: the Service has no %s label, so decco doesn't point it at the TLS listener; label it %s=%s",
			svc.Name, p.Port, cp.ContainerPort, space.LabelSpace, space.LabelSpace, pod.Namespace))
	}
	return out
}
