package netpol_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
)

// svc is a Service of space ns as a user writes it.
func svc(ns, name string, ann map[string]string, ports ...corev1.ServicePort) corev1.Service {
	return corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{space.LabelSpace: ns}, Annotations: ann},
		Spec:       corev1.ServiceSpec{Ports: ports},
	}
}

// rewritten is s after the webhook's Service rewrite.
func rewritten(t *testing.T, s corev1.Service) corev1.Service {
	t.Helper()
	out, _, err := inject.Service(&s)
	require.NoError(t, err)
	return *out
}

func port(name string, p int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, TargetPort: target}
}

// slice is the EndpointSlice kube-controller-manager writes for Service
// svc in ns, with its named target ports resolved: Service port name ->
// number.
func slice(ns, svc string, ports map[string]int32) discoveryv1.EndpointSlice {
	sl := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-x7k2p", Labels: map[string]string{
		discoveryv1.LabelServiceName: svc,
		discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
	}}}
	for name, n := range ports {
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: new(name), Port: new(n), Protocol: new(corev1.ProtocolTCP)})
	}
	return sl
}

func TestListenerPorts(t *testing.T) {
	sp := space.Space{Name: "a1", Domain: "example.com"}
	i, s := intstr.FromInt32, intstr.FromString
	tests := []struct {
		name     string
		services func(t *testing.T) []corev1.Service
		slices   []discoveryv1.EndpointSlice
		want     []intstr.IntOrString
		wantErr  string
	}{{
		name: "numeric target rewritten by the webhook opens its listener",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{rewritten(t, svc("a1", "web", nil, port("http", 80, i(8080))))}
		},
		want: []intstr.IntOrString{i(18080)},
	}, {
		name: "absent target port means the service port, rewritten too",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{rewritten(t, svc("a1", "db", nil, port("", 3306, intstr.IntOrString{})))}
		},
		want: []intstr.IntOrString{i(13306)},
	}, {
		name: "named target follows the sidecar, by the number its EndpointSlice resolved",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("web", 80, s("http")))}
		},
		slices: []discoveryv1.EndpointSlice{slice("a1", "web", map[string]int32{"web": 18080})},
		want:   []intstr.IntOrString{i(18080)},
	}, {
		name: "pods mid-rollout resolving the name to two listeners open both",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("web", 80, s("http")))}
		},
		slices: []discoveryv1.EndpointSlice{slice("a1", "web", map[string]int32{"web": 18080}), slice("a1", "web", map[string]int32{"web": 18081})},
		want:   []intstr.IntOrString{i(18080), i(18081)},
	}, {
		name: "named target without an EndpointSlice yet (no pod selected) stays closed",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("web", 80, s("http")))}
		},
	}, {
		name: "slices written by anyone but kube-controller-manager, or of other Services and namespaces, don't count",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("web", 80, s("http")))}
		},
		slices: func() []discoveryv1.EndpointSlice {
			forged := slice("a1", "web", map[string]int32{"web": 18080})
			forged.Labels[discoveryv1.LabelManagedBy] = "tenant"
			return []discoveryv1.EndpointSlice{forged, slice("b1", "web", map[string]int32{"web": 18080}), slice("a1", "api", map[string]int32{"web": 18080})}
		}(),
	}, {
		name: "a name resolved to a number no listener can have (a pod without the sidecar) stays closed",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("web", 80, s("http")))}
		},
		slices: []discoveryv1.EndpointSlice{slice("a1", "web", map[string]int32{"web": 8080})},
	}, {
		name: "a numeric target the rewrite has not reached is the plaintext app port: closed",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("http", 80, i(8080)))}
		},
	}, {
		name: "a user-written listener number without the rewrite's record stays closed",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("http", 80, i(18080)))}
		},
	}, {
		name: "stored before the webhook refused them: app-<port> and health targets stay closed",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", nil, port("a", 80, s("app-8080")), port("b", 81, s(inject.HealthName)))}
		},
	}, {
		name: "a forged record stored before the webhook replaced it never opens the health port",
		services: func(t *testing.T) []corev1.Service {
			return []corev1.Service{svc("a1", "web", map[string]string{space.AnnotationRewrittenPorts: "443=5021"}, port("tls", 443, i(15021)))}
		},
	}, {
		name: "target changed after the rewrite no longer matches the record: closed",
		services: func(t *testing.T) []corev1.Service {
			out := rewritten(t, svc("a1", "web", nil, port("http", 80, i(8080))))
			out.Spec.Ports[0].TargetPort = i(8081)
			return []corev1.Service{out}
		},
	}, {
		name: "plaintext ports stay closed, numeric or named",
		services: func(t *testing.T) []corev1.Service {
			ann := map[string]string{space.AnnotationPlaintextPorts: "metrics,9100,debug"}
			return []corev1.Service{rewritten(t, svc("a1", "web", ann,
				port("http", 80, i(8080)), port("metrics", 9090, s("metrics")), port("node", 9100, i(9100)),
				port("dbg", 7000, s("debug"))))}
		},
		slices: []discoveryv1.EndpointSlice{slice("a1", "web", map[string]int32{"metrics": 19090, "dbg": 17000})},
		want:   []intstr.IntOrString{i(18080)},
	}, {
		name: "UDP has no TLS listener",
		services: func(t *testing.T) []corev1.Service {
			p := port("dns", 53, s("dns"))
			p.Protocol = corev1.ProtocolUDP
			return []corev1.Service{svc("a1", "dns", nil, p)}
		},
	}, {
		name: "services of other spaces, unlabeled or ExternalName don't count",
		services: func(t *testing.T) []corev1.Service {
			other := rewritten(t, svc("b1", "web", nil, port("http", 80, i(8080))))
			unlabeled := svc("a1", "plain", nil, port("http", 80, s("http")))
			unlabeled.Labels = nil
			foreign := svc("a1", "foreign", nil, port("http", 80, s("http")))
			foreign.Labels[space.LabelSpace] = "b1"
			ext := svc("a1", "ext", nil, port("http", 80, s("http")))
			ext.Spec.Type = corev1.ServiceTypeExternalName
			return []corev1.Service{other, unlabeled, foreign, ext}
		},
		slices: []discoveryv1.EndpointSlice{
			slice("a1", "plain", map[string]int32{"http": 18080}),
			slice("a1", "foreign", map[string]int32{"http": 18080}),
			slice("a1", "ext", map[string]int32{"http": 18080}),
		},
	}, {
		name: "a broken service is named in the error and the others still open",
		services: func(t *testing.T) []corev1.Service {
			bad := svc("a1", "bad", map[string]string{space.AnnotationDNS: "yes"}, port("http", 80, s("http")))
			return []corev1.Service{bad, svc("a1", "good", nil, port("amqp", 5671, s("amqp")))}
		},
		slices:  []discoveryv1.EndpointSlice{slice("a1", "bad", map[string]int32{"http": 18080}), slice("a1", "good", map[string]int32{"amqp": 15671})},
		want:    []intstr.IntOrString{i(15671)},
		wantErr: "service a1/bad: its ports stay closed",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := netpol.ListenerPorts(sp, tt.services(t), tt.slices)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, space.AnnotationDNS, "the error names the bad key")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// In cni mode the sidecar serves TLS on the target ports themselves:
// numeric and resolved named targets are opened as they are, plaintext
// ones and the sidecar's health port never.
func TestTransparentPorts(t *testing.T) {
	sp := space.Space{Name: "acme", Domain: "example.com"}
	services := []corev1.Service{
		svc("acme", "rabbitmq", nil, port("amqp", 5672, intstr.FromInt32(5672)), port("http-stats", 15672, intstr.FromString("stats"))),
		svc("acme", "web", nil, port("http", 80, intstr.FromInt32(8080))),
		svc("acme", "bare", nil, port("", 6379, intstr.IntOrString{})),
		svc("acme", "metrics", map[string]string{space.AnnotationPlaintextPorts: "9121"}, port("metrics", 9121, intstr.FromInt32(9121))),
		svc("acme", "sneaky", nil, port("h", 1, intstr.FromInt32(15021))),
		svc("other", "elsewhere", nil, port("x", 1, intstr.FromInt32(1234))),
	}
	slices := []discoveryv1.EndpointSlice{slice("acme", "rabbitmq", map[string]int32{"http-stats": 15672})}
	got, err := netpol.TransparentPorts(sp, services, slices)
	require.NoError(t, err)
	assert.Equal(t, []intstr.IntOrString{intstr.FromInt32(5672), intstr.FromInt32(15672), intstr.FromInt32(8080), intstr.FromInt32(6379)}, got)
}
