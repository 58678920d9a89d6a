package inject

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/space"
)

func svc(ann map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "team-a",
			Labels: map[string]string{space.LabelSpace: "team-a"}, Annotations: ann},
		Spec: corev1.ServiceSpec{Ports: ports},
	}
}

func sport(name string, port int32, target intstr.IntOrString, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: target, Protocol: proto}
}

func targets(s *corev1.Service) []intstr.IntOrString {
	var out []intstr.IntOrString
	for _, p := range s.Spec.Ports {
		out = append(out, p.TargetPort)
	}
	return out
}

func TestService(t *testing.T) {
	in := svc(map[string]string{space.AnnotationPlaintextPorts: "metrics"},
		sport("mysql", 3306, intstr.IntOrString{}, ""),               // absent target = port
		sport("web", 80, intstr.FromInt32(8080), corev1.ProtocolTCP), // numeric
		sport("named", 443, intstr.FromString("https"), ""),          // named: follows the sidecar
		sport("dns", 53, intstr.FromInt32(53), corev1.ProtocolUDP),   // not TCP
		sport("metrics", 9090, intstr.FromInt32(9090), ""),           // plaintext
		sport("high", 60000, intstr.FromInt32(60000), ""),            // above 55535
	)
	before := in.DeepCopy()
	out, changed, err := Service(in)
	if err != nil || !changed {
		t.Fatalf("Service: %v %v", changed, err)
	}
	if !reflect.DeepEqual(in, before) {
		t.Fatal("Service modified its input")
	}
	want := []intstr.IntOrString{intstr.FromInt32(13306), intstr.FromInt32(18080), intstr.FromString("https"),
		intstr.FromInt32(53), intstr.FromInt32(9090), intstr.FromInt32(50000)}
	if got := targets(out); !reflect.DeepEqual(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
	if got := out.Annotations[space.AnnotationRewrittenPorts]; got != "80=8080,3306=3306,60000=60000" {
		t.Errorf("record %q", got)
	}
	again, changed, err := Service(out)
	if err != nil || changed || again != out {
		t.Fatalf("second run changed the Service: %v %v", changed, err)
	}
	// The user sets targetPort again (kubectl apply): it is taken as the new
	// app port.
	edited := out.DeepCopy()
	edited.Spec.Ports[1].TargetPort = intstr.FromInt32(8081)
	re, changed, _ := Service(edited)
	if !changed || re.Spec.Ports[1].TargetPort != intstr.FromInt32(18081) || re.Annotations[space.AnnotationRewrittenPorts] != "80=8081,3306=3306,60000=60000" {
		t.Errorf("edited: %v %v %q", changed, targets(re), re.Annotations[space.AnnotationRewrittenPorts])
	}
	// A port that became plaintext gets its original target back.
	plain := out.DeepCopy()
	plain.Annotations[space.AnnotationPlaintextPorts] = "metrics,80"
	re, changed, _ = Service(plain)
	if !changed || re.Spec.Ports[1].TargetPort != intstr.FromInt32(8080) || re.Annotations[space.AnnotationRewrittenPorts] != "3306=3306,60000=60000" {
		t.Errorf("became plaintext: %v %v %q", changed, targets(re), re.Annotations[space.AnnotationRewrittenPorts])
	}
	if _, changed, _ := Service(re); changed {
		t.Error("plaintext result not stable")
	}
}

func TestServicePlaintextMatching(t *testing.T) {
	// By Service port name, Service port number and target port number.
	for _, ref := range []string{"web", "80", "8080"} {
		in := svc(map[string]string{space.AnnotationPlaintextPorts: ref}, sport("web", 80, intstr.FromInt32(8080), ""))
		out, changed, err := Service(in)
		if err != nil || changed || out != in {
			t.Errorf("%s: %v %v", ref, changed, err)
		}
	}
}

func TestServiceUntouched(t *testing.T) {
	noLabel := svc(nil, sport("web", 80, intstr.FromInt32(8080), ""))
	noLabel.Labels = nil
	ext := svc(nil)
	ext.Spec.Type = corev1.ServiceTypeExternalName
	named := svc(nil, sport("web", 80, intstr.FromString("http"), ""))
	for name, s := range map[string]*corev1.Service{"no label": noLabel, "external": ext, "named": named} {
		out, changed, err := Service(s)
		if err != nil || changed || out != s {
			t.Errorf("%s: %v %v", name, changed, err)
		}
	}
}

func TestServiceErrors(t *testing.T) {
	bad := svc(map[string]string{space.AnnotationPlaintextPorts: "a b"}, sport("web", 80, intstr.FromInt32(8080), ""))
	if _, _, err := Service(bad); err == nil || !strings.Contains(err.Error(), space.AnnotationPlaintextPorts) {
		t.Errorf("bad annotation: %v", err)
	}
	wrong := svc(nil)
	wrong.Labels[space.LabelSpace] = "team-b"
	if _, _, err := Service(wrong); err == nil || !strings.Contains(err.Error(), `set it to "team-a"`) {
		t.Errorf("wrong space: %v", err)
	}
	forged := svc(map[string]string{space.AnnotationRewrittenPorts: "x"})
	if _, _, err := Service(forged); err == nil || !strings.Contains(err.Error(), space.AnnotationRewrittenPorts) {
		t.Errorf("bad record: %v", err)
	}
}

// decco's own annotations come from the stored Service, never from the
// request: a forged record would make a target look rewritten already.
func TestTrustedService(t *testing.T) {
	forged := map[string]string{space.AnnotationRewrittenPorts: "443=5021", space.AnnotationStatus: "x", space.AnnotationInjected: "y", "team": "a"}
	stored := svc(map[string]string{space.AnnotationRewrittenPorts: "443=8443"})
	unlabeled := svc(map[string]string{space.AnnotationRewrittenPorts: "443=5021"})
	unlabeled.Labels = nil
	for _, tt := range []struct {
		name string
		old  *corev1.Service
		want map[string]string
	}{
		{"create: removed", nil, map[string]string{"team": "a"}},
		{"update: the stored record", stored, map[string]string{"team": "a", space.AnnotationRewrittenPorts: "443=8443"}},
		{"update of a Service decco never rewrote: removed", unlabeled, map[string]string{"team": "a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := svc(forged)
			before := in.DeepCopy()
			got := TrustedService(in, tt.old)
			if !reflect.DeepEqual(got.Annotations, tt.want) {
				t.Errorf("annotations %v, want %v", got.Annotations, tt.want)
			}
			if !reflect.DeepEqual(in, before) {
				t.Error("TrustedService modified its input")
			}
		})
	}
	// The forged record on create: the target is rewritten like any other.
	in := svc(forged, sport("tls", 443, intstr.FromInt32(15021), ""))
	out, _, err := Service(TrustedService(in, nil))
	if err != nil || out.Spec.Ports[0].TargetPort != intstr.FromInt32(25021) || out.Annotations[space.AnnotationRewrittenPorts] != "443=15021" {
		t.Errorf("forged record on create: %v %v %v", targets(out), out.Annotations, err)
	}
}

// A Service may not reach the app's plaintext port by its app-<port>
// name, nor the sidecar's health port.
func TestServiceReservedTargets(t *testing.T) {
	for _, tt := range []struct {
		name string
		port corev1.ServicePort
		ann  map[string]string
		want string // "" for accepted
	}{
		{"app port by name", sport("web", 80, intstr.FromString("app-8080"), ""), nil, `targets the application's plaintext port "app-8080"`},
		{"health port by name", sport("web", 80, intstr.FromString(HealthName), ""), nil, "decco's health port decco-health"},
		{"health port kept plaintext", sport("web", 80, intstr.FromInt32(15021), ""), map[string]string{space.AnnotationPlaintextPorts: "80"}, "decco's health port 15021"},
		{"an app port whose listener is the health port", sport("web", 80, intstr.FromInt32(5021), ""), nil, "decco's health port 15021"},
		{"the port's own name", sport("web", 80, intstr.FromString("http"), ""), nil, ""},
		{"UDP is not decco's", sport("dns", 53, intstr.FromString("app-53"), corev1.ProtocolUDP), nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Service(svc(tt.ann, tt.port))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "set targetPort")):
				t.Fatalf("error %v, want it to contain %q and a fix", err, tt.want)
			}
		})
	}
}

// A Service rewritten in ports mode gets its targets back in cni mode:
// those decco moved and the user left alone; the record goes.
func TestRestoreService(t *testing.T) {
	rewritten := func(ann string, ports ...corev1.ServicePort) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web", Labels: map[string]string{space.LabelSpace: "team-a"}},
			Spec: corev1.ServiceSpec{Ports: ports}}
		if ann != "" {
			s.Annotations = map[string]string{space.AnnotationRewrittenPorts: ann, "keep": "me"}
		}
		return s
	}
	sp := func(port int32, target intstr.IntOrString) corev1.ServicePort {
		return corev1.ServicePort{Port: port, TargetPort: target}
	}
	i, s := intstr.FromInt32, intstr.FromString
	for _, tc := range []struct {
		name    string
		in      *corev1.Service
		want    *corev1.Service
		changed bool
	}{
		{"rewritten targets go back, the record goes",
			rewritten("80=8080,5672=5672", sp(80, i(18080)), sp(5672, i(15672)), sp(9090, s("metrics"))),
			rewritten("", sp(80, i(8080)), sp(5672, i(5672)), sp(9090, s("metrics"))), true},
		{"a target the user changed since stays theirs",
			rewritten("80=8080", sp(80, i(8081))), rewritten("", sp(80, i(8081))), true},
		{"a port above 55535 went down by 10000", rewritten("60000=60000", sp(60000, i(50000))), rewritten("", sp(60000, i(60000))), true},
		{"no record: untouched", rewritten("", sp(80, i(18080))), rewritten("", sp(80, i(18080))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := RestoreService(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.changed, changed)
			if tc.changed {
				tc.want.Annotations = map[string]string{"keep": "me"}
			}
			assert.Equal(t, tc.want, got)
		})
	}
	_, _, err := RestoreService(rewritten("80=x", sp(80, i(18080))))
	assert.ErrorContains(t, err, "service team-a/web")
}
