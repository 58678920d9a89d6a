package inject

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/discovery"

	"github.com/decco-dev/decco/intercept"
)

// Settings are the sidecar flags, as a user writes them. The manager and
// spacectl (render, and the up-to-date checks of get and describe) bind
// the same flags from here, so both validate them alike and build the same
// Config from the same values.
type Settings struct {
	Image         string
	CPURequest    string
	MemoryRequest string
	MemoryLimit   string
	// UID is the sidecar's user and group; app containers may not use it.
	UID int64
	// NativeSidecar is "auto" (decide from the apiserver's version),
	// "true" or "false".
	NativeSidecar string
	// Interception is "ports" or "cni" (see Interception); in cni mode
	// PodCIDRs and ServiceCIDRs are the ranges the app's connections are
	// intercepted to, minus InterceptionExcludeCIDRs.
	Interception             string
	PodCIDRs                 []string
	ServiceCIDRs             []string
	InterceptionExcludeCIDRs []string
}

// Values of --native-sidecar.
const (
	NativeAuto  = "auto"
	NativeTrue  = "true"
	NativeFalse = "false"
)

// SettingsFlags names every flag Settings.BindFlags registers.
var SettingsFlags = []string{"sidecar-image", "sidecar-cpu-request", "sidecar-memory-request", "sidecar-memory-limit", "sidecar-uid", "native-sidecar",
	"interception", "pod-cidrs", "service-cidrs", "interception-exclude-cidrs"}

// DefaultSettings are the flags' defaults (the Helm chart's too).
func DefaultSettings() Settings {
	return Settings{
		Image:         "ghcr.io/decco-dev/decco-sidecar:latest",
		CPURequest:    "10m",
		MemoryRequest: "16Mi",
		// stunnel holds a thread and its TLS buffers per open connection,
		// about 120 KiB each over 17 MiB idle (BENCHMARKS.md): 256Mi
		// carries about 1,900 connections at once. At the limit the
		// kernel kills stunnel and every connection of the pod drops.
		MemoryLimit:   "256Mi",
		UID:           DefaultUID,
		NativeSidecar: NativeAuto,
		Interception:  string(InterceptPorts),
	}
}

// BindFlags registers the sidecar flags on fs, with s's values as
// defaults.
func (s *Settings) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.Image, "sidecar-image", s.Image, "Image of the injected TLS sidecar.")
	fs.StringVar(&s.CPURequest, "sidecar-cpu-request", s.CPURequest, "CPU request of the injected sidecar.")
	fs.StringVar(&s.MemoryRequest, "sidecar-memory-request", s.MemoryRequest, "Memory request of the injected sidecar.")
	fs.StringVar(&s.MemoryLimit, "sidecar-memory-limit", s.MemoryLimit, "Memory limit of the injected sidecar.")
	fs.Int64Var(&s.UID, "sidecar-uid", s.UID, "UID and GID the sidecar runs as; app containers may not use it.")
	fs.StringVar(&s.NativeSidecar, "native-sidecar", s.NativeSidecar, "Inject a native sidecar (init container with restartPolicy Always): auto (from the apiserver version), true or false.")
	fs.StringVar(&s.Interception, "interception", s.Interception, "How sidecars get the pods' traffic: ports (a TLS listener on port+10000, ports renamed, Services rewritten; nothing on the nodes) or cni (every port TLS on its own number, outbound mutual TLS; needs decco-cni on every node).")
	fs.StringSliceVar(&s.PodCIDRs, "pod-cidrs", s.PodCIDRs, "The cluster's pod ranges (both families on dual-stack); with --interception=cni, pods' connections to them leave as mutual TLS.")
	fs.StringSliceVar(&s.ServiceCIDRs, "service-cidrs", s.ServiceCIDRs, "The cluster's Service ranges; with --interception=cni, pods' connections to them leave as mutual TLS.")
	fs.StringSliceVar(&s.InterceptionExcludeCIDRs, "interception-exclude-cidrs", s.InterceptionExcludeCIDRs, "Destinations inside the pod or Service ranges that don't speak decco's TLS and are reached directly: the kubernetes Service's address, and the apiserver's when it serves inside the pod range.")
}

// Validate checks the values, naming the flag and what it wants.
func (s Settings) Validate() error {
	var errs []error
	if s.Image == "" {
		errs = append(errs, errors.New("--sidecar-image must not be empty: name the decco-sidecar image"))
	}
	if _, err := s.Resources(); err != nil {
		errs = append(errs, err)
	}
	if s.UID < 1 {
		errs = append(errs, fmt.Errorf("--sidecar-uid=%d: want a positive UID (the sidecar never runs as root)", s.UID))
	}
	switch s.NativeSidecar {
	case NativeAuto, NativeTrue, NativeFalse:
	default:
		errs = append(errs, fmt.Errorf("--native-sidecar=%q: want %s, %s or %s", s.NativeSidecar, NativeAuto, NativeTrue, NativeFalse))
	}
	if _, err := s.InterceptionRanges(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// InterceptionRanges parses the interception flags; the ranges are empty
// in ports mode.
func (s Settings) InterceptionRanges() (intercept.Ranges, error) {
	mode, err := ParseInterception(s.Interception)
	if err != nil {
		return intercept.Ranges{}, fmt.Errorf("--interception: %w", err)
	}
	if mode != InterceptCNI {
		return intercept.Ranges{}, nil
	}
	var r intercept.Ranges
	var errs []error
	for _, f := range []struct {
		flag, chartKey string
		values         []string
		into           *[]netip.Prefix
		required       bool
	}{
		{"--pod-cidrs", "podCIDRs", s.PodCIDRs, &r.Pods, true},
		{"--service-cidrs", "serviceCIDRs", s.ServiceCIDRs, &r.Services, true},
		{"--interception-exclude-cidrs", "excludeCIDRs", s.InterceptionExcludeCIDRs, &r.Exclude, false},
	} {
		if f.required && len(f.values) == 0 {
			errs = append(errs, fmt.Errorf("--interception=cni needs %s: the cluster's ranges, whose connections leave as mutual TLS (chart value dataPlane.%s)", f.flag, f.chartKey))
		}
		for _, v := range f.values {
			p, err := netip.ParsePrefix(v)
			if err != nil || p.Masked() != p {
				errs = append(errs, fmt.Errorf("%s: %q is not a network range such as 10.244.0.0/16 or fd00::/64", f.flag, v))
				continue
			}
			*f.into = append(*f.into, p)
		}
	}
	if err := podFamiliesCoverServices(r); err != nil {
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

// podFamiliesCoverServices refuses Service ranges in a family the pod
// ranges lack: Services of a family are backed by pods of that family, so
// such a cluster is dual-stack and the app's connections to pods'
// addresses in the missing family would leave the pod in plaintext. (Pod
// ranges in a family without Services are fine: single-stack Services on
// dual-stack pods.)
func podFamiliesCoverServices(r intercept.Ranges) error {
	has := func(ps []netip.Prefix, v6 bool) bool {
		for _, p := range ps {
			if p.Addr().Is6() == v6 {
				return true
			}
		}
		return false
	}
	for _, f := range []struct {
		name string
		v6   bool
	}{{"IPv4", false}, {"IPv6", true}} {
		if has(r.Services, f.v6) && len(r.Pods) > 0 && !has(r.Pods, f.v6) {
			return fmt.Errorf("--pod-cidrs has no %s range but --service-cidrs has one: the cluster's pods have %s addresses, whose connections would leave pods in plaintext; add the %s pod range (chart value dataPlane.podCIDRs)", f.name, f.name, f.name)
		}
	}
	return nil
}

// Resources parses the resource flags; an empty one sets nothing.
func (s Settings) Resources() (corev1.ResourceRequirements, error) {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		into        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--sidecar-cpu-request", s.CPURequest, r.Requests, corev1.ResourceCPU},
		{"--sidecar-memory-request", s.MemoryRequest, r.Requests, corev1.ResourceMemory},
		{"--sidecar-memory-limit", s.MemoryLimit, r.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return r, fmt.Errorf("%s=%q: %w (e.g. 10m, 64Mi)", q.flag, q.value, err)
		}
		q.into[q.name] = v
	}
	return r, nil
}

// Config is the injection configuration the settings give once the
// sidecar mode is decided (see Native).
func (s Settings) Config(native bool) (Config, error) {
	if err := s.Validate(); err != nil {
		return Config{}, err
	}
	resources, err := s.Resources()
	if err != nil {
		return Config{}, err
	}
	ranges, err := s.InterceptionRanges()
	if err != nil {
		return Config{}, err
	}
	return Config{Image: s.Image, Resources: resources, NativeSidecar: native, SidecarUID: s.UID,
		Interception: Interception(s.Interception), Ranges: ranges}, nil
}

// Native decides the sidecar mode: "auto" asks the apiserver's version,
// since native sidecars are on by default from Kubernetes 1.29.
func (s Settings) Native(apiserver discovery.ServerVersionInterface) (bool, error) {
	if s.NativeSidecar != NativeAuto {
		return s.NativeSidecar == NativeTrue, nil
	}
	v, err := apiserver.ServerVersion()
	if err != nil {
		return false, fmt.Errorf("reading the apiserver version to choose the sidecar mode (or set --native-sidecar): %w", err)
	}
	return supportsNativeSidecars(v.Major, v.Minor), nil
}

func supportsNativeSidecars(major, minor string) bool {
	maj, err1 := strconv.Atoi(major)
	// Some providers report minors like "29+".
	min, err2 := strconv.Atoi(strings.TrimSuffix(minor, "+"))
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > 1 || (maj == 1 && min >= 29)
}
