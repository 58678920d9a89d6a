package space

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSettingChanges(t *testing.T) {
	update := Permission{Verb: VerbUpdate, Resource: ResourceSpaces, Name: "shop"}
	base := Meta{
		Labels:      map[string]string{LabelSpace: "shop", "team": "a", PodSecurityPrefix + "enforce": "restricted"},
		Annotations: map[string]string{AnnotationDomain: "example.com", AnnotationProject: "retail", "note": "x"},
	}
	edit := func(labels, ann map[string]string) Meta {
		m := Meta{Labels: map[string]string{}, Annotations: map[string]string{}}
		for k, v := range base.Labels {
			m.Labels[k] = v
		}
		for k, v := range base.Annotations {
			m.Annotations[k] = v
		}
		for k, v := range labels {
			if v == "-" {
				delete(m.Labels, k)
			} else {
				m.Labels[k] = v
			}
		}
		for k, v := range ann {
			if v == "-" {
				delete(m.Annotations, k)
			} else {
				m.Annotations[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name string
		old  Meta
		new  Meta
		want []SettingChange
	}{
		{"nothing changed", base, edit(nil, nil), nil},
		{"other labels and annotations are not guarded", base,
			edit(map[string]string{"team": "b", "decco.iox/space": "y"}, map[string]string{"note": "-", "other.io/x": "1"}), nil},
		{"join a project", base, edit(nil, map[string]string{AnnotationProject: "bank"}),
			[]SettingChange{{Key: AnnotationProject, New: "bank", Needs: Permission{VerbJoin, ResourceProjects, "bank"}}}},
		{"leave a project is a space setting", base, edit(nil, map[string]string{AnnotationProject: "-"}),
			[]SettingChange{{Key: AnnotationProject, Removed: true, Needs: update}}},
		{"domain, issuer and runtime class", base,
			edit(nil, map[string]string{AnnotationDomain: "evil.com", AnnotationIssuer: "ClusterIssuer/x", AnnotationRuntimeClass: "runc"}),
			[]SettingChange{
				{Key: AnnotationDomain, New: "evil.com", Needs: update},
				{Key: AnnotationIssuer, New: "ClusterIssuer/x", Needs: update},
				{Key: AnnotationRuntimeClass, New: "runc", Needs: update},
			}},
		{"pod security label removed", base, edit(map[string]string{PodSecurityPrefix + "enforce": "-"}, nil),
			[]SettingChange{{Key: PodSecurityPrefix + "enforce", Label: true, Removed: true, Needs: update}}},
		{"a pod security annotation is not a setting", base, edit(nil, map[string]string{PodSecurityPrefix + "enforce": "privileged"}), nil},
		{"status is decco's alone", base, edit(nil, map[string]string{AnnotationStatus: "{}"}),
			[]SettingChange{{Key: AnnotationStatus, New: "{}", DeccoOnly: true}}},
		{"pod security labels of a namespace that is no space are not decco's",
			Meta{Labels: map[string]string{"team": "a"}}, Meta{Labels: map[string]string{PodSecurityPrefix + "enforce": "privileged"}}, nil},
		{"unknown decco.io keys are guarded too", base, edit(map[string]string{Prefix + "future": "1"}, nil),
			[]SettingChange{{Key: Prefix + "future", Label: true, New: "1", Needs: update}}},
		{"create: every guarded key, labels first", Meta{}, edit(nil, nil), []SettingChange{
			{Key: LabelSpace, Label: true, New: "shop", Needs: update},
			{Key: PodSecurityPrefix + "enforce", Label: true, New: "restricted", Needs: update},
			{Key: AnnotationDomain, New: "example.com", Needs: update},
			{Key: AnnotationProject, New: "retail", Needs: Permission{VerbJoin, ResourceProjects, "retail"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, SettingChanges("shop", tt.old, tt.new))
		})
	}
}

func TestSettingChangeDescribe(t *testing.T) {
	assert.Equal(t, `set annotation decco.io/project to "bank"`, SettingChange{Key: AnnotationProject, New: "bank"}.Describe())
	assert.Equal(t, "remove label pod-security.kubernetes.io/enforce",
		SettingChange{Key: PodSecurityPrefix + "enforce", Label: true, Removed: true}.Describe())
	assert.Equal(t, `verb join on projects.decco.io "bank"`, Permission{VerbJoin, ResourceProjects, "bank"}.String())
}
