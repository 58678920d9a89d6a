package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
)

// reportReconciled waits for the reconciler to converge the space, then
// prints its status and what it made: PKI, policies, routes, DNS.
func reportReconciled(ctx context.Context, cluster *controlplane.Cluster, sp space.Space, w io.Writer) error {
	start := time.Now()
	st, err := waitConverged(ctx, cluster, sp.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nReconciled in %s — %s: %s\n", since(start), space.AnnotationStatus, readiness(st))
	in := client.InNamespace(sp.Name)
	managed := client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}

	var certs cmapi.CertificateList
	if err := cluster.Client.List(ctx, &certs, in, managed); err != nil {
		return err
	}
	fmt.Fprintln(w, "  PKI (cert-manager, one CA per space):")
	for _, c := range certs.Items {
		fmt.Fprintf(w, "    Certificate %-15s → Secret %-19s %s %s\n", c.Name, c.Spec.SecretName, certReady(c), strings.Join(c.Spec.DNSNames, " "))
	}

	var pols networkingv1.NetworkPolicyList
	if err := cluster.Client.List(ctx, &pols, in, managed); err != nil {
		return err
	}
	fmt.Fprintln(w, "  NetworkPolicies:")
	for _, p := range pols.Items {
		fmt.Fprintf(w, "    %-22s %s\n", p.Name, describePolicy(p))
	}

	fmt.Fprintln(w, "  Routes (Gateway API):")
	var http gatewayv1.HTTPRouteList
	if err := cluster.Client.List(ctx, &http, in, managed); err != nil {
		return err
	}
	for _, r := range http.Items {
		fmt.Fprintf(w, "    HTTPRoute %-10s https://%s%s → Service %s (TLS to the pod)\n", r.Name, r.Spec.Hostnames[0], *r.Spec.Rules[0].Matches[0].Path.Value, r.Spec.Rules[0].BackendRefs[0].Name)
	}
	var tls gatewayv1.TLSRouteList
	if err := cluster.Client.List(ctx, &tls, in, managed); err != nil {
		return err
	}
	for _, r := range tls.Items {
		fmt.Fprintf(w, "    TLSRoute  %-10s SNI %s → Service %s (passthrough, mutual TLS at the pod)\n", r.Name, r.Spec.Hostnames[0], r.Spec.Rules[0].BackendRefs[0].Name)
	}
	return reportDNS(ctx, cluster, sp, w)
}

func waitConverged(ctx context.Context, cluster *controlplane.Cluster, ns string) (space.Status, error) {
	var st space.Status
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var n corev1.Namespace
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			return st, err
		}
		st, _ = space.ParseStatus(n.Annotations[space.AnnotationStatus])
		if st.Ready() {
			return st, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return st, fmt.Errorf("space %s did not converge in 90s: %s", ns, st.Format())
}

func readiness(st space.Status) string {
	var parts []string
	for _, p := range space.Parts {
		c := st.Parts[p]
		parts = append(parts, fmt.Sprintf("%s %s", p, c.Reason))
	}
	return strings.Join(parts, ", ")
}

func certReady(c cmapi.Certificate) string {
	for _, cond := range c.Status.Conditions {
		if cond.Type == cmapi.CertificateConditionReady && cond.Status == "True" {
			return "issued"
		}
	}
	return "pending"
}

func describePolicy(p networkingv1.NetworkPolicy) string {
	if len(p.Spec.Egress) > 0 {
		var to []string
		for _, rule := range p.Spec.Egress {
			for _, peer := range rule.To {
				to = append(to, describePeers(peer))
			}
		}
		return fmt.Sprintf("egress only to [%s]", strings.Join(to, " "))
	}
	if len(p.Spec.Ingress) == 0 {
		return "deny all ingress to every pod of the space"
	}
	var rules []string
	for _, rule := range p.Spec.Ingress {
		var from, ports []string
		for _, peer := range rule.From {
			from = append(from, describePeers(peer))
		}
		for _, port := range rule.Ports {
			ports = append(ports, port.Port.String())
		}
		rules = append(rules, fmt.Sprintf("from [%s] to [%s]", strings.Join(from, " "), strings.Join(ports, " ")))
	}
	return "allow " + strings.Join(rules, "; ") + " (TLS listener ports only)"
}

// describePeers names the namespaces a peer selects.
func describePeers(peer networkingv1.NetworkPolicyPeer) string {
	if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchExpressions) == 0 {
		return "all namespaces"
	}
	e := peer.NamespaceSelector.MatchExpressions[0]
	if e.Operator == metav1.LabelSelectorOpNotIn {
		return "all but " + strings.Join(e.Values, ",")
	}
	return strings.Join(e.Values, ",")
}

func reportDNS(ctx context.Context, cluster *controlplane.Cluster, sp space.Space, w io.Writer) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: "externaldns.k8s.io", Version: "v1alpha1", Kind: "DNSEndpointList"})
	if err := cluster.Client.List(ctx, list, client.InNamespace(sp.Name)); err != nil {
		return err
	}
	fmt.Fprintln(w, "  DNS (external-dns DNSEndpoint):")
	var lines []string
	for _, item := range list.Items {
		eps, _, _ := unstructured.NestedSlice(item.Object, "spec", "endpoints")
		for _, e := range eps {
			m, _ := e.(map[string]any)
			targets, _, _ := unstructured.NestedStringSlice(m, "targets")
			lines = append(lines, fmt.Sprintf("    %s %v → %s", m["dnsName"], m["recordType"], strings.Join(targets, ",")))
		}
	}
	sort.Strings(lines)
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	return nil
}
