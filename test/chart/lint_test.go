package chart

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// `helm lint --strict` passes with every value set: no warnings, no
// errors (an INFO, such as the missing icon, is allowed).
func TestHelmLint(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			linter := lint.All(chartDir(), parseValues(t, set.values), set.namespace, true)
			for _, msg := range linter.Messages {
				assert.Less(t, msg.Severity, support.WarningSev, "helm lint: %s", msg)
			}
		})
	}
}
