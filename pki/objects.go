package pki

import (
	"fmt"
	"slices"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// Names of the objects Objects builds in a space namespace. They never
// change, so the reconciler finds last time's objects and compares before
// writing.
const (
	CACertificateName       = "decco-ca"
	CAIssuerName            = "decco-ca"
	SelfSignedIssuerName    = "decco-selfsigned"
	WorkloadCertificateName = "decco-workload"
	HTTPCertificateName     = "decco-http"
)

// DefaultClusterDomain is the cluster's DNS domain when Options leaves it
// empty.
const DefaultClusterDomain = "cluster.local"

// Lifetimes. The CA lives long and keeps its key on renewal, because every
// leaf chains to it; leaves are short-lived and get a fresh key each time.
var (
	caDuration      = 10 * 365 * 24 * time.Hour
	caRenewBefore   = 365 * 24 * time.Hour
	leafDuration    = 90 * 24 * time.Hour
	leafRenewBefore = 30 * 24 * time.Hour
)

// Bounds of Options.WorkloadCertDuration: cert-manager refuses a
// certificate shorter than an hour, and a workload key should not outlive
// the default 90 days.
const (
	MinWorkloadCertDuration = time.Hour
	MaxWorkloadCertDuration = 90 * 24 * time.Hour
)

// ValidateWorkloadCertDuration checks d against the bounds; 0 means the
// default.
func ValidateWorkloadCertDuration(d time.Duration) error {
	if d != 0 && (d < MinWorkloadCertDuration || d > MaxWorkloadCertDuration) {
		return fmt.Errorf("workload certificate duration %s: want %s to %s (shorter rotates the sidecars' keys more often)", d, MinWorkloadCertDuration, MaxWorkloadCertDuration)
	}
	return nil
}

// Options are the installation's PKI settings.
type Options struct {
	// DefaultIssuer issues the space CA when the space names no
	// decco.io/issuer. Empty: a self-signed CA per space. It must be a
	// SelfSigned issuer (see the package doc). An empty Kind means Issuer.
	DefaultIssuer space.IssuerRef
	// HTTPIssuer issues the certificate the gateway serves for
	// <space>.<domain>: in production a publicly trusted issuer such as an
	// ACME ClusterIssuer. Empty: the space CA (or, with a bring-your-own
	// workload Secret and so no space CA, the CA's issuer).
	HTTPIssuer space.IssuerRef
	// ClusterDomain is the cluster's DNS domain, for in-cluster service
	// names; empty means DefaultClusterDomain.
	ClusterDomain string
	// WorkloadCertDuration is the lifetime of the certificate the sidecars
	// serve; 0 means 90 days. It is renewed when a third of it is left,
	// as the default 90 days are 30 days before expiry.
	WorkloadCertDuration time.Duration
}

// Objects returns the cert-manager objects that the space should have, in
// apply order (issuers before the certificates that use them). It returns
// nothing for the parts bring-your-own Secrets replace.
func Objects(sp space.Space, opts Options) []client.Object {
	var out []client.Object
	caIssuer := issuerRef(sp.Issuer, opts.DefaultIssuer)
	// A shared CA (decco.io/ca-secret) is the platform's: decco issues
	// no CA of the space's own, and needs no self-signed issuer for one.
	needSelfSigned := caIssuer.Name == "" && sp.CASecretRef == ""
	if needSelfSigned {
		caIssuer = cmmeta.IssuerReference{Name: SelfSignedIssuerName, Kind: cmapi.IssuerKind, Group: groupName}
	}
	ownCA := sp.TCPCertSecret == ""
	httpIssuer := issuerRef(opts.HTTPIssuer)
	switch {
	case httpIssuer.Name != "":
	case ownCA:
		httpIssuer = cmmeta.IssuerReference{Name: CAIssuerName, Kind: cmapi.IssuerKind, Group: groupName}
	default:
		httpIssuer = caIssuer
	}
	ownHTTP := sp.HTTPCertSecret == ""
	// The self-signed Issuer is needed when something refers to it.
	if needSelfSigned && (ownCA || ownHTTP && httpIssuer == caIssuer) {
		out = append(out, selfSignedIssuer(sp))
	}
	switch {
	case ownCA && sp.CASecretRef != "":
		out = append(out, caIssuerObject(sp), workloadCertificate(sp, opts))
	case ownCA:
		out = append(out, caCertificate(sp, opts, caIssuer), caIssuerObject(sp), workloadCertificate(sp, opts))
	}
	if ownHTTP {
		out = append(out, httpCertificate(sp, httpIssuer))
	}
	return out
}

const groupName = "cert-manager.io"

// issuerRef is the first non-empty ref, as cert-manager's reference with
// every field explicit so the object compares equal to what the apiserver
// returns.
func issuerRef(refs ...space.IssuerRef) cmmeta.IssuerReference {
	for _, r := range refs {
		if r.Name == "" {
			continue
		}
		kind := r.Kind
		if kind == "" {
			kind = cmapi.IssuerKind
		}
		return cmmeta.IssuerReference{Name: r.Name, Kind: kind, Group: groupName}
	}
	return cmmeta.IssuerReference{}
}

func selfSignedIssuer(sp space.Space) *cmapi.Issuer {
	return &cmapi.Issuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.IssuerKind},
		ObjectMeta: sp.ObjectMeta(SelfSignedIssuerName),
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{
			SelfSigned: &cmapi.SelfSignedIssuer{},
		}},
	}
}

func caIssuerObject(sp space.Space) *cmapi.Issuer {
	return &cmapi.Issuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.IssuerKind},
		ObjectMeta: sp.ObjectMeta(CAIssuerName),
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{
			CA: &cmapi.CAIssuer{SecretName: sp.CASecret()},
		}},
	}
}

func caCertificate(sp space.Space, opts Options, issuer cmmeta.IssuerReference) *cmapi.Certificate {
	return certificate(sp, CACertificateName, cmapi.CertificateSpec{
		CommonName: caCommonName(sp.Name),
		Subject:    &cmapi.X509Subject{Organizations: []string{"decco"}, OrganizationalUnits: []string{sp.Name}},
		IsCA:       true,
		Usages:     []cmapi.KeyUsage{cmapi.UsageCertSign, cmapi.UsageCRLSign, cmapi.UsageDigitalSignature},
		SecretName: sp.CASecret(),
		IssuerRef:  issuer,
		PrivateKey: privateKey(cmapi.RotationPolicyNever),
		Duration:   &metav1.Duration{Duration: caDuration}, RenewBefore: &metav1.Duration{Duration: caRenewBefore},
		NameConstraints: &cmapi.NameConstraints{
			Critical:  true,
			Permitted: &cmapi.NameConstraintItem{DNSDomains: permittedDomains(sp, opts)},
		},
	})
}

func workloadCertificate(sp space.Space, opts Options) *cmapi.Certificate {
	d := opts.WorkloadCertDuration
	if d == 0 {
		d = leafDuration
	}
	return certificate(sp, WorkloadCertificateName, cmapi.CertificateSpec{
		DNSNames: workloadNames(sp, opts),
		Usages: []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageClientAuth,
			cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment},
		SecretName: sp.WorkloadCertSecret(),
		IssuerRef:  cmmeta.IssuerReference{Name: CAIssuerName, Kind: cmapi.IssuerKind, Group: groupName},
		PrivateKey: privateKey(cmapi.RotationPolicyAlways),
		Duration:   &metav1.Duration{Duration: d}, RenewBefore: &metav1.Duration{Duration: d / 3},
	})
}

// httpCertificate is what the gateway presents for the space's HTTPS
// hosts: its own, and its global name, which its routes answer too.
func httpCertificate(sp space.Space, issuer cmmeta.IssuerReference) *cmapi.Certificate {
	return certificate(sp, HTTPCertificateName, cmapi.CertificateSpec{
		DNSNames:   sp.Hosts(),
		Usages:     []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature},
		SecretName: sp.HTTPTLSSecret(),
		IssuerRef:  issuer,
		PrivateKey: privateKey(cmapi.RotationPolicyAlways),
		Duration:   &metav1.Duration{Duration: leafDuration}, RenewBefore: &metav1.Duration{Duration: leafRenewBefore},
	})
}

// certificate wraps spec with decco's metadata; the Secret cert-manager
// writes carries the same labels, so it too can be found as decco's.
func certificate(sp space.Space, name string, spec cmapi.CertificateSpec) *cmapi.Certificate {
	spec.SecretTemplate = &cmapi.CertificateSecretTemplate{Labels: sp.ManagedLabels()}
	return &cmapi.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateKind},
		ObjectMeta: sp.ObjectMeta(name),
		Spec:       spec,
	}
}

func privateKey(rotation cmapi.PrivateKeyRotationPolicy) *cmapi.CertificatePrivateKey {
	return &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256, RotationPolicy: rotation}
}

// caCommonName is "<space> CA", or just the space name where that would
// pass the 64 characters X.509 allows a common name.
func caCommonName(name string) string {
	const maxCommonName = 64
	if cn := name + " CA"; len(cn) <= maxCommonName {
		return cn
	}
	return name
}

// workloadNames are the names the sidecars answer to: the space host and
// its global name, any name under them (TCP services by SNI), and any Service of the namespace
// by its in-cluster names. Wildcards rather than one name per Service, so
// the certificate (and with it every sidecar's key) does not change when
// Services come and go, and its size does not grow with their number. The
// CA's name constraints keep the wildcards inside the space anyway.
func workloadNames(sp space.Space, opts Options) []string {
	svc := sp.Name + ".svc"
	names := []string{"*." + svc, "*." + svc + "." + clusterDomain(opts)}
	for _, h := range sp.Hosts() {
		names = append(names, h, "*."+h)
	}
	slices.Sort(names)
	return names
}

// permittedDomains bound what the space CA may sign: the space host and
// the namespace's in-cluster service domains (a constraint covers the name
// and every name under it).
func permittedDomains(sp space.Space, opts Options) []string {
	svc := sp.Name + ".svc"
	return append(sp.Hosts(), svc, svc+"."+clusterDomain(opts))
}

func clusterDomain(opts Options) string {
	if opts.ClusterDomain == "" {
		return DefaultClusterDomain
	}
	return opts.ClusterDomain
}
