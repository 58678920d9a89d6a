package reconciler

import "github.com/decco-dev/decco/space"

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

// podSecurityChanges are the labels to set so that a namespace with
// labels have carries the space's Pod Security labels at level; nil when
// it has them (or level is empty). Other labels, other
// pod-security.kubernetes.io/ ones (audit) included, are left alone. Only
// decco and cluster administrators may change these labels (the namespace
// guard), so a difference is a new space or an administrator's edit, and
// the chart's level wins.
func podSecurityChanges(have map[string]string, level string) map[string]string {
	if level == "" {
		return nil
	}
	var set map[string]string
	for k, v := range podSecurityLabels(level) {
		if have[k] != v {
			if set == nil {
				set = map[string]string{}
			}
			set[k] = v
		}
	}
	return set
}
