package reconciler

import (
	"context"
	"fmt"
	"slices"
	"sync"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

// OwnSecretNames are the Secrets cert-manager writes for decco's
// Certificates in a space. Their names never vary, so the reconciler
// reads and deletes them by name and an installation grants it exactly
// these (RBAC resourceNames): decco neither lists nor watches Secrets.
func OwnSecretNames() []string {
	return []string{space.CASecretName, space.DefaultWorkloadCertSecret, space.DefaultHTTPCertSecret}
}

// secretFacts are the public facts decco keeps about one Secret: never
// the private key.
type secretFacts struct {
	found   bool
	managed bool
	uid     types.UID
	caCrt   []byte
	caErr   error
	hasKey  bool
}

// secretMemo remembers the facts of decco's own Secrets, keyed by the
// resourceVersion of the Certificate that writes each ("" for none), so a
// reconcile reads a Secret only when its Certificate moved. That is
// enough: cert-manager writes the Secret before it updates the
// Certificate's status, and repairs a Secret edited behind its back
// (which changes the status too).
type secretMemo struct {
	mu sync.Mutex
	m  map[types.NamespacedName]memoEntry
}

type memoEntry struct {
	writerRV string
	facts    secretFacts
}

func newSecretMemo() *secretMemo {
	return &secretMemo{m: map[types.NamespacedName]memoEntry{}}
}

func (m *secretMemo) get(key types.NamespacedName, writerRV string) (secretFacts, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	return e.facts, ok && e.writerRV == writerRV
}

func (m *secretMemo) put(key types.NamespacedName, writerRV string, f secretFacts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = memoEntry{writerRV: writerRV, facts: f}
}

// forget drops the memo of a namespace that is no longer a space.
func (m *secretMemo) forget(ns string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.m {
		if k.Namespace == ns {
			delete(m.m, k)
		}
	}
}

// ownSecret returns the facts of decco's Secret key, whose Certificate is
// at resourceVersion writerRV, reading it only when that moved.
func (r *Reconciler) ownSecret(ctx context.Context, key types.NamespacedName, writerRV string) (secretFacts, error) {
	if f, ok := r.memo.get(key, writerRV); ok {
		return f, nil
	}
	f, err := r.readSecret(ctx, key)
	if err != nil {
		return f, err
	}
	r.memo.put(key, writerRV, f)
	return f, nil
}

// readSecret GETs Secret key from the apiserver (decco keeps no cache of
// Secrets, so tenants' private keys never sit in its memory) and keeps
// its public facts. A missing Secret is not an error.
func (r *Reconciler) readSecret(ctx context.Context, key types.NamespacedName) (secretFacts, error) {
	var s corev1.Secret
	err := r.reader.Get(ctx, key, &s)
	switch {
	case apierrors.IsNotFound(err):
		return secretFacts{}, nil
	case err != nil:
		return secretFacts{}, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	return secretFacts{found: true, managed: isManaged(&s), uid: s.UID, caCrt: s.Data["ca.crt"], caErr: pki.CheckCA(&s),
		hasKey: len(s.Data[corev1.TLSPrivateKeyKey]) > 0}, nil
}

// writerOf is decco's Certificate that writes Secret name, or nil.
func writerOf(have owned, name string) *certmanagerv1.Certificate {
	for key, obj := range have.objects {
		if c, ok := obj.(*certmanagerv1.Certificate); ok && key.kind == "Certificate" && c.Spec.SecretName == name {
			return c
		}
	}
	return nil
}

// writerRV is the resourceVersion of writerOf(have, name), or "".
func writerRV(have owned, name string) string {
	if c := writerOf(have, name); c != nil {
		return c.ResourceVersion
	}
	return ""
}

// keptSecrets are the Secret names a space keeps: those its desired
// Certificates write, and those it brings itself (a space may name one
// of decco's names for its own Secret; decco must not take it).
func keptSecrets(desired []client.Object, sp space.Space) map[string]bool {
	keep := map[string]bool{}
	for _, obj := range desired {
		if c, ok := obj.(*certmanagerv1.Certificate); ok {
			keep[c.Spec.SecretName] = true
		}
	}
	for _, b := range byoSecrets(sp) {
		keep[b.name] = true
	}
	return keep
}

// orphanCandidates are decco's Secret names not in keep: those a removed
// Certificate may have left behind.
func orphanCandidates(keep map[string]bool) []string {
	return slices.DeleteFunc(OwnSecretNames(), func(name string) bool { return keep[name] })
}

// pruneSecrets deletes decco's Secrets in ns that no kept name covers,
// after checking they carry decco's label (cert-manager copies it from the
// Certificate's secretTemplate): never a tenant's Secret of that name.
// While a Certificate of decco's writes the name (it is being removed
// now) the Secret is read afresh; after that, a name known to be absent
// or the tenant's is not read again until a Certificate writes it.
func (r *Reconciler) pruneSecrets(ctx context.Context, ns string, keep map[string]bool, have owned, errs partErrs) {
	for _, name := range orphanCandidates(keep) {
		errs.add(space.PartPKI, r.pruneSecret(ctx, types.NamespacedName{Namespace: ns, Name: name}, writerRV(have, name)))
	}
}

func (r *Reconciler) pruneSecret(ctx context.Context, key types.NamespacedName, writerRV string) error {
	if f, ok := r.memo.get(key, ""); ok && writerRV == "" && (!f.found || !f.managed) {
		return nil
	}
	f, err := r.readSecret(ctx, key)
	if err != nil {
		return err
	}
	if f.found && f.managed {
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, UID: f.uid}}
		obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := r.delete(ctx, "Secret", obj); err != nil {
			return err
		}
		f = secretFacts{}
	}
	r.memo.put(key, "", secretFacts{found: f.found, managed: f.managed})
	return nil
}
