package reconciler

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// An invalid space says, in every part, which key is wrong and how to
// fix it.
func TestInvalidStatus(t *testing.T) {
	ns := &metav1.ObjectMeta{Name: "shop", Labels: map[string]string{space.LabelSpace: "shop"},
		Annotations: map[string]string{space.AnnotationDomain: "Not A Domain", space.AnnotationEncryptHTTP: "yes"}}
	_, err := space.FromNamespace(ns)
	require.Error(t, err)
	st := invalidStatus(err)
	require.Len(t, st.Parts, len(space.Parts))
	for _, p := range space.Parts {
		c := st.Parts[p]
		assert.False(t, c.Ready)
		assert.Equal(t, ReasonInvalidSpace, c.Reason)
		assert.Contains(t, c.Message, space.AnnotationDomain)
		assert.Contains(t, c.Message, space.AnnotationEncryptHTTP)
		assert.Contains(t, c.Message, "decco changes nothing")
	}
	assert.False(t, st.Ready())
}

func TestRoutesCondition(t *testing.T) {
	taken := route.Conflict{Hostname: "db.shop.x.io", Owner: "db", Reason: route.ReasonHostnameTaken,
		Message: `hostname db.shop.x.io is held by space "db"`}
	bad := route.Conflict{Service: "web", Reason: route.ReasonInvalidPath, Message: "bad path"}
	for _, tc := range []struct {
		name      string
		err       error
		conflicts []route.Conflict
		want      space.Condition
	}{
		{"applied", nil, nil, space.Condition{Ready: true, Reason: ReasonApplied}},
		{"hostname collision leads the message", nil, []route.Conflict{bad, taken},
			space.Condition{Reason: route.ReasonHostnameTaken, Message: taken.Message + "; bad path"}},
		{"write failure wins", errors.New("boom"), []route.Conflict{taken},
			space.Condition{Reason: ReasonApplyFailed, Message: "boom"}},
		{"a user's object holds the name", fmt.Errorf("HTTPRoute shop/decco-web: %w", errNameInUse), nil,
			space.Condition{Reason: ReasonNameInUse, Message: "HTTPRoute shop/decco-web: " + errNameInUse.Error() +
				"; rename or delete that object, or remove its name from the space, and decco creates its own"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, routesCondition(tc.err, tc.conflicts))
		})
	}
}

func TestDNSCondition(t *testing.T) {
	off := dnsCondition(false, nil, "Gateway gw/shared", nil, 0)
	assert.True(t, off.Ready)
	assert.Equal(t, ReasonDNSDisabled, off.Reason)

	waiting := dnsCondition(true, nil, "Gateway gw/shared", nil, 0)
	assert.False(t, waiting.Ready)
	assert.Equal(t, ReasonNoAddress, waiting.Reason)
	assert.Contains(t, waiting.Message, "Gateway gw/shared")

	failed := dnsCondition(true, []string{"192.0.2.1"}, "", errors.New("refused"), 1)
	assert.Equal(t, space.Condition{Reason: ReasonDNSFailed, Message: "refused"}, failed)

	ok := dnsCondition(true, []string{"192.0.2.1"}, "", nil, 2)
	assert.True(t, ok.Ready)
	assert.Equal(t, "2 record(s) pointing at 192.0.2.1", ok.Message)
}

func TestPoliciesCondition(t *testing.T) {
	assert.True(t, policiesCondition(nil, nil).Ready)
	c := policiesCondition(nil, errors.New("service shop/db: its ports stay closed"))
	assert.False(t, c.Ready)
	assert.Equal(t, ReasonServiceInvalid, c.Reason)
}

func certificate(name string, ready bool) *certmanagerv1.Certificate {
	c := &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
	status := cmmeta.ConditionFalse
	if ready {
		status = cmmeta.ConditionTrue
	}
	c.Status.Conditions = []certmanagerv1.CertificateCondition{{Type: certmanagerv1.CertificateConditionReady, Status: status}}
	return c
}

func TestPKICondition(t *testing.T) {
	desired := []client.Object{certificate(pki.CACertificateName, false), certificate(pki.WorkloadCertificateName, false)}
	haveBoth := owned{objects: map[objKey]client.Object{
		{"Certificate", pki.CACertificateName}:       certificate(pki.CACertificateName, true),
		{"Certificate", pki.WorkloadCertificateName}: certificate(pki.WorkloadCertificateName, true),
	}}
	haveCA := owned{objects: map[objKey]client.Object{
		{"Certificate", pki.CACertificateName}: certificate(pki.CACertificateName, true),
	}}
	for _, tc := range []struct {
		name    string
		desired []client.Object
		have    owned
		facts   pkiFacts
		err     error
		ready   bool
		reason  string
	}{
		{"issued", desired, haveBoth, pkiFacts{}, nil, true, pki.ReasonIssued},
		{"just created", desired, haveCA, pkiFacts{}, nil, false, pki.ReasonIssuing},
		{"CA chains to a shared root", desired, haveBoth, pkiFacts{caErr: pki.ErrCANotSelfSigned}, nil, false, pki.ReasonCANotSelfSigned},
		{"bring your own, present", nil, owned{}, pkiFacts{}, nil, true, ReasonBringYourOwn},
		{"bring your own, missing", nil, owned{}, pkiFacts{missing: []string{"decco.io/tcp-cert-secret names Secret shop/mine"}}, nil, false, ReasonSecretMissing},
		{"write failed", desired, haveBoth, pkiFacts{}, errors.New("forbidden"), false, ReasonApplyFailed},
		{"bring your own, unreadable", nil, owned{}, pkiFacts{unreadable: []string{"decco.io/tcp-cert-secret names Secret shop/mine"}}, nil, false, ReasonSecretUnreadable},
		{"bring your own, not read", nil, owned{}, pkiFacts{unchecked: []string{"decco.io/tcp-cert-secret=mine"}}, nil, true, ReasonBringYourOwn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pkiCondition(tc.desired, tc.have, nil, tc.facts, tc.err)
			assert.Equal(t, tc.ready, c.Ready, c.Message)
			assert.Equal(t, tc.reason, c.Reason)
		})
	}
}

// Without the right to read tenants' Secrets, a ready pki part says
// which Secrets decco did not check and, when the gateway must verify
// pods against the tenant's CA, what the tenant has to publish; a part
// that is not ready leads with its own problem.
func TestPKIConditionSaysWhatIsLeftToTheTenant(t *testing.T) {
	facts := pkiFacts{unchecked: []string{"decco.io/tcp-cert-secret=mine"}, tenantBundle: true}
	http := []client.Object{certificate(pki.HTTPCertificateName, false)}
	issued := owned{objects: map[objKey]client.Object{{"Certificate", pki.HTTPCertificateName}: certificate(pki.HTTPCertificateName, true)}}
	for _, tc := range []struct {
		name    string
		desired []client.Object
		have    owned
		reason  string
	}{
		{"every certificate brought", nil, owned{}, ReasonBringYourOwn},
		{"decco issues the HTTP one", http, issued, pki.ReasonIssued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pkiCondition(tc.desired, tc.have, nil, facts, nil)
			assert.True(t, c.Ready)
			assert.Equal(t, tc.reason, c.Reason)
			assert.Contains(t, c.Message, "decco does not read decco.io/tcp-cert-secret=mine")
			assert.Contains(t, c.Message, "--verify-byo-secrets")
			assert.Contains(t, c.Message, "tenant's responsibility")
			assert.Contains(t, c.Message, "ConfigMap "+route.CABundleConfigMap+" (key "+route.CABundleKey+")")
		})
	}
	issuing := pkiCondition(http, owned{}, nil, facts, nil)
	assert.Equal(t, pki.ReasonIssuing, issuing.Reason)
	assert.NotContains(t, issuing.Message, "tenant")
	assert.Equal(t, "the space brings its own certificates (decco.io/tcp-cert-secret, decco.io/http-cert-secret)",
		pkiCondition(nil, owned{}, nil, pkiFacts{}, nil).Message, "nothing left out: nothing to say")
}

// One Event per status change, Warning when a part goes down, with the
// reason the user must act on first.
func TestTransition(t *testing.T) {
	up := allParts(space.Condition{Ready: true, Reason: ReasonApplied})
	with := func(st space.Status, part string, c space.Condition) space.Status {
		out := space.Status{Parts: maps.Clone(st.Parts)}
		out.Parts[part] = c
		return out
	}
	taken := space.Condition{Reason: route.ReasonHostnameTaken, Message: "held by db"}
	issuing := space.Condition{Reason: pki.ReasonIssuing, Message: "1 of 2 certificates issued"}
	issued := space.Condition{Ready: true, Reason: pki.ReasonIssued}
	published := space.Condition{Ready: true, Reason: ReasonPublished, Message: "2 record(s) pointing at 192.0.2.1"}
	first := with(with(up, space.PartPKI, issued), space.PartDNS, published)
	for _, tc := range []struct {
		name     string
		old, new space.Status
		want     *nsEvent
	}{
		{"nothing changed", up, up, nil},
		{"same reason, new message", with(up, space.PartRoutes, taken),
			with(up, space.PartRoutes, space.Condition{Reason: route.ReasonHostnameTaken, Message: "held by db2"}), nil},
		{"a part goes down", up, with(up, space.PartRoutes, taken),
			&nsEvent{corev1.EventTypeWarning, route.ReasonHostnameTaken, "routes not ready: held by db"}},
		{"and comes back", with(up, space.PartRoutes, taken), up,
			&nsEvent{corev1.EventTypeNormal, ReasonApplied, "routes ready"}},
		{"a first convergence is one Event", space.Status{}, first,
			&nsEvent{corev1.EventTypeNormal, ReasonReady, "pki ready; policies, routes ready; dns ready: 2 record(s) pointing at 192.0.2.1"}},
		{"certificates still issuing", space.Status{}, with(up, space.PartPKI, issuing),
			&nsEvent{corev1.EventTypeWarning, pki.ReasonIssuing, "pki not ready: 1 of 2 certificates issued; policies, routes, dns ready"}},
		{"a refusal outranks issuing", space.Status{}, with(with(up, space.PartPKI, issuing), space.PartRoutes, taken),
			&nsEvent{corev1.EventTypeWarning, route.ReasonHostnameTaken,
				"routes not ready: held by db; pki not ready: 1 of 2 certificates issued; policies, dns ready"}},
		{"an invalid space", up, allParts(space.Condition{Reason: ReasonInvalidSpace, Message: "bad domain"}),
			&nsEvent{corev1.EventTypeWarning, ReasonInvalidSpace, "pki, policies, routes, dns not ready: bad domain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := transition(tc.old, tc.new)
			if tc.want == nil {
				assert.False(t, ok, "no Event: %+v", ev)
				return
			}
			require.True(t, ok)
			assert.Equal(t, *tc.want, ev)
		})
	}
	long := allParts(space.Condition{Reason: "X", Message: strings.Repeat("x", 5000)})
	ev, _ := transition(up, long)
	assert.LessOrEqual(t, len(ev.Note), maxNote)
}

// Certificates this reconcile created are judged as cert-manager will
// first show them, with no status: the next reconcile, reading them from
// the cache, computes the same condition, so the status is written once.
func TestPKIConditionOfJustCreatedCertificates(t *testing.T) {
	fresh := func(name string) *certmanagerv1.Certificate {
		return &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
	}
	desired := []client.Object{fresh(pki.WorkloadCertificateName), fresh(pki.CACertificateName)}
	inCache := owned{objects: map[objKey]client.Object{
		{"Certificate", pki.CACertificateName}:       fresh(pki.CACertificateName),
		{"Certificate", pki.WorkloadCertificateName}: fresh(pki.WorkloadCertificateName),
	}}
	first := pkiCondition(desired, owned{}, nil, pkiFacts{}, nil)
	assert.Equal(t, pkiCondition(desired, inCache, nil, pkiFacts{}, nil), first)
	assert.Equal(t, space.Condition{Reason: pki.ReasonIssuing, Message: "Certificate shop/decco-ca: waiting for cert-manager to issue it"}, first,
		"the CA first: nothing issues before it")
}
