package reconciler

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The gauge counts each space once, in its latest state.
func TestSpaceStatesGauge(t *testing.T) {
	s := newSpaceStates()
	count := func(state string) float64 {
		var m dto.Metric
		require.NoError(t, spacesGauge.WithLabelValues(state).Write(&m))
		return m.GetGauge().GetValue()
	}
	s.set("a", stateNotReady)
	s.set("b", stateNotReady)
	s.set("a", stateReady)
	s.set("a", stateReady)
	s.set("c", stateInvalid)
	assert.Equal(t, 1.0, count(stateReady))
	assert.Equal(t, 1.0, count(stateNotReady))
	assert.Equal(t, 1.0, count(stateInvalid))
	s.set("b", "")
	s.set("gone", "")
	assert.Equal(t, 0.0, count(stateNotReady))
}
