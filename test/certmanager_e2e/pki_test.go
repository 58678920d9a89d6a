package certmanager_e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

// newSpace creates a space namespace and parses it as the reconciler would.
func newSpace(t *testing.T, name string) space.Space {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{space.LabelSpace: name},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	require.NoError(t, cluster.Client.Create(context.Background(), ns))
	sp, err := space.FromNamespace(ns)
	require.NoError(t, err)
	return sp
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		require.NoError(t, cluster.Client.Create(context.Background(), o), "%T %s", o, o.GetName())
	}
}

// selfSignedClusterIssuer is the kind of installation default decco
// supports: each space CA it issues is a root of its own.
func selfSignedClusterIssuer(t *testing.T, name string) space.IssuerRef {
	t.Helper()
	create(t, &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}})
	return space.IssuerRef{Kind: space.KindClusterIssuer, Name: name}
}

// waitIssued waits until every Certificate of the space is Ready and its
// Secret holds a certificate, and returns the space's PKI condition.
func waitIssued(t *testing.T, sp space.Space, timeout time.Duration) space.Condition {
	t.Helper()
	var cond space.Condition
	require.Eventually(t, func() bool {
		cond = pkiCondition(t, sp)
		return cond.Ready
	}, timeout, 100*time.Millisecond, "space %s PKI never became ready: %+v\ncert-manager log tail:\n%s",
		sp.Name, func() space.Condition { return cond }(), logTail())
	return cond
}

func pkiCondition(t *testing.T, sp space.Space) space.Condition {
	t.Helper()
	ctx := context.Background()
	var certs cmapi.CertificateList
	require.NoError(t, cluster.Client.List(ctx, &certs, client.InNamespace(sp.Name),
		client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}))
	var crs cmapi.CertificateRequestList
	require.NoError(t, cluster.Client.List(ctx, &crs, client.InNamespace(sp.Name)))
	if len(certs.Items) == 0 {
		return space.Condition{Reason: "NoCertificates"}
	}
	return pki.Ready(certs.Items, crs.Items...)
}

func logTail() string {
	s := cluster.CertManagerLog()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

func secret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	require.NoError(t, cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s))
	return &s
}

func parseChain(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		out = append(out, c)
	}
	require.NotEmpty(t, out, "no PEM certificates")
	return out
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// verify checks chain (leaf first, then whatever intermediates the Secret
// carries, as a peer would send them) against roots for usage.
func verify(chain []*x509.Certificate, roots *x509.CertPool, dnsName string, usage x509.ExtKeyUsage) error {
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: pool(chain[1:]...), DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{usage},
	})
	return err
}

// issuedPKI is one space's issued material, read from the Secrets.
type issuedPKI struct {
	sp       space.Space
	leaf     []*x509.Certificate // workload tls.crt
	caCrt    *x509.Certificate   // workload ca.crt
	ca       *x509.Certificate   // CA Secret tls.crt
	keyPair  tls.Certificate
	http     []*x509.Certificate
	caSecret *corev1.Secret
}

func readPKI(t *testing.T, sp space.Space) issuedPKI {
	t.Helper()
	w := secret(t, sp.Name, sp.WorkloadCertSecret())
	caSec := secret(t, sp.Name, sp.CASecret())
	kp, err := tls.X509KeyPair(w.Data[corev1.TLSCertKey], w.Data[corev1.TLSPrivateKeyKey])
	require.NoError(t, err)
	return issuedPKI{
		sp:       sp,
		leaf:     parseChain(t, w.Data[corev1.TLSCertKey]),
		caCrt:    parseChain(t, w.Data["ca.crt"])[0],
		ca:       parseChain(t, caSec.Data[corev1.TLSCertKey])[0],
		keyPair:  kp,
		http:     parseChain(t, secret(t, sp.Name, sp.HTTPTLSSecret()).Data[corev1.TLSCertKey]),
		caSecret: caSec,
	}
}

// Two spaces, one with its CA from a self-signed ClusterIssuer (the
// installation default), one with nothing configured (a per-space
// self-signed issuer): cert-manager issues both; each space's workload
// certificate verifies against its own CA and not the other's, for server
// and client use, with the names the sidecars answer to.
func TestSpacesGetSeparateCAs(t *testing.T) {
	cluster.Need(t)
	root := selfSignedClusterIssuer(t, "decco-spaces")
	alpha, beta := newSpace(t, "alpha"), newSpace(t, "beta")

	start := time.Now()
	create(t, pki.Objects(alpha, pki.Options{DefaultIssuer: root})...)
	create(t, pki.Objects(beta, pki.Options{})...)
	waitIssued(t, alpha, 2*time.Minute)
	alphaDone := time.Since(start)
	waitIssued(t, beta, 2*time.Minute)
	t.Logf("issuance: both spaces' CA, workload and HTTP certificates ready %s after create (alpha %s)",
		time.Since(start).Round(time.Millisecond), alphaDone.Round(time.Millisecond))

	a, b := readPKI(t, alpha), readPKI(t, beta)
	for _, p := range []issuedPKI{a, b} {
		t.Run(p.sp.Name, func(t *testing.T) {
			checkOwnPKI(t, p)
		})
	}
	other := map[string]issuedPKI{"alpha": b, "beta": a}
	for _, p := range []issuedPKI{a, b} {
		o := other[p.sp.Name]
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			assert.Error(t, verify(p.leaf, pool(o.caCrt), "", usage), "%s's leaf must not verify against %s's ca.crt", p.sp.Name, o.sp.Name)
			assert.Error(t, verify(p.leaf, pool(o.ca), "", usage), "%s's leaf must not verify against %s's CA Secret", p.sp.Name, o.sp.Name)
		}
	}

	// What the sidecars do: mutual TLS trusting the space's ca.crt.
	assert.NoError(t, handshake(t, a, a), "alpha's client must be accepted by alpha")
	assert.Error(t, handshake(t, a, b), "beta's client certificate must be refused by alpha")
	assert.Error(t, handshake(t, b, a), "alpha's client certificate must be refused by beta")

	// What the apiserver stores equals what the builder returns, so the
	// reconciler's compare-before-write sees no change on resync.
	for _, want := range pki.Objects(alpha, pki.Options{DefaultIssuer: root}) {
		live := want.DeepCopyObject().(client.Object)
		require.NoError(t, cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(want), live))
		assert.Equal(t, want.GetLabels(), live.GetLabels(), want.GetName())
		switch w := want.(type) {
		case *cmapi.Certificate:
			assert.Equal(t, w.Spec, live.(*cmapi.Certificate).Spec, w.Name)
		case *cmapi.Issuer:
			assert.Equal(t, w.Spec, live.(*cmapi.Issuer).Spec, w.Name)
		}
	}

	// The Secrets are labeled as decco's, so cleanup can find them.
	for _, name := range []string{alpha.CASecret(), alpha.WorkloadCertSecret(), alpha.HTTPTLSSecret()} {
		assert.Equal(t, space.ManagedByValue, secret(t, "alpha", name).Labels[space.LabelManagedBy], name)
	}
}

func checkOwnPKI(t *testing.T, p issuedPKI) {
	sp := p.sp
	require.NoError(t, pki.CheckCA(p.caSecret), "the space CA must be its own root")
	assert.True(t, p.ca.IsCA)
	assert.Equal(t, p.ca.Raw, p.caCrt.Raw, "workload ca.crt is the space CA")
	assert.ElementsMatch(t, []string{sp.Host(), sp.Name + ".svc", sp.Name + ".svc.cluster.local"}, p.ca.PermittedDNSDomains)
	assert.True(t, p.ca.PermittedDNSDomainsCritical)

	leaf := p.leaf[0]
	assert.ElementsMatch(t, []string{sp.Host(), "*." + sp.Host(), "*." + sp.Name + ".svc", "*." + sp.Name + ".svc.cluster.local"}, leaf.DNSNames)
	assert.Contains(t, leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	assert.Contains(t, leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	assert.False(t, leaf.IsCA)
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok, "ECDSA key, got %T", leaf.PublicKey)
	assert.Equal(t, elliptic.P256(), key.Curve)

	for _, name := range []string{sp.Host(), "db." + sp.Host(), "web." + sp.Name + ".svc", "web." + sp.Name + ".svc.cluster.local"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			assert.NoError(t, verify(p.leaf, pool(p.caCrt), name, usage), "%s as %v against ca.crt", name, usage)
			assert.NoError(t, verify(p.leaf, pool(p.ca), name, usage), "%s as %v against the CA Secret", name, usage)
		}
	}
	assert.Equal(t, []string{sp.Host()}, p.http[0].DNSNames)
	assert.NoError(t, verify(p.http, pool(p.ca), sp.Host(), x509.ExtKeyUsageServerAuth), "HTTP certificate from the space CA")
}

// handshake runs mutual TLS over loopback: server presents its workload
// certificate and trusts its ca.crt, as the sidecar does; client presents
// its own. It returns the server's verdict.
func handshake(t *testing.T, server, client issuedPKI) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.keyPair},
		ClientCAs:    pool(server.caCrt),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer ln.Close()
	result := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			result <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		result <- conn.(*tls.Conn).Handshake()
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{client.keyPair},
		RootCAs:      pool(server.caCrt),
		ServerName:   "db." + server.sp.Host(),
		MinVersion:   tls.VersionTLS12,
	})
	if err == nil {
		// TLS 1.3 reports a refused client certificate on first read.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Read(make([]byte, 1))
		conn.Close()
	}
	return <-result
}

// A space whose issuer does not exist: the condition names the problem
// instead of leaving the user to read cert-manager's logs.
func TestMissingIssuerIsExplained(t *testing.T) {
	cluster.Need(t)
	gamma := newSpace(t, "gamma")
	create(t, pki.Objects(gamma, pki.Options{DefaultIssuer: space.IssuerRef{Kind: space.KindClusterIssuer, Name: "no-such-issuer"}})...)
	var cond space.Condition
	require.Eventually(t, func() bool {
		cond = pkiCondition(t, gamma)
		return cond.Reason == pki.ReasonIssuerNotReady
	}, time.Minute, 200*time.Millisecond, "last condition: %+v", func() space.Condition { return cond }())
	assert.False(t, cond.Ready)
	assert.Contains(t, cond.Message, "no-such-issuer")
	assert.Contains(t, cond.Message, pki.CACertificateName, "the CA is reported first: nothing else can issue before it")
	t.Logf("condition: %+v", cond)
}

// Why the space CA must be self-signed: issued by a CA-type issuer, it is
// an intermediate, cert-manager writes the shared root into every space's
// ca.crt, and a peer trusting ca.crt accepts another space's client. The
// chain works, but CheckCA refuses it so the status says so.
func TestChainedSpaceCAIsFlagged(t *testing.T) {
	cluster.Need(t)
	// A shared root in cert-manager's cluster resource namespace.
	create(t, &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "shared-root"},
		Spec: cmapi.CertificateSpec{CommonName: "shared root", IsCA: true, SecretName: "shared-root",
			IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: selfSignedClusterIssuer(t, "bootstrap").Name}}})
	create(t, &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "shared-ca"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "shared-root"}}}})
	shared := space.IssuerRef{Kind: space.KindClusterIssuer, Name: "shared-ca"}

	delta, epsilon := newSpace(t, "delta"), newSpace(t, "epsilon")
	create(t, pki.Objects(delta, pki.Options{DefaultIssuer: shared})...)
	create(t, pki.Objects(epsilon, pki.Options{DefaultIssuer: shared})...)
	waitIssued(t, delta, 2*time.Minute)
	waitIssued(t, epsilon, 2*time.Minute)

	d, e := readPKI(t, delta), readPKI(t, epsilon)
	err := pki.CheckCA(d.caSecret)
	require.ErrorIs(t, err, pki.ErrCANotSelfSigned)
	assert.Contains(t, err.Error(), "shared root")
	assert.Equal(t, d.caCrt.Raw, e.caCrt.Raw, "both spaces' ca.crt is the shared root")
	assert.NoError(t, handshake(t, d, e), "the hazard CheckCA reports: delta accepts epsilon's client")
}
