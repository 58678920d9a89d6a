package space

import (
	"strings"
	"testing"
	"unicode"

	"github.com/decco-dev/decco/sidecar"
)

// checkSidecarSafe asserts what the sidecar relies on for anything space
// accepts: no whitespace or control characters, and a lossless round trip
// through the sidecar's arguments.
func checkSidecarSafe(t *testing.T, eg []sidecar.Egress) {
	t.Helper()
	cfg := sidecar.Config{CertDir: sidecar.CertDir, HealthPort: sidecar.HealthPort, Egress: eg}
	for _, e := range eg {
		if s := e.String(); strings.IndexFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII
		}) >= 0 {
			t.Fatalf("accepted egress renders unsafe %q", s)
		}
	}
	back, err := sidecar.ParseArgs(cfg.Args())
	if err != nil {
		t.Fatalf("accepted egress %+v does not parse back: %v", eg, err)
	}
	if len(back.Egress) != len(eg) {
		t.Fatalf("round trip lost entries: %+v vs %+v", back.Egress, eg)
	}
	for i := range eg {
		if back.Egress[i] != cfg.Egress[i] {
			t.Fatalf("round trip changed %+v into %+v", cfg.Egress[i], back.Egress[i])
		}
	}
}

func FuzzParseEgress(f *testing.F) {
	for _, s := range []string{"13306=mysql.team-b.example.com:3306", "1=a:2, 3=b:4", "1=a:2\n", "1=[::1]:3", "15021=a:1", "080=a:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		eg, err := ParseEgress(v)
		if err != nil {
			if !strings.Contains(err.Error(), AnnotationEgress) {
				t.Fatalf("error does not name the key: %v", err)
			}
			return
		}
		checkSidecarSafe(t, eg)
	})
}

func FuzzWorkloadFromPod(f *testing.F) {
	f.Add("http,8443", "metrics", "true", "13306=db.example.com:3306", "true")
	f.Add("", "", "false", "1=a:2,3=b:4", "")
	f.Add("http\n", "a;b", "yes", "1=a:2;x", "false")
	f.Fuzz(func(t *testing.T, tls, plain, verify, egress, inject string) {
		ann := map[string]string{}
		for k, v := range map[string]string{AnnotationTLSPorts: tls, AnnotationPlaintextPorts: plain,
			AnnotationVerifyClient: verify, AnnotationEgress: egress, AnnotationInject: inject} {
			if v != "" {
				ann[k] = v
			}
		}
		w, err := WorkloadFromPod(pod(ann))
		if err != nil {
			return
		}
		checkSidecarSafe(t, w.Egress)
		for _, p := range append(w.TLSPorts, w.PlaintextPorts...) {
			s := p.String()
			if strings.ContainsAny(s, " \t\n\r,;[]=") || (p.Name == "") == (p.Number == 0) {
				t.Fatalf("accepted unsafe port ref %+v", p)
			}
		}
	})
}
