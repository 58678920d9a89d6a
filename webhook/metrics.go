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

// durations is the server-side time of each admission request, from the
// first byte read to the response written: what every pod creation in a
// space waits on. Buckets are fine-grained below 10 ms, where it lives.
var durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "decco_admission_duration_seconds",
	Help:    "Server-side duration of admission requests by handler.",
	Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, 1},
}, []string{"handler"})

func init() {
	metrics.Registry.MustRegister(admissions, durations)
}
