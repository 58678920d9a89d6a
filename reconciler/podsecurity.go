package reconciler

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// Pod Security Admission levels a space may enforce. privileged is not
// one: it would let a pod of the space reach the node, and through it
// every space's keys.
const (
	PodSecurityRestricted = "restricted"
	PodSecurityBaseline   = "baseline"
)

// podSecurityLabels are the Pod Security Admission labels of a space at
// level: enforced and warned, at the apiserver's own (latest) version of
// the standards.
func podSecurityLabels(level string) map[string]string {
	return map[string]string{
		space.PodSecurityPrefix + "enforce":         level,
		space.PodSecurityPrefix + "enforce-version": "latest",
		space.PodSecurityPrefix + "warn":            level,
		space.PodSecurityPrefix + "warn-version":    "latest",
	}
}

// podSecurityPatch is the merge patch that gives a namespace with labels
// have the space's Pod Security labels at level, or nil when it has them.
// Other labels, other pod-security.kubernetes.io/ ones (audit) included,
// are left alone.
func podSecurityPatch(have map[string]string, level string) []byte {
	if level == "" {
		return nil
	}
	set := map[string]string{}
	for k, v := range podSecurityLabels(level) {
		if have[k] != v {
			set[k] = v
		}
	}
	if len(set) == 0 {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": set}})
	return patch
}

// ensurePodSecurity sets the space's Pod Security labels when they are
// missing or differ. Only decco and cluster administrators may change
// them (the namespace guard), so a difference is an administrator's edit
// or a new space, and the chart's level wins.
func (r *Reconciler) ensurePodSecurity(ctx context.Context, ns *metav1.PartialObjectMetadata) error {
	patch := podSecurityPatch(ns.Labels, r.opts.PodSecurityLevel)
	if patch == nil {
		return nil
	}
	if err := r.client.Patch(ctx, ns.DeepCopy(), client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("setting the Pod Security labels of namespace %s: %w", ns.Name, err)
	}
	return nil
}
