package space

import (
	"encoding/json"
	"fmt"
)

// Parts of a space the reconciler converges, in the order users read them.
const (
	PartPKI      = "pki"
	PartPolicies = "policies"
	PartRoutes   = "routes"
	PartDNS      = "dns"
)

// Parts lists every part.
var Parts = []string{PartPKI, PartPolicies, PartRoutes, PartDNS}

// Condition is the state of one part of a space.
type Condition struct {
	Ready bool `json:"ready"`
	// Reason is a CamelCase machine-readable cause when not ready (or a
	// short summary when ready).
	Reason string `json:"reason,omitempty"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message,omitempty"`
}

// Status is the reconciler's summary of a space, stored as JSON in the
// namespace's decco.io/status annotation, so `kubectl get ns -o yaml` and
// spacectl show it without reading logs.
type Status struct {
	Parts map[string]Condition `json:"parts"`
	// Mismatches are the Service ports of the space whose target decco
	// can't tell its pods serve (see PortMismatches), sorted by Service
	// and port. They are warnings: a space with some is still ready.
	Mismatches []PortMismatch `json:"mismatches,omitempty"`
	// MoreMismatches counts the mismatches beyond MaxMismatches, which the
	// status leaves out to stay small.
	MoreMismatches int `json:"moreMismatches,omitempty"`
}

// MaxMismatches bounds the mismatches a status lists.
const MaxMismatches = 50

// SetMismatches records ms, sorted, keeping at most MaxMismatches of them
// and counting the rest.
func (s *Status) SetMismatches(ms []PortMismatch) {
	ms = append([]PortMismatch(nil), ms...)
	SortMismatches(ms)
	s.Mismatches, s.MoreMismatches = ms, 0
	if len(ms) > MaxMismatches {
		s.Mismatches, s.MoreMismatches = ms[:MaxMismatches], len(ms)-MaxMismatches
	}
	if len(s.Mismatches) == 0 {
		s.Mismatches = nil
	}
}

// Ready reports whether every part is ready.
func (s Status) Ready() bool {
	for _, p := range Parts {
		if !s.Parts[p].Ready {
			return false
		}
	}
	return true
}

// Format renders s as the annotation value, with keys sorted so an
// unchanged status never causes a write.
func (s Status) Format() string {
	// encoding/json writes map keys sorted, so equal statuses format equal.
	b, _ := json.Marshal(s)
	return string(b)
}

// ParseStatus reads the annotation value; an empty value is an empty status.
func ParseStatus(v string) (Status, error) {
	s := Status{Parts: map[string]Condition{}}
	if v == "" {
		return s, nil
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return s, fmt.Errorf("%s: %w", AnnotationStatus, err)
	}
	if s.Parts == nil {
		s.Parts = map[string]Condition{}
	}
	return s, nil
}
