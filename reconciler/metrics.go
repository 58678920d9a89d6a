package reconciler

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/decco-dev/decco/space"
)

// Space states counted by the decco_spaces gauge.
const (
	stateReady    = "ready"
	stateNotReady = "not_ready"
	stateInvalid  = "invalid"
)

// spacesGauge counts spaces by state; reconcile counts, errors and
// durations come from controller-runtime's own metrics.
var spacesGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "decco_spaces",
	Help: "Spaces by state: ready (every part ready), not_ready, or invalid (annotations that don't parse).",
}, []string{"state"})

// cachesSynced is 1 once the elected reconciler's informers have synced
// (see cacheWatch); 0 before, and on replicas not elected.
var cachesSynced = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "decco_reconciler_caches_synced",
	Help: "1 when the elected reconciler's informer caches have synced; 0 while it waits (a missing RBAC rule or CRD), and on standby replicas.",
})

func init() {
	metrics.Registry.MustRegister(spacesGauge, cachesSynced)
}

// spaceStates remembers each space's state, so the gauge is a count that
// a reconcile can move by one without listing every space.
type spaceStates struct {
	mu     sync.Mutex
	states map[string]string
}

func newSpaceStates() *spaceStates {
	for _, s := range []string{stateReady, stateNotReady, stateInvalid} {
		spacesGauge.WithLabelValues(s).Set(0)
	}
	return &spaceStates{states: map[string]string{}}
}

// set records the state of space name ("" forgets it).
func (s *spaceStates) set(name, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.states[name]
	if old == state {
		return
	}
	if had {
		spacesGauge.WithLabelValues(old).Dec()
	}
	if state == "" {
		delete(s.states, name)
		return
	}
	s.states[name] = state
	spacesGauge.WithLabelValues(state).Inc()
}

func stateOf(st space.Status) string {
	if st.Ready() {
		return stateReady
	}
	return stateNotReady
}
