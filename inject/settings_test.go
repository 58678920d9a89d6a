package inject

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/version"

	"github.com/decco-dev/decco/intercept"
)

func TestSupportsNativeSidecars(t *testing.T) {
	for _, tt := range []struct {
		major, minor string
		want         bool
	}{
		{"1", "36", true}, {"1", "29", true}, {"1", "29+", true}, {"1", "28", false},
		{"1", "28+", false}, {"2", "0", true}, {"", "", false}, {"1", "x", false},
	} {
		assert.Equal(t, tt.want, supportsNativeSidecars(tt.major, tt.minor), "supportsNativeSidecars(%q, %q)", tt.major, tt.minor)
	}
}

// Every bad value is refused naming its flag; the defaults pass.
func TestSettingsValidate(t *testing.T) {
	require.NoError(t, DefaultSettings().Validate())
	for _, tt := range []struct {
		name   string
		change func(*Settings)
		flag   string
	}{
		{"no image", func(s *Settings) { s.Image = "" }, "--sidecar-image"},
		{"bad cpu", func(s *Settings) { s.CPURequest = "lots" }, "--sidecar-cpu-request"},
		{"bad memory request", func(s *Settings) { s.MemoryRequest = "16 MB" }, "--sidecar-memory-request"},
		{"bad memory limit", func(s *Settings) { s.MemoryLimit = "x" }, "--sidecar-memory-limit"},
		{"root", func(s *Settings) { s.UID = 0 }, "--sidecar-uid"},
		{"mode", func(s *Settings) { s.NativeSidecar = "yes" }, "--native-sidecar"},
		{"interception", func(s *Settings) { s.Interception = "iptables" }, "--interception"},
		{"cni without ranges", func(s *Settings) { s.Interception = "cni" }, "--pod-cidrs"},
		{"cni with a bad range", func(s *Settings) {
			s.Interception, s.PodCIDRs, s.ServiceCIDRs = "cni", []string{"10.244.0.1/16"}, []string{"10.0.0.0/24"}
		}, "--pod-cidrs"},
		{"cni with IPv6 Services but no IPv6 pods", func(s *Settings) {
			s.Interception, s.PodCIDRs, s.ServiceCIDRs = "cni", []string{"10.244.0.0/16"}, []string{"10.0.0.0/24", "fd00:10:96::/112"}
		}, "--pod-cidrs has no IPv6 range but --service-cidrs has one"},
		{"cni with IPv4 Services but IPv6 pods only", func(s *Settings) {
			s.Interception, s.PodCIDRs, s.ServiceCIDRs = "cni", []string{"fd00:10:244::/64"}, []string{"10.0.0.0/24"}
		}, "--pod-cidrs has no IPv4 range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			tt.change(&s)
			err := s.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.flag)
			_, err = s.Config(true)
			assert.Error(t, err, "Config validates too")
		})
	}
}

func TestSettingsConfig(t *testing.T) {
	s := DefaultSettings()
	s.MemoryLimit = ""
	cfg, err := s.Config(true)
	require.NoError(t, err)
	assert.Equal(t, Config{
		Image:         s.Image,
		Resources:     cfg.Resources,
		NativeSidecar: true,
		SidecarUID:    DefaultUID,
		Interception:  InterceptPorts,
	}, cfg)
	assert.Equal(t, resource.MustParse("10m"), cfg.Resources.Requests["cpu"])
	assert.Equal(t, resource.MustParse("16Mi"), cfg.Resources.Requests["memory"])
	assert.NotContains(t, cfg.Resources.Limits, "memory", "an empty flag sets no limit")

	s.Interception, s.PodCIDRs, s.ServiceCIDRs = "cni", []string{"10.244.0.0/16", "fd00:10:244::/64"}, []string{"10.0.0.0/24"}
	s.InterceptionExcludeCIDRs = []string{"10.0.0.1/32"}
	cfg, err = s.Config(true)
	require.NoError(t, err)
	assert.Equal(t, InterceptCNI, cfg.Interception)
	assert.Equal(t, intercept.Ranges{
		Pods:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/64")},
		Services: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
		Exclude:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
	}, cfg.Ranges)
}

// serverVersion answers ServerVersion as an apiserver would.
type serverVersion struct {
	v   version.Info
	err error
}

func (s serverVersion) ServerVersion() (*version.Info, error) { return &s.v, s.err }

func TestSettingsNative(t *testing.T) {
	old := serverVersion{v: version.Info{Major: "1", Minor: "28"}}
	current := serverVersion{v: version.Info{Major: "1", Minor: "31+"}}
	down := serverVersion{err: errors.New("connection refused")}
	for _, tt := range []struct {
		mode      string
		apiserver serverVersion
		want      bool
		wantErr   bool
	}{
		{NativeAuto, old, false, false},
		{NativeAuto, current, true, false},
		{NativeAuto, down, false, true},
		{NativeTrue, down, true, false},
		{NativeFalse, current, false, false},
	} {
		s := DefaultSettings()
		s.NativeSidecar = tt.mode
		got, err := s.Native(tt.apiserver)
		if tt.wantErr {
			assert.ErrorContains(t, err, "--native-sidecar", "mode %s", tt.mode)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "mode %s, apiserver %s.%s", tt.mode, tt.apiserver.v.Major, tt.apiserver.v.Minor)
	}
}
