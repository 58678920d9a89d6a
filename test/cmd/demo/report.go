package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
)

// report prints, for every space, each Deployment's pod as written and as
// admitted, and where each Service now points.
func report(ctx context.Context, cluster *controlplane.Cluster, w io.Writer) error {
	var nss corev1.NamespaceList
	if err := cluster.Client.List(ctx, &nss, client.HasLabels{space.LabelSpace}); err != nil {
		return err
	}
	for i := range nss.Items {
		if nss.Items[i].DeletionTimestamp != nil {
			continue
		}
		sp, err := space.FromNamespace(&nss.Items[i])
		if err != nil {
			fmt.Fprintf(w, "\nnamespace %s is not a valid space: %v\n", nss.Items[i].Name, err)
			continue
		}
		fmt.Fprintf(w, "\n━━ Space %s: %s, project %q\n", sp.Name, sp.Host(), sp.Project)
		if err := reportWorkloads(ctx, cluster, sp, w); err != nil {
			return err
		}
		if err := reportServices(ctx, cluster, sp, w); err != nil {
			return err
		}
		if err := reportReconciled(ctx, cluster, sp, w); err != nil {
			return err
		}
	}
	return nil
}

func reportWorkloads(ctx context.Context, cluster *controlplane.Cluster, sp space.Space, w io.Writer) error {
	var deploys appsv1.DeploymentList
	if err := cluster.Client.List(ctx, &deploys, client.InNamespace(sp.Name)); err != nil {
		return err
	}
	for _, d := range deploys.Items {
		pod, err := waitForPod(ctx, cluster, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nDeployment %s → Pod %s (made by the real ReplicaSet controller)\n", d.Name, pod.Name)
		fmt.Fprintf(w, "  as written:  %s\n", describeContainers(d.Spec.Template.Spec.Containers))
		fmt.Fprintf(w, "  as admitted: %s\n", describeContainers(pod.Spec.Containers))
		describeSidecar(w, pod)
	}
	return nil
}

func waitForPod(ctx context.Context, cluster *controlplane.Cluster, d appsv1.Deployment) (*corev1.Pod, error) {
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var pods corev1.PodList
		if err := cluster.Client.List(ctx, &pods, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, err
		}
		if len(pods.Items) > 0 {
			return &pods.Items[0], nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("no pod for Deployment %s/%s after 60s", d.Namespace, d.Name)
}

func describeContainers(cs []corev1.Container) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s [ports %s]", c.Name, describePorts(c.Ports)))
	}
	return strings.Join(parts, ", ")
}

func describePorts(ps []corev1.ContainerPort) string {
	var out []string
	for _, p := range ps {
		name := p.Name
		if name == "" {
			name = "(unnamed)"
		}
		out = append(out, fmt.Sprintf("%s=%d", name, p.ContainerPort))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

func describeSidecar(w io.Writer, pod *corev1.Pod) {
	side, native := findSidecar(pod)
	if side == nil {
		fmt.Fprintf(w, "  no sidecar (%s)\n", pod.Annotations[space.AnnotationInjected])
		return
	}
	mode := "regular container"
	if native {
		mode = "native sidecar: first init container, restartPolicy Always, app starts once TLS is up"
	}
	fmt.Fprintf(w, "  + %s (%s) [ports %s]\n", side.Name, mode, describePorts(side.Ports))
	if cfg, err := sidecar.ParseArgs(side.Args); err == nil {
		for _, l := range cfg.Listeners {
			verify := "client certificate required"
			if !l.VerifyClient {
				verify = "no client certificate"
			}
			fmt.Fprintf(w, "      TLS :%d → app 127.0.0.1:%d (%s, %s)\n", l.Port, l.AppPort, l.Name, verify)
		}
	}
	for _, m := range side.VolumeMounts {
		if m.MountPath == sidecar.CertDir {
			fmt.Fprintf(w, "      certificate: Secret mounted read-only at %s in %s only\n", m.MountPath, side.Name)
		}
	}
	fmt.Fprintf(w, "      %s: %s\n", space.AnnotationInjected, pod.Annotations[space.AnnotationInjected])
}

func findSidecar(pod *corev1.Pod) (*corev1.Container, bool) {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == inject.SidecarName {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == inject.SidecarName {
			return &pod.Spec.Containers[i], false
		}
	}
	return nil, false
}

func reportServices(ctx context.Context, cluster *controlplane.Cluster, sp space.Space, w io.Writer) error {
	var svcs corev1.ServiceList
	if err := cluster.Client.List(ctx, &svcs, client.InNamespace(sp.Name), client.HasLabels{space.LabelSpace}); err != nil {
		return err
	}
	sort.Slice(svcs.Items, func(i, j int) bool { return svcs.Items[i].Name < svcs.Items[j].Name })
	fmt.Fprintln(w)
	for _, s := range svcs.Items {
		exp, _ := space.ExposureFromService(&s)
		route := "TCP by SNI at " + sp.ServiceHost(s.Name)
		if exp.HTTPPath != "" {
			route = "HTTP at " + sp.Host() + exp.HTTPPath
		}
		for _, p := range s.Spec.Ports {
			fmt.Fprintf(w, "Service %s: port %d → targetPort %s (the TLS listener); %s\n", s.Name, p.Port, p.TargetPort.String(), route)
		}
	}
	return nil
}
