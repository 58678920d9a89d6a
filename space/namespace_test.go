package space

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ns(name string, labels, ann map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: ann}}
}

// with returns the base annotations plus extra (an empty value deletes a
// key when del is set).
func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestFromNamespaceValid(t *testing.T) {
	label := map[string]string{LabelSpace: "team-a"}
	base := map[string]string{AnnotationDomain: "example.com"}
	tests := []struct {
		name string
		ann  map[string]string
		want Space
	}{
		{"minimal", base, Space{Name: "team-a", Domain: "example.com"}},
		{"project", with(base, AnnotationProject, "blue"), Space{Name: "team-a", Domain: "example.com", Project: "blue"}},
		{"issuer bare", with(base, AnnotationIssuer, "my-ca"), Space{Name: "team-a", Domain: "example.com", Issuer: IssuerRef{KindIssuer, "my-ca"}}},
		{"issuer kind", with(base, AnnotationIssuer, "Issuer/my-ca"), Space{Name: "team-a", Domain: "example.com", Issuer: IssuerRef{KindIssuer, "my-ca"}}},
		{"cluster issuer", with(base, AnnotationIssuer, "ClusterIssuer/corp.ca"), Space{Name: "team-a", Domain: "example.com", Issuer: IssuerRef{KindClusterIssuer, "corp.ca"}}},
		{"secrets", with(base, AnnotationHTTPCertSecret, "web-tls", AnnotationTCPCertSecret, "tcp.tls"),
			Space{Name: "team-a", Domain: "example.com", HTTPCertSecret: "web-tls", TCPCertSecret: "tcp.tls"}},
		{"encrypt true", with(base, AnnotationEncryptHTTP, "true"), Space{Name: "team-a", Domain: "example.com"}},
		{"runtime class", with(base, AnnotationRuntimeClass, "kata-qemu"), Space{Name: "team-a", Domain: "example.com", RuntimeClass: "kata-qemu"}},
		{"deep domain", with(base, AnnotationDomain, "a.b.c.platform9.net"), Space{Name: "team-a", Domain: "a.b.c.platform9.net"}},
		{"unrelated keys ignored", with(base, "other.io/x", "\n"), Space{Name: "team-a", Domain: "example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromNamespace(ns("team-a", label, tt.ann))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFromNamespaceNotASpace(t *testing.T) {
	_, err := FromNamespace(ns("plain", map[string]string{"app": "x"}, nil))
	if !errors.Is(err, ErrNotASpace) {
		t.Fatalf("got %v, want ErrNotASpace", err)
	}
}

func TestFromNamespaceInvalid(t *testing.T) {
	base := map[string]string{AnnotationDomain: "example.com"}
	long := strings.Repeat("a", 62)
	tests := []struct {
		name    string
		label   string
		ann     map[string]string
		key     string
		want    []string // substrings of the message
		nErrors int
	}{
		{"label mismatch", "team-b", base, LabelSpace, []string{`"team-b"`, `must equal the namespace's own name "team-a"`, `set it to "team-a"`}, 1},
		{"domain missing", "team-a", nil, AnnotationDomain, []string{"is required", "set it to the domain"}, 1},
		{"domain empty", "team-a", with(base, AnnotationDomain, ""), AnnotationDomain, []string{"is required"}, 1},
		{"domain underscore", "team-a", with(base, AnnotationDomain, "Foo_bar"), AnnotationDomain,
			[]string{`decco.io/domain "Foo_bar": must be a lowercase DNS name such as example.com; set it to the domain the space's hostnames live under`}, 1},
		{"domain no dot", "team-a", with(base, AnnotationDomain, "localhost"), AnnotationDomain, []string{"must be a lowercase DNS name"}, 1},
		{"domain trailing dot", "team-a", with(base, AnnotationDomain, "example.com."), AnnotationDomain, []string{"must be a lowercase DNS name"}, 1},
		{"domain newline", "team-a", with(base, AnnotationDomain, "example.com\nx"), AnnotationDomain, []string{`"example.com\nx"`}, 1},
		{"domain long label", "team-a", with(base, AnnotationDomain, strings.Repeat("a", 64)+".com"), AnnotationDomain, []string{"must be a lowercase DNS name"}, 1},
		{"domain too long for wildcard", "team-a", with(base, AnnotationDomain, strings.Join([]string{long, long, long, long}, ".")), AnnotationDomain,
			[]string{"longer than a DNS name may be", "use a shorter domain"}, 1},
		{"project dots", "team-a", with(base, AnnotationProject, "a.b"), AnnotationProject, []string{"must be a DNS label", "team-a"}, 1},
		{"project empty", "team-a", with(base, AnnotationProject, ""), AnnotationProject, []string{"must be a DNS label"}, 1},
		{"issuer kind", "team-a", with(base, AnnotationIssuer, "Foo/x"), AnnotationIssuer, []string{`kind "Foo"`, "ClusterIssuer/name"}, 1},
		{"issuer name", "team-a", with(base, AnnotationIssuer, "ClusterIssuer/"), AnnotationIssuer, []string{"must name an issuer"}, 1},
		{"issuer upper", "team-a", with(base, AnnotationIssuer, "MyCA"), AnnotationIssuer, []string{"must name an issuer"}, 1},
		{"issuer extra slash", "team-a", with(base, AnnotationIssuer, "Issuer/a/b"), AnnotationIssuer, []string{"must name an issuer"}, 1},
		{"http secret", "team-a", with(base, AnnotationHTTPCertSecret, "Web TLS"), AnnotationHTTPCertSecret, []string{"must be a Secret name", "kubernetes.io/tls Secret"}, 1},
		{"tcp secret", "team-a", with(base, AnnotationTCPCertSecret, "-x"), AnnotationTCPCertSecret, []string{"must be a Secret name"}, 1},
		{"encrypt yes", "team-a", with(base, AnnotationEncryptHTTP, "yes"), AnnotationEncryptHTTP, []string{`must be "true"`, "always on"}, 1},
		{"encrypt True", "team-a", with(base, AnnotationEncryptHTTP, "True"), AnnotationEncryptHTTP, []string{`must be "true"`}, 1},
		{"encrypt false", "team-a", with(base, AnnotationEncryptHTTP, "false"), AnnotationEncryptHTTP, []string{"never opens a plaintext path", "remove the annotation"}, 1},
		{"runtime class", "team-a", with(base, AnnotationRuntimeClass, "Kata"), AnnotationRuntimeClass, []string{"must be a RuntimeClass name", "kata or gvisor"}, 1},
		{"several at once", "team-a", map[string]string{AnnotationProject: "A", AnnotationEncryptHTTP: "1"}, AnnotationDomain,
			[]string{AnnotationDomain, AnnotationProject, AnnotationEncryptHTTP}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromNamespace(ns("team-a", map[string]string{LabelSpace: tt.label}, tt.ann))
			if err == nil {
				t.Fatal("expected an error")
			}
			msg := err.Error()
			for _, w := range append([]string{tt.key + " "}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			fes := FieldErrors(err)
			if len(fes) != tt.nErrors {
				t.Errorf("got %d field errors, want %d: %v", len(fes), tt.nErrors, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Fix == "" || fe.Problem == "" {
				t.Errorf("error %v carries no complete FieldError", err)
			}
		})
	}
}

func TestSpaceHelpers(t *testing.T) {
	sp := Space{Name: "team-a", Domain: "example.com"}
	checks := []struct{ got, want string }{
		{sp.Host(), "team-a.example.com"},
		{sp.ServiceHost("mysql"), "mysql.team-a.example.com"},
		{sp.WorkloadCertSecret(), DefaultWorkloadCertSecret},
		{sp.CASecret(), "decco-ca"},
		{Space{TCPCertSecret: "mine"}.WorkloadCertSecret(), "mine"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
