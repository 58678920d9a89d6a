package reconciler

import (
	"context"
	"fmt"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// PKI reasons the pki package does not have.
const (
	ReasonBringYourOwn     = "BringYourOwn"
	ReasonSecretMissing    = "SecretMissing"
	ReasonSecretUnreadable = "SecretUnreadable"
)

// pkiFacts is what the pki part's status needs beyond the Certificates.
type pkiFacts struct {
	// caErr is pki.CheckCA's verdict on the space CA Secret.
	caErr error
	// missing names bring-your-own Secrets that do not exist, and
	// unreadable those decco was refused (VerifyBYOSecrets only).
	missing    []string
	unreadable []string
	// unchecked names the bring-your-own Secrets decco does not read,
	// because the installation does not let it (VerifyBYOSecrets off).
	unchecked []string
	// tenantBundle: the gateway verifies the space's pods against a CA
	// that only the tenant's Secret holds, and decco may not read it, so
	// the tenant publishes the CA bundle ConfigMap.
	tenantBundle bool
}

// gatherPKI checks the space CA (when decco issues it) and the
// bring-your-own Secrets (when the space names them and the installation
// lets decco read them).
func (r *Reconciler) gatherPKI(ctx context.Context, sp space.Space, have owned) (pkiFacts, error) {
	var out pkiFacts
	if cert := writerOf(have, sp.CASecret()); sp.TCPCertSecret == "" && cert != nil {
		f, err := r.ownSecret(ctx, types.NamespacedName{Namespace: sp.Name, Name: sp.CASecret()}, cert.ResourceVersion)
		if err != nil {
			return out, err
		}
		out.caErr = f.caErr
	}
	for _, byo := range byoSecrets(sp) {
		if !r.opts.VerifyBYOSecrets {
			out.unchecked = append(out.unchecked, byo.key+"="+byo.name)
			continue
		}
		f, err := r.readSecret(ctx, types.NamespacedName{Namespace: sp.Name, Name: byo.name})
		switch {
		case apierrors.IsForbidden(err):
			out.unreadable = append(out.unreadable, fmt.Sprintf("%s names Secret %s/%s, which decco may not read", byo.key, sp.Name, byo.name))
		case err != nil:
			return out, err
		case !f.found || !f.hasKey:
			out.missing = append(out.missing, fmt.Sprintf("%s names Secret %s/%s, which does not exist or has no %s",
				byo.key, sp.Name, byo.name, corev1.TLSPrivateKeyKey))
		}
	}
	out.tenantBundle = !r.opts.VerifyBYOSecrets && sp.TCPCertSecret != "" && r.opts.RouteMode.GatewayAPI()
	return out, nil
}

// byoSecret is a bring-your-own Secret a space names, and the key naming it.
type byoSecret struct{ key, name string }

// byoSecrets are the Secrets the space brings instead of decco's.
func byoSecrets(sp space.Space) []byoSecret {
	var out []byoSecret
	if sp.TCPCertSecret != "" {
		out = append(out, byoSecret{space.AnnotationTCPCertSecret, sp.TCPCertSecret})
	}
	if sp.HTTPCertSecret != "" {
		out = append(out, byoSecret{space.AnnotationHTTPCertSecret, sp.HTTPCertSecret})
	}
	return out
}

// pkiCondition summarizes the pki part: write errors first, then a CA
// that would let spaces trust each other, bring-your-own Secrets missing
// or unreadable, Certificates not created or not issued yet, and finally
// pki.Ready's verdict on the issued ones, with what decco leaves to the
// tenant.
func pkiCondition(desired []client.Object, have owned, requests []certmanagerv1.CertificateRequest, facts pkiFacts, applyErr error) space.Condition {
	if c := appliedCondition(applyErr); !c.Ready {
		return c
	}
	if facts.caErr != nil {
		return space.Condition{Reason: pki.ReasonCANotSelfSigned, Message: facts.caErr.Error()}
	}
	if len(facts.unreadable) > 0 {
		return space.Condition{Reason: ReasonSecretUnreadable, Message: strings.Join(facts.unreadable, "; ") +
			"; the manager runs with --verify-byo-secrets but its RBAC does not grant get on secrets: grant it" +
			" (the Helm chart's reconciler.verifyBYOSecrets=true does both), or turn the flag off"}
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
			// Created by this reconcile (a failed write returned above):
			// cert-manager has not seen it, so it has no status. Judged
			// as that, it gets the condition the next reconcile reads
			// from the cache, and the status is written once, not twice.
			cur = obj.(*certmanagerv1.Certificate)
		}
		certs = append(certs, *cur)
	}
	c := space.Condition{Ready: true, Reason: ReasonBringYourOwn,
		Message: "the space brings its own certificates (decco.io/tcp-cert-secret, decco.io/http-cert-secret)"}
	if len(certs) > 0 {
		c = pki.Ready(certs, requests...)
	}
	if c.Ready {
		c.Message += tenantNote(facts)
	}
	return c
}

// tenantNote says what decco leaves to the tenant when it may not read
// the tenant's Secrets.
func tenantNote(facts pkiFacts) string {
	var b strings.Builder
	if len(facts.unchecked) > 0 {
		fmt.Fprintf(&b, "; decco does not read %s (this installation runs without --verify-byo-secrets):"+
			" keeping them present and valid is the tenant's responsibility", strings.Join(facts.unchecked, ", "))
	}
	if facts.tenantBundle {
		fmt.Fprintf(&b, "; the gateway verifies the space's pods against ConfigMap %s (key %s):"+
			" publish in it the CA that signed the %s Secret", route.CABundleConfigMap, route.CABundleKey, space.AnnotationTCPCertSecret)
	}
	return b.String()
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
