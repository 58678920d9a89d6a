package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// admissions counts every admission decision by kind, outcome (an
// inject.Decision, or Refused) and refusal reason, so a dashboard shows why
// pods were not injected without reading logs.
var admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "decco_admissions_total",
	Help: "Admission decisions by object kind, outcome and refusal reason.",
}, []string{"kind", "outcome", "reason"})

func init() {
	metrics.Registry.MustRegister(admissions)
}
