package webhook

import (
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// ConfigurationName names both webhook configurations.
const ConfigurationName = "decco"

// TimeoutSeconds is kept low: every pod creation in a space waits on us.
const TimeoutSeconds = 2

// ClientConfig says how the apiserver reaches the handler at path: a
// Service in the cluster, or a URL for a manager running outside it.
type ClientConfig func(path string) admissionregistrationv1.WebhookClientConfig

// ServiceClientConfig reaches the manager through its Service.
func ServiceClientConfig(namespace, name string, port int32, caBundle []byte) ClientConfig {
	return func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{
			Service:  &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: name, Path: ptr.To(path), Port: ptr.To(port)},
			CABundle: caBundle,
		}
	}
}

// URLClientConfig reaches a manager at baseURL (https://host:port).
func URLClientConfig(baseURL string, caBundle []byte) ClientConfig {
	return func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(baseURL + path), CABundle: caBundle}
	}
}

// spaceNamespaces matches space namespaces only, and never the namespaces
// decco must leave alone, even if someone labels them.
func spaceNamespaces(systemNamespace string) *metav1.LabelSelector {
	return bySpaceLabel(metav1.LabelSelectorOpExists, systemNamespace)
}

// bySpaceLabel matches the namespaces whose space label satisfies op, but
// for the ones decco leaves alone.
func bySpaceLabel(op metav1.LabelSelectorOperator, systemNamespace string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: space.LabelSpace, Operator: op},
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
			Values: space.ExcludedNamespaces(systemNamespace)},
	}}
}

// outsideSpaces matches the namespaces spaceNamespaces does not, but for
// the ones decco leaves alone. The apiserver matches a namespace selector
// against its namespace cache, which can still show a namespace made a
// space a moment ago without its label; a hook on spaceNamespaces alone
// would then let a pod labeled for that space be stored without calling
// decco. Each such hook has a twin on outsideSpaces for objects that carry
// decco's marks: whichever way the cache leans, exactly one of the two
// calls decco, which reads the namespace itself and then injects, or
// refuses a labeled object outside a space.
func outsideSpaces(systemNamespace string) *metav1.LabelSelector {
	return bySpaceLabel(metav1.LabelSelectorOpDoesNotExist, systemNamespace)
}

// labeledObjects matches only objects that carry the space label, so the
// apiserver doesn't call us for the rest.
var labeledObjects = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
	{Key: space.LabelSpace, Operator: metav1.LabelSelectorOpExists},
}}

func rule(group, version string, ops []admissionregistrationv1.OperationType, resources ...string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources,
			Scope: ptr.To(admissionregistrationv1.NamespacedScope),
		},
	}
}

var (
	create         = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	update         = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
	createOrUpdate = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
)

// MutatingConfiguration injects Pods and rewrites Services.
func MutatingConfiguration(cc ClientConfig, systemNamespace string) *admissionregistrationv1.MutatingWebhookConfiguration {
	hook := func(name, path string, objects *metav1.LabelSelector, rules ...admissionregistrationv1.RuleWithOperations) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name:                    name,
			ClientConfig:            cc(path),
			Rules:                   rules,
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       spaceNamespaces(systemNamespace),
			ObjectSelector:          objects,
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
			// Another webhook may add containers or ports after us; run
			// again so they get a listener too. Injection is idempotent.
			ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName, Labels: map[string]string{space.LabelManagedBy: space.ManagedByValue}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			// Every pod of a space: a space's RuntimeClass binds unlabeled
			// pods too.
			hook("pods.decco.io", PodPath, nil, rule("", "v1", create, "pods")),
			hook("services.decco.io", ServicePath, labeledObjects, rule("", "v1", createOrUpdate, "services")),
			outside(hook("pods-outside-spaces.decco.io", PodPath, labeledObjects, rule("", "v1", create, "pods")), systemNamespace),
			outside(hook("services-outside-spaces.decco.io", ServicePath, labeledObjects, rule("", "v1", createOrUpdate, "services")), systemNamespace),
		},
	}
}

// outside turns a hook into its twin on outsideSpaces.
func outside(h admissionregistrationv1.MutatingWebhook, systemNamespace string) admissionregistrationv1.MutatingWebhook {
	h.NamespaceSelector = outsideSpaces(systemNamespace)
	return h
}

// ValidatingConfiguration checks workload pod templates at apply time.
// Workload objects rarely carry the space label themselves (their pod
// template does), so a CEL match condition filters instead of an object
// selector.
func ValidatingConfiguration(cc ClientConfig, systemNamespace string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	hook := func(name, template string, rules ...admissionregistrationv1.RuleWithOperations) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            cc(WorkloadPath),
			Rules:                   rules,
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       spaceNamespaces(systemNamespace),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name: "template-labeled-with-a-space",
				// has() on each level: a missing field is an error, and an
				// error with failurePolicy Fail would refuse the object.
				Expression: "has(" + template + ".metadata) && has(" + template + ".metadata.labels) && '" +
					space.LabelSpace + "' in " + template + ".metadata.labels",
			}},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName, Labels: map[string]string{space.LabelManagedBy: space.ManagedByValue}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			hook("workloads.decco.io", "object."+strings.Join(specTemplate, "."), workloadRules(specTemplate)...),
			hook("cronjobs.decco.io", "object."+strings.Join(jobTemplate, "."), workloadRules(jobTemplate)...),
			podUpdateHook(cc, systemNamespace),
			podMarksOutsideSpacesHook(cc, systemNamespace),
			namespaceHook(cc, systemNamespace),
		},
	}
}

// workloadRules are the rules matching the Workloads whose template is at
// path, one per API group, in the table's order.
func workloadRules(path []string) []admissionregistrationv1.RuleWithOperations {
	var rules []admissionregistrationv1.RuleWithOperations
	byGroup := map[string]int{}
	for _, w := range Workloads {
		if !slices.Equal(w.Template, path) {
			continue
		}
		i, ok := byGroup[w.Group]
		if !ok {
			i = len(rules)
			byGroup[w.Group] = i
			rules = append(rules, rule(w.Group, "v1", createOrUpdate))
		}
		rules[i].Resources = append(rules[i].Resources, w.Resource)
	}
	return rules
}

// podUpdateHook checks updates of pods in a space, and of their ephemeral
// containers (kubectl debug): pods are checked and injected at creation,
// and an update must not undo that. Its match condition calls decco only
// for an update that touches what PodUpdate checks, so the controllers'
// ordinary pod updates (adopting, orphaning) don't wait on decco; the pods'
// status is a subresource this rule does not match at all.
func podUpdateHook(cc ClientConfig, systemNamespace string) admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{
		Name:         "pod-updates.decco.io",
		ClientConfig: cc(PodUpdatePath),
		Rules:        []admissionregistrationv1.RuleWithOperations{rule("", "v1", update, "pods", "pods/ephemeralcontainers")},
		MatchConditions: []admissionregistrationv1.MatchCondition{{
			Name: "changes-what-decco-checks",
			Expression: strings.Join(append([]string{
				"has(request.subResource) && request.subResource == 'ephemeralcontainers'"},
				append(marksChanged(),
					sidecarChanged("initContainers"),
					sidecarChanged("containers"))...), " || "),
		}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		NamespaceSelector:       spaceNamespaces(systemNamespace),
		ObjectSelector:          &metav1.LabelSelector{},
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To[int32](TimeoutSeconds),
		AdmissionReviewVersions: []string{"v1"},
	}
}

// podMarksOutsideSpacesHook is podUpdateHook's twin on outsideSpaces (see
// there) for decco's labels and annotations alone: outside a space they
// can't be put on a pod either, so no pod enters a space, when its
// namespace becomes one, carrying marks decco did not set. Ephemeral
// containers and containers named like the sidecar are no concern there.
func podMarksOutsideSpacesHook(cc ClientConfig, systemNamespace string) admissionregistrationv1.ValidatingWebhook {
	h := podUpdateHook(cc, systemNamespace)
	h.Name = "pod-marks-outside-spaces.decco.io"
	h.Rules = []admissionregistrationv1.RuleWithOperations{rule("", "v1", update, "pods")}
	h.NamespaceSelector = outsideSpaces(systemNamespace)
	h.MatchConditions = []admissionregistrationv1.MatchCondition{{
		Name:       "changes-decco-marks",
		Expression: strings.Join(marksChanged(), " || "),
	}}
	return h
}

// marksChanged are CEL expressions, one per label or annotation of decco's
// on a pod: it was added, removed or changed.
func marksChanged() []string {
	return []string{
		keyChanged("labels", space.LabelSpace),
		keyChanged("labels", space.LabelInjected),
		keyChanged("labels", space.LabelInterception),
		keyChanged("annotations", space.AnnotationInjected),
		keyChanged("annotations", space.AnnotationInterception),
	}
}

// namespaceHook guards space settings. Its match conditions make only a
// change to a decco.io/ key or a Pod Security label wait on decco, so no
// other namespace edit depends on decco being up, and spare decco's own
// service accounts and cluster administrators the call, so they are never
// locked out. The key test mirrors space.Guarded.
func namespaceHook(cc ClientConfig, systemNamespace string) admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{
		Name:         "namespaces.decco.io",
		ClientConfig: cc(NamespacePath),
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: createOrUpdate,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"},
				Scope: ptr.To(admissionregistrationv1.ClusterScope),
			},
		}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		NamespaceSelector:       &metav1.LabelSelector{},
		ObjectSelector:          &metav1.LabelSelector{},
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To[int32](TimeoutSeconds),
		AdmissionReviewVersions: []string{"v1"},
		MatchConditions: []admissionregistrationv1.MatchCondition{
			{Name: "not-a-system-namespace", Expression: "!(object.metadata.name in ['" + strings.Join(space.ExcludedNamespaces(systemNamespace), "', '") + "'])"},
			notDeccoOrAdmin(systemNamespace),
			{Name: "changes-a-space-setting", Expression: changedKeys("labels", "k.startsWith('"+space.Prefix+"') || (k.startsWith('"+space.PodSecurityPrefix+"') && "+isSpace+")") +
				" || " + changedKeys("annotations", "k.startsWith('"+space.Prefix+"')")},
		},
	}
}

// keyChanged is a CEL expression: the pod's label or annotation key was
// added, removed or changed.
func keyChanged(field, key string) string {
	now, before := "object.metadata."+field, "oldObject.metadata."+field
	in := func(m string) string { return "(has(" + m + ") && '" + key + "' in " + m + ")" }
	return "(" + in(now) + " != " + in(before) + " || (" + in(now) + " && " + now + "['" + key + "'] != " + before + "['" + key + "']))"
}

// sidecarChanged is a CEL expression: decco's sidecar in the pod's
// containers or initContainers differs.
func sidecarChanged(field string) string {
	of := func(pod string) string {
		return "(has(" + pod + ".spec." + field + ") ? " + pod + ".spec." + field + ".filter(c, c.name == '" + inject.SidecarName + "') : [])"
	}
	return of("object") + " != " + of("oldObject")
}

// isSpace is a CEL expression: the namespace is a space before or after
// the change.
var isSpace = "('" + space.LabelSpace + "' in " + labelsOf("object") + " || '" + space.LabelSpace + "' in " + labelsOf("oldObject") + ")"

func labelsOf(obj string) string {
	return "(" + obj + " != null && has(" + obj + ".metadata.labels) ? " + obj + ".metadata.labels : {})"
}

// changedKeys is a CEL expression: some key of the namespace's field
// (labels or annotations) for which guarded holds was added, changed or
// removed. oldObject is null on CREATE.
func changedKeys(field, guarded string) string {
	now := "(has(object.metadata." + field + ") ? object.metadata." + field + " : {})"
	before := "(oldObject != null && has(oldObject.metadata." + field + ") ? oldObject.metadata." + field + " : {})"
	return "(" + now + ".exists(k, (" + guarded + ") && (!(k in " + before + ") || " + before + "[k] != " + now + "[k]))" +
		" || " + before + ".exists(k, (" + guarded + ") && !(k in " + now + ")))"
}
