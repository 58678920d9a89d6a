package space

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Space settings are the platform's, not the tenant's: changing a
// decco.io/ key on a namespace needs a permission on decco's own virtual
// resources, granted with ordinary RBAC and checked with a
// SubjectAccessReview (see package webhook). Nothing serves these
// resources; they exist only as names RBAC rules can grant.
const (
	// PermissionGroup is the API group of decco's virtual resources.
	PermissionGroup = "decco.io"
	// ResourceSpaces: verb update on the space (named after its
	// namespace) changes its settings.
	ResourceSpaces = "spaces"
	// ResourceProjects: verb join on a project (named after it) lets a
	// space set decco.io/project to it.
	ResourceProjects = "projects"
	VerbUpdate       = "update"
	VerbJoin         = "join"
)

// PodSecurityPrefix is the prefix of the Pod Security Admission labels the
// reconciler sets on every space; changing them weakens the space, so they
// are space settings too.
const PodSecurityPrefix = "pod-security.kubernetes.io/"

// Permission is a verb on one of decco's virtual resources, by name.
type Permission struct {
	Verb     string
	Resource string
	Name     string
}

// String reads like RBAC: `verb join on projects.decco.io "bank"`.
func (p Permission) String() string {
	return fmt.Sprintf("verb %s on %s.%s %q", p.Verb, p.Resource, PermissionGroup, p.Name)
}

// SettingChange is one guarded label or annotation a namespace update
// adds, changes or removes.
type SettingChange struct {
	// Key is the label or annotation key.
	Key string
	// Label: Key is a label, else an annotation.
	Label bool
	// New is the value after the change; Removed when the key goes.
	New     string
	Removed bool
	// DeccoOnly: only decco itself writes this key (its status); no
	// permission lets anyone else change it.
	DeccoOnly bool
	// Needs is what the requesting user must be allowed, unless DeccoOnly.
	Needs Permission
}

// Guarded reports whether a namespace label or annotation key is a space
// setting: every decco.io/ key, and on a space (before or after the
// change) the Pod Security labels.
func Guarded(key string, label, isSpace bool) bool {
	return strings.HasPrefix(key, Prefix) || (label && isSpace && strings.HasPrefix(key, PodSecurityPrefix))
}

// Meta is the labels and annotations of one version of a namespace.
type Meta struct {
	Labels      map[string]string
	Annotations map[string]string
}

// SettingChanges lists the guarded keys that differ between old (the zero
// Meta for a namespace being created) and new, sorted by key with labels
// first, and the permission each needs. A namespace's space settings need
// verb update on its space; setting decco.io/project to p needs verb join
// on project p instead (leaving a project only opens the space itself, a
// setting of the space like any other).
func SettingChanges(namespace string, old, new Meta) []SettingChange {
	var out []SettingChange
	_, was := old.Labels[LabelSpace]
	_, is := new.Labels[LabelSpace]
	diff := func(label bool, before, after map[string]string) {
		for k, v := range after {
			if w, had := before[k]; Guarded(k, label, was || is) && (!had || w != v) {
				out = append(out, change(namespace, k, label, v, false))
			}
		}
		for k := range before {
			if _, kept := after[k]; !kept && Guarded(k, label, was || is) {
				out = append(out, change(namespace, k, label, "", true))
			}
		}
	}
	diff(true, old.Labels, new.Labels)
	diff(false, old.Annotations, new.Annotations)
	slices.SortFunc(out, func(a, b SettingChange) int {
		if a.Label != b.Label {
			if a.Label {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

func change(namespace, key string, label bool, value string, removed bool) SettingChange {
	c := SettingChange{Key: key, Label: label, New: value, Removed: removed}
	switch {
	case !label && key == AnnotationStatus:
		c.DeccoOnly = true
	case !label && key == AnnotationProject && !removed:
		c.Needs = Permission{Verb: VerbJoin, Resource: ResourceProjects, Name: value}
	default:
		c.Needs = Permission{Verb: VerbUpdate, Resource: ResourceSpaces, Name: namespace}
	}
	return c
}

// Describe says what the change does, for a refusal: `set decco.io/project
// to "bank"`, `remove label pod-security.kubernetes.io/enforce`.
func (c SettingChange) Describe() string {
	kind := "annotation"
	if c.Label {
		kind = "label"
	}
	if c.Removed {
		return fmt.Sprintf("remove %s %s", kind, c.Key)
	}
	return fmt.Sprintf("set %s %s to %q", kind, c.Key, c.New)
}
