package space

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/sidecar"
)

func pod(ann map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a",
		Labels: map[string]string{LabelSpace: "team-a"}, Annotations: ann}}
}

func TestWorkloadFromPodValid(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want Workload
	}{
		{"defaults", nil, Workload{Space: "team-a", VerifyClient: true}},
		{"inject true", map[string]string{AnnotationInject: "true"}, Workload{Space: "team-a", VerifyClient: true}},
		{"opt out skips the rest", map[string]string{AnnotationInject: "false", AnnotationEgress: "garbage"},
			Workload{Space: "team-a", OptOut: true, VerifyClient: true}},
		{"tls ports", map[string]string{AnnotationTLSPorts: "http, 8443 ,\tgrpc"},
			Workload{Space: "team-a", VerifyClient: true, TLSPorts: []PortRef{{Name: "http"}, {Number: 8443}, {Name: "grpc"}}}},
		{"plaintext ports", map[string]string{AnnotationPlaintextPorts: "metrics,9090"},
			Workload{Space: "team-a", VerifyClient: true, PlaintextPorts: []PortRef{{Name: "metrics"}, {Number: 9090}}}},
		{"both disjoint", map[string]string{AnnotationTLSPorts: "http", AnnotationPlaintextPorts: "metrics"},
			Workload{Space: "team-a", VerifyClient: true, TLSPorts: []PortRef{{Name: "http"}}, PlaintextPorts: []PortRef{{Name: "metrics"}}}},
		{"verify false", map[string]string{AnnotationVerifyClient: "false"}, Workload{Space: "team-a", VerifyClientSet: true}},
		{"verify true", map[string]string{AnnotationVerifyClient: "true"}, Workload{Space: "team-a", VerifyClient: true, VerifyClientSet: true}},
		{"egress", map[string]string{AnnotationEgress: "13306=mysql.team-b.example.com:3306, 15672=rabbit:5671"},
			Workload{Space: "team-a", VerifyClient: true, Egress: []sidecar.Egress{
				{LocalPort: 13306, Host: "mysql.team-b.example.com", Port: 3306}, {LocalPort: 15672, Host: "rabbit", Port: 5671}}}},
		{"port 65535", map[string]string{AnnotationTLSPorts: "65535", AnnotationEgress: "1=a:65535"},
			Workload{Space: "team-a", VerifyClient: true, TLSPorts: []PortRef{{Number: 65535}}, Egress: []sidecar.Egress{{LocalPort: 1, Host: "a", Port: 65535}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WorkloadFromPod(pod(tt.ann))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWorkloadFromPodTemplate(t *testing.T) {
	tpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{
		Labels: map[string]string{LabelSpace: "team-a"}, Annotations: map[string]string{AnnotationTLSPorts: "http"}}}
	w, err := WorkloadFromPod(&tpl.ObjectMeta)
	if err != nil || w.TLSPorts[0].Name != "http" {
		t.Fatalf("got %+v, %v", w, err)
	}
}

func TestWorkloadFromPodNotASpace(t *testing.T) {
	p := pod(nil)
	p.Labels = nil
	if _, err := WorkloadFromPod(p); !errors.Is(err, ErrNotASpace) {
		t.Fatalf("got %v, want ErrNotASpace", err)
	}
}

func TestWorkloadFromPodInvalid(t *testing.T) {
	portFix := "write comma-separated container port names or numbers"
	egressFix := "write comma-separated localPort=host:port entries"
	tests := []struct {
		name, key, value string
		extra            map[string]string
		want             []string
	}{
		{"inject yes", AnnotationInject, "yes", nil, []string{`must be "true" or "false"`}},
		{"inject empty", AnnotationInject, "", nil, []string{`must be "true" or "false"`}},
		{"verify 0", AnnotationVerifyClient, "0", nil, []string{`must be "true" or "false"`, "default (true)"}},
		{"tls empty", AnnotationTLSPorts, "", nil, []string{"is empty", portFix}},
		{"tls empty entry", AnnotationTLSPorts, "http,,grpc", nil, []string{"entry 2 is empty", portFix}},
		{"tls trailing comma", AnnotationTLSPorts, "http,", nil, []string{"entry 2 is empty"}},
		{"tls newline", AnnotationTLSPorts, "http\n", nil, []string{`"http\n"`, "neither a port number"}},
		{"tls space inside", AnnotationTLSPorts, "ht tp", nil, []string{`entry "ht tp"`}},
		{"tls zero", AnnotationTLSPorts, "0", nil, []string{`entry "0"`}},
		{"tls too big", AnnotationTLSPorts, "65536", nil, []string{`entry "65536"`}},
		{"tls leading zero", AnnotationTLSPorts, "080", nil, []string{`entry "080"`}},
		{"tls sign", AnnotationTLSPorts, "+80", nil, []string{`entry "+80"`}},
		{"tls upper", AnnotationTLSPorts, "HTTP", nil, []string{`entry "HTTP"`}},
		{"tls name too long", AnnotationTLSPorts, "abcdefghijklmnop", nil, []string{"at most 15 characters"}},
		{"tls duplicate", AnnotationTLSPorts, "http,http", nil, []string{"listed twice", "list each port once"}},
		{"tls non-ascii", AnnotationTLSPorts, "httpé", nil, []string{"neither a port number"}},
		{"plaintext semicolon", AnnotationPlaintextPorts, "metrics;x", nil, []string{`entry "metrics;x"`, portFix}},
		{"in both", AnnotationPlaintextPorts, "8080", map[string]string{AnnotationTLSPorts: "8080"},
			[]string{"also listed in decco.io/tls-ports", "only one of the two"}},
		{"egress empty", AnnotationEgress, "", nil, []string{"is empty", egressFix}},
		{"egress no eq", AnnotationEgress, "13306", nil, []string{"is not localPort=host:port", egressFix}},
		{"egress no port", AnnotationEgress, "13306=db", nil, []string{"is not localPort=host:port"}},
		{"egress two eq", AnnotationEgress, "1=2=db:3", nil, []string{`host "2=db"`}},
		{"egress extra eq in host", AnnotationEgress, "1=db=x:3", nil, []string{`host "db=x"`}},
		{"egress bracket", AnnotationEgress, "1=[::1]:3", nil, []string{`host "["`}},
		{"egress newline", AnnotationEgress, "1=db:3\n[x]", nil, []string{`port "3\n[x]"`, `"1=db:3\n[x]"`}},
		{"egress space inside", AnnotationEgress, "1 =db:3", nil, []string{`local port "1 "`}},
		{"egress semicolon", AnnotationEgress, "1=db:3;2=db:4", nil, []string{`port "3;2=db:4"`}},
		{"egress local 0", AnnotationEgress, "0=db:3", nil, []string{`local port "0"`}},
		{"egress port big", AnnotationEgress, "1=db:70000", nil, []string{`port "70000"`}},
		{"egress upper host", AnnotationEgress, "1=DB:3", nil, []string{`host "DB"`}},
		{"egress host trailing dot", AnnotationEgress, "1=db.:3", nil, []string{`host "db."`}},
		{"egress ipv6", AnnotationEgress, "1=::1:3", nil, []string{`host ""`}},
		{"egress non-ascii", AnnotationEgress, "1=bücher.de:3", nil, []string{`host "bücher.de"`}},
		{"egress dup local", AnnotationEgress, "1=a:3,1=b:4", nil, []string{"local port 1 is used by two entries"}},
		{"egress health port", AnnotationEgress, "15021=a:3", nil, []string{"reserved for the sidecar's health checks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := with(tt.extra, tt.key, tt.value)
			w, err := WorkloadFromPod(pod(ann))
			if err == nil {
				t.Fatalf("expected an error, got %+v", w)
			}
			if w.Space != "team-a" {
				t.Errorf("Space not kept on error: %+v", w)
			}
			msg := err.Error()
			for _, s := range append([]string{tt.key + " ", `pod "team-a/web"`}, tt.want...) {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestExposureFromService(t *testing.T) {
	svc := func(ann map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "team-a",
			Labels: map[string]string{LabelSpace: "team-a"}, Annotations: ann}}
	}
	good := []struct {
		ann  map[string]string
		want Exposure
	}{
		{nil, Exposure{Space: "team-a"}},
		{map[string]string{AnnotationHTTPPath: "/api/v1.2_x~y-z"}, Exposure{Space: "team-a", HTTPPath: "/api/v1.2_x~y-z"}},
		{map[string]string{AnnotationHTTPPath: "/"}, Exposure{Space: "team-a", HTTPPath: "/"}},
		{map[string]string{AnnotationDNS: "true"}, Exposure{Space: "team-a", DNS: true}},
		{map[string]string{AnnotationPlaintextPorts: "metrics, 9090"}, Exposure{Space: "team-a", PlaintextPorts: []PortRef{{Name: "metrics"}, {Number: 9090}}}},
	}
	for _, g := range good {
		got, err := ExposureFromService(svc(g.ann))
		if err != nil || !reflect.DeepEqual(got, g.want) {
			t.Errorf("%v: got %+v, %v; want %+v", g.ann, got, err, g.want)
		}
	}
	bad := []struct{ key, value, want string }{
		{AnnotationHTTPPath, "api", `must start with "/"`},
		{AnnotationHTTPPath, "", `must start with "/"`},
		{AnnotationHTTPPath, "/a/../b", `must not contain ".."`},
		{AnnotationHTTPPath, "/a b", "must contain only letters"},
		{AnnotationHTTPPath, "/a?b", "must contain only letters"},
		{AnnotationHTTPPath, "/a\nb", "must contain only letters"},
		{AnnotationHTTPPath, "/" + strings.Repeat("a", 256), "at most 256"},
		{AnnotationDNS, "yes", `must be "true" or "false"`},
		{AnnotationPlaintextPorts, "a b", "neither a port number"},
	}
	for _, b := range bad {
		_, err := ExposureFromService(svc(map[string]string{b.key: b.value}))
		if err == nil || !strings.Contains(err.Error(), b.key+" ") || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s=%q: got %v, want %q", b.key, b.value, err, b.want)
		}
	}
	noLabel := svc(nil)
	noLabel.Labels = nil
	if _, err := ExposureFromService(noLabel); !errors.Is(err, ErrNotASpace) {
		t.Errorf("got %v, want ErrNotASpace", err)
	}
}

func TestRewrittenPorts(t *testing.T) {
	m := map[int32]int32{443: 8443, 80: 8080}
	s := FormatRewrittenPorts(m)
	if s != "80=8080,443=8443" {
		t.Fatalf("got %q", s)
	}
	back, err := ParseRewrittenPorts(s)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("got %v, %v", back, err)
	}
	if m, err := ParseRewrittenPorts(""); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
	for _, bad := range []string{"80", "80=", "=80", "80=8080,", "a=b", "80=0"} {
		if _, err := ParseRewrittenPorts(bad); err == nil || !strings.Contains(err.Error(), AnnotationRewrittenPorts) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}
