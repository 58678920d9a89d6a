package pki

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
)

// Reasons Ready reports, CamelCase for machines; the message says more.
const (
	ReasonIssued = "Issued"
	// ReasonIssuing: cert-manager has not finished (or started) issuing.
	ReasonIssuing = "Issuing"
	// ReasonIssuerNotReady: the request waits on its issuer, which is
	// missing, not ready, or lacks its CA Secret.
	ReasonIssuerNotReady = "IssuerNotReady"
	// ReasonIssuanceFailed: the issuer refused or failed the request;
	// cert-manager retries with backoff.
	ReasonIssuanceFailed = "IssuanceFailed"
	// ReasonRequestDenied: an approver denied the request.
	ReasonRequestDenied = "RequestDenied"
	// ReasonCANotSelfSigned: see CheckCA.
	ReasonCANotSelfSigned = "CANotSelfSigned"
)

// Ready summarizes the live state of the space's Certificates (those
// Objects returned, read back from the cluster) as the space's PKI
// condition. requests, optional, are the CertificateRequests of the space
// namespace: they say why an issuance is stuck (issuer missing, denied,
// ...), which the Certificate alone does not. The first certificate not
// ready, in dependency order (CA first), decides the reason.
func Ready(certs []cmapi.Certificate, requests ...cmapi.CertificateRequest) space.Condition {
	ordered := slices.Clone(certs)
	slices.SortFunc(ordered, func(a, b cmapi.Certificate) int {
		return cmp.Or(cmp.Compare(rank(a.Name), rank(b.Name)), cmp.Compare(a.Name, b.Name))
	})
	for _, c := range ordered {
		if cond, ok := notReady(c, requests); ok {
			return cond
		}
	}
	return space.Condition{Ready: true, Reason: ReasonIssued,
		Message: fmt.Sprintf("%d certificates issued", len(certs))}
}

// rank orders certificates by dependency: nothing issues before the CA.
func rank(name string) int {
	switch name {
	case CACertificateName:
		return 0
	case WorkloadCertificateName:
		return 1
	case HTTPCertificateName:
		return 2
	}
	return 3
}

// notReady explains why c is not ready, or reports false when it is.
func notReady(c cmapi.Certificate, requests []cmapi.CertificateRequest) (space.Condition, bool) {
	ready := certCondition(c, cmapi.CertificateConditionReady)
	if ready != nil && ready.Status == cmmeta.ConditionTrue && ready.ObservedGeneration >= c.Generation {
		return space.Condition{}, false
	}
	prefix := fmt.Sprintf("Certificate %s/%s: ", c.Namespace, c.Name)
	if cr := latestRequest(c, requests); cr != nil {
		if cond, ok := requestProblem(cr); ok {
			cond.Message = prefix + cond.Message
			return cond, true
		}
	}
	if iss := certCondition(c, cmapi.CertificateConditionIssuing); iss != nil &&
		iss.Status == cmmeta.ConditionFalse && iss.Reason == "Failed" {
		return space.Condition{Reason: ReasonIssuanceFailed, Message: prefix + iss.Message}, true
	}
	msg := "waiting for cert-manager to issue it"
	if ready != nil && ready.Message != "" {
		msg = ready.Message
	}
	return space.Condition{Reason: ReasonIssuing, Message: prefix + msg}, true
}

// requestProblem turns a stuck CertificateRequest into a condition.
func requestProblem(cr *cmapi.CertificateRequest) (space.Condition, bool) {
	if d := requestCondition(cr, cmapi.CertificateRequestConditionDenied); d != nil && d.Status == cmmeta.ConditionTrue {
		return space.Condition{Reason: ReasonRequestDenied,
			Message: fmt.Sprintf("request %s denied: %s", cr.Name, d.Message)}, true
	}
	r := requestCondition(cr, cmapi.CertificateRequestConditionReady)
	if r == nil || r.Status != cmmeta.ConditionFalse {
		return space.Condition{}, false
	}
	switch r.Reason {
	case cmapi.CertificateRequestReasonPending:
		return space.Condition{Reason: ReasonIssuerNotReady,
			Message: fmt.Sprintf("request %s pending: %s (check spec.issuerRef, decco.io/issuer or the installation's default issuer)", cr.Name, r.Message)}, true
	case cmapi.CertificateRequestReasonFailed:
		return space.Condition{Reason: ReasonIssuanceFailed,
			Message: fmt.Sprintf("request %s failed: %s", cr.Name, r.Message)}, true
	}
	return space.Condition{}, false
}

// latestRequest is c's CertificateRequest with the highest revision: the
// one in flight, or the last one that completed.
func latestRequest(c cmapi.Certificate, requests []cmapi.CertificateRequest) *cmapi.CertificateRequest {
	var best *cmapi.CertificateRequest
	bestRev := -1
	for i := range requests {
		cr := &requests[i]
		if cr.Namespace != c.Namespace || cr.Annotations[cmapi.CertificateNameKey] != c.Name {
			continue
		}
		rev, err := strconv.Atoi(cr.Annotations[cmapi.CertificateRequestRevisionAnnotationKey])
		if err != nil {
			continue
		}
		if rev > bestRev {
			best, bestRev = cr, rev
		}
	}
	return best
}

func certCondition(c cmapi.Certificate, t cmapi.CertificateConditionType) *cmapi.CertificateCondition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == t {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}

func requestCondition(cr *cmapi.CertificateRequest, t cmapi.CertificateRequestConditionType) *cmapi.CertificateRequestCondition {
	for i := range cr.Status.Conditions {
		if cr.Status.Conditions[i].Type == t {
			return &cr.Status.Conditions[i]
		}
	}
	return nil
}

// ErrCANotSelfSigned is CheckCA's error: the space CA chains to another
// CA, which then ends up as ca.crt of every workload Secret.
var ErrCANotSelfSigned = errors.New("the space CA is not self-signed")

// CheckCA checks the space CA Secret (space.Space.CASecret()) that
// cert-manager wrote: its certificate must be a CA that signed itself.
// cert-manager puts the root-most certificate of a chain into ca.crt, so a
// space CA issued by a CA-type issuer makes that shared root the trust
// anchor of every space's sidecars, and a client certificate of one space
// would be accepted by another. A Secret not issued yet is not an error.
func CheckCA(secret *corev1.Secret) error {
	if secret == nil || len(secret.Data[corev1.TLSCertKey]) == 0 {
		return nil
	}
	block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
	if block == nil {
		return fmt.Errorf("space CA secret %s/%s: %s holds no PEM certificate", secret.Namespace, secret.Name, corev1.TLSCertKey)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("space CA secret %s/%s: parsing %s: %w", secret.Namespace, secret.Name, corev1.TLSCertKey, err)
	}
	if !cert.IsCA {
		return fmt.Errorf("space CA secret %s/%s: %s is not a CA certificate", secret.Namespace, secret.Name, corev1.TLSCertKey)
	}
	if cert.CheckSignatureFrom(cert) != nil {
		return fmt.Errorf("space CA secret %s/%s: %w (issued by %q): every space would trust that issuer's other certificates; "+
			"set decco.io/issuer (or the installation's default issuer) to a SelfSigned issuer, or remove it for a per-space self-signed CA",
			secret.Namespace, secret.Name, ErrCANotSelfSigned, cert.Issuer.String())
	}
	return nil
}
