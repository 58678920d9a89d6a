package spacectl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/space"
)

// spaceSetting is one space flag and the namespace annotation it sets.
type spaceSetting struct {
	flag, key, usage string
}

// spaceSettings are the flags of `create space` and `render`, one per
// namespace annotation of the user contract.
var spaceSettings = []spaceSetting{
	{"domain", space.AnnotationDomain, "DNS domain: the space is reachable at <space>.<domain> (required for a new space)."},
	{"project", space.AnnotationProject, "Isolation group: only spaces of the same project may connect in."},
	{"issuer", space.AnnotationIssuer, "cert-manager issuer of the space's CA: name, Issuer/name or ClusterIssuer/name (default: the installation's)."},
	{"runtime-class", space.AnnotationRuntimeClass, "RuntimeClass every pod of the space must run under (e.g. kata, gvisor)."},
	{"http-cert-secret", space.AnnotationHTTPCertSecret, "Bring your own certificate for <space>.<domain>: a kubernetes.io/tls Secret in the space."},
	{"tcp-cert-secret", space.AnnotationTCPCertSecret, "Bring your own workload certificate for the sidecars: a kubernetes.io/tls Secret in the space."},
}

// spaceFlags holds the values of spaceSettings' flags.
type spaceFlags struct {
	values map[string]*string
	fs     *pflag.FlagSet
}

func bindSpaceFlags(fs *pflag.FlagSet) *spaceFlags {
	f := &spaceFlags{values: map[string]*string{}, fs: fs}
	for _, s := range spaceSettings {
		f.values[s.flag] = fs.String(s.flag, "", s.usage)
	}
	return f
}

// annotations returns the annotations of the flags given on the command
// line; flags not given are absent, so converting a namespace keeps its
// current values for them.
func (f *spaceFlags) annotations() map[string]string {
	ann := map[string]string{}
	for _, s := range spaceSettings {
		if f.fs.Changed(s.flag) {
			ann[s.key] = *f.values[s.flag]
		}
	}
	return ann
}

// makeSpace labels ns as a space and sets ann on it.
func makeSpace(ns *corev1.Namespace, ann map[string]string) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[space.LabelSpace] = ns.Name
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	for k, v := range ann {
		ns.Annotations[k] = v
	}
}

// spaceFromFlags builds the space named name from the flags, validated by
// package space exactly as the webhook validates a namespace.
func spaceFromFlags(name string, ann map[string]string) (space.Space, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	makeSpace(ns, ann)
	sp, err := space.FromNamespace(ns)
	if err != nil {
		return space.Space{}, explainSpaceErrors(name, err)
	}
	return sp, nil
}

// explainSpaceErrors rewrites FromNamespace's errors for someone who typed
// flags: each line names the flag next to the annotation. It is a usage
// error: nothing was sent.
func explainSpaceErrors(name string, err error) error {
	fes := space.FieldErrors(err)
	if len(fes) == 0 {
		return withCode(ExitUsage, err)
	}
	lines := make([]string, 0, len(fes))
	for _, fe := range fes {
		lines = append(lines, "  "+flagFor(fe.Key)+fe.Error())
	}
	return withCode(ExitUsage, errors.New(fmt.Sprintf("space %q is not valid:\n", name)+strings.Join(lines, "\n")))
}

// flagFor names the flag that sets an annotation, as a prefix.
func flagFor(key string) string {
	for _, s := range spaceSettings {
		if s.key == key {
			return "--" + s.flag + ": "
		}
	}
	return ""
}
