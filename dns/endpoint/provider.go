// Package endpoint is decco's default DNS provider: it writes each space's
// records as one external-dns DNSEndpoint object, named ObjectName, in the
// space's namespace, and leaves publishing to external-dns (its CRD source,
// --source=crd).
//
// Because the object lives in the tenant's namespace, the installation
// must not let tenants write DNSEndpoints (no RBAC grant on
// dnsendpoints.externaldns.k8s.io), or a tenant could publish any name.
package endpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/space"
)

// ObjectName is the name of the DNSEndpoint in every space namespace.
const ObjectName = "decco"

// ErrNotOwned is returned (wrapped) when a DNSEndpoint named ObjectName
// exists in a space but lacks decco's managed-by label: decco never changes
// or deletes an object it did not make.
var ErrNotOwned = errors.New("DNSEndpoint was not created by decco")

// Provider writes DNSEndpoints through a controller-runtime client.
type Provider struct {
	c client.Client
	// live reads past a stale cache; c itself unless WithLiveReader.
	live client.Reader
	// setID is this cluster's set identifier on shared names' endpoints.
	setID string

	mu     sync.Mutex
	shared map[string][]dns.SharedState
}

var _ dns.Provider = (*Provider)(nil)

// NewProvider returns a Provider writing through c, whose scheme must
// include AddToScheme's types. With a manager's client, reads come from
// its cache: narrow that cache to decco's DNSEndpoints by label.
func NewProvider(c client.Client) *Provider {
	return &Provider{c: c, live: c, shared: map[string][]dns.SharedState{}}
}

// WithLiveReader makes the provider read from r (the apiserver, uncached)
// when its cache turns out stale: a create that finds the object already
// there (as after an apiserver restart) converges at once instead of
// failing until the cache catches up.
func (p *Provider) WithLiveReader(r client.Reader) *Provider {
	p.live = r
	return p
}

// WithSetIdentifier names this cluster on the endpoints of shared names
// (a customer's global name, published by one cluster per region), as
// external-dns's setIdentifier: each cluster's external-dns then owns
// its own endpoint of the name and leaves the other regions' alone.
func (p *Provider) WithSetIdentifier(id string) *Provider {
	p.setID = id
	return p
}

// SharedStates: a cluster's external-dns publishes what its DNSEndpoints
// say and decco sees no other cluster's, so a region's address stays at
// its shared names even while the region is not ready (withdrawing it
// could leave the name with no address at all).
func (p *Provider) SharedStates(spaceName string) []dns.SharedState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.shared[spaceName])
}

var _ dns.SharedReporter = (*Provider)(nil)

// Ensure makes the space's DNSEndpoint hold exactly desired. It writes only
// when the object differs from what it would write, creates it when
// missing, and deletes it when nothing is desired.
func (p *Provider) Ensure(ctx context.Context, spaceName string, desired []dns.Record) error {
	states, err := p.sharedStates(desired)
	if err != nil {
		return fmt.Errorf("DNS records of space %s: %w", spaceName, err)
	}
	p.mu.Lock()
	p.shared[spaceName] = states
	p.mu.Unlock()
	want := BuildWithSetIdentifier(spaceName, desired, p.setID)
	cur, err := p.get(ctx, spaceName)
	if err != nil {
		return err
	}
	logger := log.FromContext(ctx).WithValues("namespace", spaceName, "name", ObjectName)
	switch {
	case cur == nil && len(want.Spec.Endpoints) == 0:
		return nil
	case cur == nil:
		logger.Info("creating DNSEndpoint", "records", len(want.Spec.Endpoints))
		err := p.c.Create(ctx, want)
		if apierrors.IsAlreadyExists(err) {
			if cur, err = p.getFrom(ctx, p.live, spaceName); err != nil {
				return err
			}
			if cur == nil {
				return fmt.Errorf("DNSEndpoint %s/%s already exists but can't be read yet; retrying", spaceName, ObjectName)
			}
			break // the cache was stale: compare with what is there
		}
		if err != nil {
			return fmt.Errorf("creating DNSEndpoint %s/%s: %w", spaceName, ObjectName, err)
		}
		return nil
	case len(want.Spec.Endpoints) == 0:
		return p.delete(ctx, cur)
	}
	if cur == nil || upToDate(cur, want) {
		return nil
	}
	next := cur.DeepCopy()
	next.Labels = withLabels(next.Labels, want.Labels)
	next.Spec = want.Spec
	logger.Info("updating DNSEndpoint", "records", len(want.Spec.Endpoints))
	if err := p.c.Update(ctx, next); err != nil {
		return fmt.Errorf("updating DNSEndpoint %s/%s: %w", spaceName, ObjectName, err)
	}
	return nil
}

// Remove deletes the space's DNSEndpoint if decco made it.
func (p *Provider) Remove(ctx context.Context, spaceName string) error {
	p.mu.Lock()
	delete(p.shared, spaceName)
	p.mu.Unlock()
	cur, err := p.get(ctx, spaceName)
	if errors.Is(err, ErrNotOwned) {
		return nil // not ours to delete, and nothing of ours is published
	}
	if err != nil || cur == nil {
		return err
	}
	return p.delete(ctx, cur)
}

// get returns decco's DNSEndpoint of the space, nil when there is none,
// and ErrNotOwned when the name is taken by someone else's object.
func (p *Provider) get(ctx context.Context, spaceName string) (*DNSEndpoint, error) {
	return p.getFrom(ctx, p.c, spaceName)
}

func (p *Provider) getFrom(ctx context.Context, r client.Reader, spaceName string) (*DNSEndpoint, error) {
	cur := &DNSEndpoint{}
	err := r.Get(ctx, client.ObjectKey{Namespace: spaceName, Name: ObjectName}, cur)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading DNSEndpoint %s/%s: %w", spaceName, ObjectName, err)
	case cur.Labels[space.LabelManagedBy] != space.ManagedByValue:
		return nil, fmt.Errorf("DNSEndpoint %s/%s has no label %s=%s: %w; rename or delete it so decco can publish the space's records",
			spaceName, ObjectName, space.LabelManagedBy, space.ManagedByValue, ErrNotOwned)
	}
	return cur, nil
}

// delete removes cur, only if it is still the object that was read, so a
// replacement created in between is never deleted by mistake.
func (p *Provider) delete(ctx context.Context, cur *DNSEndpoint) error {
	log.FromContext(ctx).Info("deleting DNSEndpoint", "namespace", cur.Namespace, "name", cur.Name)
	pre := metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}
	err := p.c.Delete(ctx, cur, &client.DeleteOptions{Preconditions: &pre})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting DNSEndpoint %s/%s: %w", cur.Namespace, cur.Name, err)
	}
	return nil
}

// Build is the DNSEndpoint that publishes records for a space: one
// endpoint per record, sorted by name then type, labeled as decco's.
// Records without targets are left out.
func Build(spaceName string, records []dns.Record) *DNSEndpoint {
	return BuildWithSetIdentifier(spaceName, records, "")
}

// BuildWithSetIdentifier is Build, with setID on the endpoints of shared
// names.
func BuildWithSetIdentifier(spaceName string, records []dns.Record, setID string) *DNSEndpoint {
	var eps []Endpoint
	for _, r := range records {
		if len(r.Targets) == 0 {
			continue
		}
		ep := Endpoint{DNSName: r.Name, RecordType: r.Type(), Targets: slices.Clone(r.Targets), RecordTTL: r.TTL}
		if r.Shared != nil {
			ep.SetIdentifier = setID
		}
		eps = append(eps, ep)
	}
	slices.SortFunc(eps, func(a, b Endpoint) int {
		return cmp.Or(cmp.Compare(a.DNSName, b.DNSName), cmp.Compare(a.RecordType, b.RecordType))
	})
	return &DNSEndpoint{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: spaceName,
			Name:      ObjectName,
			Labels:    map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: spaceName},
		},
		Spec: DNSEndpointSpec{Endpoints: eps},
	}
}

// upToDate reports whether cur already has want's records and labels;
// labels others added are left alone.
func upToDate(cur, want *DNSEndpoint) bool {
	for k, v := range want.Labels {
		if cur.Labels[k] != v {
			return false
		}
	}
	return reflect.DeepEqual(cur.Spec.Endpoints, want.Spec.Endpoints)
}

func withLabels(have, want map[string]string) map[string]string {
	out := maps.Clone(have)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, want)
	return out
}

// sharedStates checks the shared records and says what becomes of them:
// published, and kept while the region is not ready, since no other
// cluster's endpoints are visible here.
func (p *Provider) sharedStates(records []dns.Record) ([]dns.SharedState, error) {
	var out []dns.SharedState
	for _, r := range records {
		if r.Shared == nil {
			continue
		}
		if p.setID == "" {
			return nil, fmt.Errorf("%s is a name other clusters publish too, and external-dns tells their endpoints apart by a set identifier: start decco with --dns-owner-id=<this cluster's name>", r.Name)
		}
		out = append(out, dns.SharedState{Name: r.Name, Published: true, KeptAsLast: r.Shared.Standby, Unknown: true})
	}
	return out, nil
}
