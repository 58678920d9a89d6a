package endpoint

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The types below mirror the part of external-dns's DNSEndpoint
// (externaldns.k8s.io/v1alpha1) that decco writes. external-dns's own Go
// module needs a newer Go than this repository and pulls in every DNS
// provider SDK, for four fields; a small typed mirror keeps writes checked
// by the compiler and lets a manager cache DNSEndpoints like any other
// kind, which unstructured objects are not by default. The apiserver
// validates them against the real CRD.

// GroupVersion is external-dns's API group and version.
var GroupVersion = schema.GroupVersion{Group: "externaldns.k8s.io", Version: "v1alpha1"}

// Kind is the DNSEndpoint kind.
const Kind = "DNSEndpoint"

// AddToScheme registers DNSEndpoint and DNSEndpointList. The client given
// to NewProvider must use a scheme that has them.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &DNSEndpoint{}, &DNSEndpointList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// DNSEndpoint is a set of DNS records external-dns publishes.
type DNSEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DNSEndpointSpec   `json:"spec,omitempty"`
	Status DNSEndpointStatus `json:"status,omitempty"`
}

// DNSEndpointSpec lists the records.
type DNSEndpointSpec struct {
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one record set: a name, a type and its targets.
type Endpoint struct {
	DNSName    string   `json:"dnsName,omitempty"`
	Targets    []string `json:"targets,omitempty"`
	RecordType string   `json:"recordType,omitempty"`
	// RecordTTL is in seconds; 0 (omitted) lets external-dns choose.
	RecordTTL int64 `json:"recordTTL,omitempty"`
	// SetIdentifier tells this cluster's endpoint of a shared name (a
	// global name) from other clusters' endpoints of the same name.
	SetIdentifier string `json:"setIdentifier,omitempty"`
}

// DNSEndpointStatus is written by external-dns.
type DNSEndpointStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// DNSEndpointList is a list of DNSEndpoints.
type DNSEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DNSEndpoint `json:"items"`
}

// DeepCopyInto copies e into out.
func (e *Endpoint) DeepCopyInto(out *Endpoint) {
	*out = *e
	if e.Targets != nil {
		out.Targets = append([]string(nil), e.Targets...)
	}
}

// DeepCopyInto copies d into out.
func (d *DNSEndpoint) DeepCopyInto(out *DNSEndpoint) {
	*out = *d
	out.TypeMeta = d.TypeMeta
	d.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if d.Spec.Endpoints != nil {
		out.Spec.Endpoints = make([]Endpoint, len(d.Spec.Endpoints))
		for i := range d.Spec.Endpoints {
			d.Spec.Endpoints[i].DeepCopyInto(&out.Spec.Endpoints[i])
		}
	}
}

// DeepCopy returns a deep copy of d.
func (d *DNSEndpoint) DeepCopy() *DNSEndpoint {
	if d == nil {
		return nil
	}
	out := new(DNSEndpoint)
	d.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (d *DNSEndpoint) DeepCopyObject() runtime.Object { return d.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *DNSEndpointList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := new(DNSEndpointList)
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]DNSEndpoint, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}
