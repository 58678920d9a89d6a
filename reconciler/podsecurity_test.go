package reconciler

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPodSecurityChanges(t *testing.T) {
	full := podSecurityLabels(PodSecurityRestricted)
	with := func(kv ...string) map[string]string {
		m := map[string]string{"team": "a"}
		for k, v := range full {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name  string
		have  map[string]string
		level string
		want  map[string]string
	}{
		{"a new space gets every label", map[string]string{"team": "a"}, PodSecurityRestricted,
			full},
		{"up to date: no write", with(), PodSecurityRestricted, nil},
		{"a removed label comes back", with("pod-security.kubernetes.io/enforce", "-"), PodSecurityRestricted,
			map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}},
		{"a weakened level is restored", with("pod-security.kubernetes.io/enforce", "privileged"), PodSecurityRestricted,
			map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}},
		{"baseline from the chart", with(), PodSecurityBaseline,
			map[string]string{"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "baseline"}},
		{"an audit label of the administrator's is kept", with("pod-security.kubernetes.io/audit", "restricted"), PodSecurityRestricted, nil},
		{"no level: labels left alone", map[string]string{}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, podSecurityChanges(tt.have, tt.level))
		})
	}
}
