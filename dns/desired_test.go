package dns

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/space"
)

var shop = space.Space{Name: "shop", Domain: "example.com"}

func service(ns, name string, ann map[string]string) corev1.Service {
	return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann,
		Labels: map[string]string{space.LabelSpace: ns}}}
}

func withDNS(name string) corev1.Service {
	return service("shop", name, map[string]string{space.AnnotationDNS: "true"})
}

func TestDesired(t *testing.T) {
	services := []corev1.Service{
		withDNS("mq"),
		withDNS("db"),
		service("shop", "cache", nil), // TCP without decco.io/dns
		service("shop", "web", map[string]string{space.AnnotationHTTPPath: "/", space.AnnotationDNS: "true"}), // HTTP: on the space name
		service("shop", "bad", map[string]string{space.AnnotationDNS: "yes"}),                                 // invalid: route reports it
		service("other", "x", map[string]string{space.AnnotationDNS: "true"}),                                 // another space's
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ext", Labels: map[string]string{space.LabelSpace: "shop"},
			Annotations: map[string]string{space.AnnotationDNS: "true"}}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}},
		withDNS(strings.Repeat("s", 64)), // name makes an invalid DNS name
	}
	for _, tc := range []struct {
		name    string
		targets []string
		want    []Record
	}{
		{
			name:    "IPv4",
			targets: []string{"203.0.113.7", "192.0.2.1", "203.0.113.7"},
			want: []Record{
				{Name: "db.shop.example.com", Targets: []string{"192.0.2.1", "203.0.113.7"}, TTL: 60},
				{Name: "mq.shop.example.com", Targets: []string{"192.0.2.1", "203.0.113.7"}, TTL: 60},
				{Name: "shop.example.com", Targets: []string{"192.0.2.1", "203.0.113.7"}, TTL: 60},
			},
		},
		{
			name:    "dual stack gives A and AAAA",
			targets: []string{"2001:DB8::1", "192.0.2.1", "::ffff:192.0.2.2"},
			want: []Record{
				{Name: "db.shop.example.com", Targets: []string{"192.0.2.1", "192.0.2.2"}, TTL: 60},
				{Name: "db.shop.example.com", Targets: []string{"2001:db8::1"}, TTL: 60},
				{Name: "mq.shop.example.com", Targets: []string{"192.0.2.1", "192.0.2.2"}, TTL: 60},
				{Name: "mq.shop.example.com", Targets: []string{"2001:db8::1"}, TTL: 60},
				{Name: "shop.example.com", Targets: []string{"192.0.2.1", "192.0.2.2"}, TTL: 60},
				{Name: "shop.example.com", Targets: []string{"2001:db8::1"}, TTL: 60},
			},
		},
		{
			name:    "hostname gives one CNAME",
			targets: []string{"LB-2.Example.NET.", "lb-1.example.net"},
			want: []Record{
				{Name: "db.shop.example.com", Targets: []string{"lb-1.example.net"}, TTL: 60},
				{Name: "mq.shop.example.com", Targets: []string{"lb-1.example.net"}, TTL: 60},
				{Name: "shop.example.com", Targets: []string{"lb-1.example.net"}, TTL: 60},
			},
		},
		{
			name:    "IPs win over hostnames: a CNAME can't sit beside an A",
			targets: []string{"lb.example.net", "192.0.2.1"},
			want: []Record{
				{Name: "db.shop.example.com", Targets: []string{"192.0.2.1"}, TTL: 60},
				{Name: "mq.shop.example.com", Targets: []string{"192.0.2.1"}, TTL: 60},
				{Name: "shop.example.com", Targets: []string{"192.0.2.1"}, TTL: 60},
			},
		},
		{name: "no address yet", targets: nil, want: nil},
		{name: "only garbage", targets: []string{"", "not a name", "fe80::1%eth0"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Desired(shop, services, tc.targets, 60)
			assert.Equal(t, tc.want, got)
			for _, r := range got {
				assert.NotEmpty(t, r.Type())
			}
		})
	}
}

func TestDesiredSpaceNameAlways(t *testing.T) {
	assert.Equal(t, []Record{{Name: "shop.example.com", Targets: []string{"192.0.2.1"}}},
		Desired(shop, nil, []string{"192.0.2.1"}, 0))
}

func TestDesiredDeterministic(t *testing.T) {
	svcs := []corev1.Service{withDNS("a"), withDNS("b"), withDNS("c")}
	first := Desired(shop, svcs, []string{"192.0.2.2", "192.0.2.1"}, 0)
	rev := slices.Clone(svcs)
	slices.Reverse(rev)
	assert.Equal(t, first, Desired(shop, rev, []string{"192.0.2.1", "192.0.2.2"}, 0))
	assert.Equal(t, "a", svcs[0].Name, "the caller's slice is not reordered")
}
