package reconciler

import (
	"context"
	"fmt"
	"strings"
	"sync"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

// PKI reasons the pki package does not have.
const (
	ReasonBringYourOwn  = "BringYourOwn"
	ReasonSecretMissing = "SecretMissing"
)

// pkiFacts is what the pki part's status needs beyond the Certificates.
type pkiFacts struct {
	// caErr is pki.CheckCA's verdict on the space CA Secret.
	caErr error
	// missing names bring-your-own Secrets that do not exist.
	missing []string
}

// secretFacts are the public facts decco keeps about one Secret, keyed by
// its resourceVersion: never the private key.
type secretFacts struct {
	rv     string
	found  bool
	caCrt  []byte
	caErr  error
	hasKey bool
}

// secretMemo remembers secretFacts per Secret, so a reconcile reads a
// Secret of decco's from the apiserver only when its resourceVersion in
// the metadata cache moved.
type secretMemo struct {
	mu sync.Mutex
	m  map[types.NamespacedName]secretFacts
}

// secret returns the facts of Secret key. rv is its resourceVersion in the
// metadata cache, "" for a Secret decco does not cache (bring your own),
// which is then read every time.
func (r *Reconciler) secret(ctx context.Context, key types.NamespacedName, rv string) (secretFacts, error) {
	if rv != "" {
		r.memo.mu.Lock()
		f, ok := r.memo.m[key]
		r.memo.mu.Unlock()
		if ok && f.rv == rv {
			return f, nil
		}
	}
	var s corev1.Secret
	err := r.reader.Get(ctx, key, &s)
	switch {
	case apierrors.IsNotFound(err):
		return secretFacts{}, nil
	case err != nil:
		return secretFacts{}, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	f := secretFacts{rv: s.ResourceVersion, found: true, caCrt: s.Data["ca.crt"], caErr: pki.CheckCA(&s),
		hasKey: len(s.Data[corev1.TLSPrivateKeyKey]) > 0}
	if rv != "" {
		r.memo.mu.Lock()
		r.memo.m[key] = f
		r.memo.mu.Unlock()
	}
	return f, nil
}

// forgetSecrets drops the memo of a namespace that is no longer a space.
func (r *Reconciler) forgetSecrets(ns string) {
	r.memo.mu.Lock()
	defer r.memo.mu.Unlock()
	for k := range r.memo.m {
		if k.Namespace == ns {
			delete(r.memo.m, k)
		}
	}
}

// cachedRV is the resourceVersion of decco's Secret name in have, or "".
func cachedRV(have owned, name string) string {
	for _, s := range have.secrets {
		if s.Name == name {
			return s.ResourceVersion
		}
	}
	return ""
}

// gatherPKI checks the space CA (when decco issues it) and the
// bring-your-own Secrets (when the space names them).
func (r *Reconciler) gatherPKI(ctx context.Context, sp space.Space, have owned) (pkiFacts, error) {
	var out pkiFacts
	if sp.TCPCertSecret == "" {
		if rv := cachedRV(have, sp.CASecret()); rv != "" {
			f, err := r.secret(ctx, types.NamespacedName{Namespace: sp.Name, Name: sp.CASecret()}, rv)
			if err != nil {
				return out, err
			}
			out.caErr = f.caErr
		}
	}
	for _, byo := range []struct{ key, name string }{
		{space.AnnotationTCPCertSecret, sp.TCPCertSecret},
		{space.AnnotationHTTPCertSecret, sp.HTTPCertSecret},
	} {
		if byo.name == "" {
			continue
		}
		f, err := r.secret(ctx, types.NamespacedName{Namespace: sp.Name, Name: byo.name}, "")
		if err != nil {
			return out, err
		}
		if !f.found || !f.hasKey {
			out.missing = append(out.missing, fmt.Sprintf("%s names Secret %s/%s, which does not exist or has no %s",
				byo.key, sp.Name, byo.name, corev1.TLSPrivateKeyKey))
		}
	}
	return out, nil
}

// pkiCondition summarizes the pki part: write errors first, then a CA
// that would let spaces trust each other, missing bring-your-own Secrets,
// Certificates not created or not issued yet, and finally pki.Ready's
// verdict on the issued ones.
func pkiCondition(desired []client.Object, have owned, requests []certmanagerv1.CertificateRequest, facts pkiFacts, applyErr error) space.Condition {
	if c := appliedCondition(applyErr); !c.Ready {
		return c
	}
	if facts.caErr != nil {
		return space.Condition{Reason: pki.ReasonCANotSelfSigned, Message: facts.caErr.Error()}
	}
	if len(facts.missing) > 0 {
		return space.Condition{Reason: ReasonSecretMissing, Message: strings.Join(facts.missing, "; ") +
			"; create it as a kubernetes.io/tls Secret, or remove the annotation to let decco issue one"}
	}
	var certs []certmanagerv1.Certificate
	for _, obj := range desired {
		if _, ok := obj.(*certmanagerv1.Certificate); !ok {
			continue
		}
		cur, ok := have.objects[objKey{"Certificate", obj.GetName()}].(*certmanagerv1.Certificate)
		if !ok {
			return space.Condition{Reason: pki.ReasonIssuing,
				Message: fmt.Sprintf("Certificate %s/%s created; waiting for cert-manager to issue it", obj.GetNamespace(), obj.GetName())}
		}
		certs = append(certs, *cur)
	}
	if len(certs) == 0 {
		return space.Condition{Ready: true, Reason: ReasonBringYourOwn,
			Message: "the space brings its own certificates (decco.io/tcp-cert-secret, decco.io/http-cert-secret)"}
	}
	return pki.Ready(certs, requests...)
}

// certificateRequests lists the CertificateRequests cert-manager made for
// decco's Certificates (they inherit the Certificate's labels).
func (r *Reconciler) certificateRequests(ctx context.Context, ns string) ([]certmanagerv1.CertificateRequest, error) {
	var list certmanagerv1.CertificateRequestList
	if err := r.client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: ManagedSelector()}); err != nil {
		return nil, fmt.Errorf("listing the CertificateRequests of %s: %w", ns, err)
	}
	return list.Items, nil
}
