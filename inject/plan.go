package inject

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// hashVersion changes whenever the shape of the injection changes without
// its inputs changing, so pods injected by an older decco are reinjected.
const hashVersion = "v1"

// plan is everything Pod will add, computed before touching the pod so
// conflicts are found first and the hash can be compared.
type plan struct {
	cfg       Config
	secret    string
	listeners []sidecar.Listener
	egress    []sidecar.Egress
	args      []string
	hash      string
	// cni mode: the sidecar intercepts; interception is the encoded
	// intercept.Plan for decco.io/interception.
	cni          bool
	interception string
	plaintext    []int32
}

// makePlan works out listeners and tunnels for pod (with any previous
// injection already removed) and checks them against the pod.
func makePlan(pod *corev1.Pod, w space.Workload, sp space.Space, cfg Config) (*plan, error) {
	if cfg.Interception == InterceptCNI {
		return makeCNIPlan(pod, w, sp, cfg)
	}
	exposed, err := exposedPorts(pod, w)
	if err != nil {
		return nil, err
	}
	p := &plan{cfg: cfg, secret: sp.WorkloadCertSecret()}
	p.egress = w.Egress
	if len(exposed) == 0 && len(p.egress) == 0 {
		return p, nil
	}
	if err := checkEgressPorts(pod, p.egress); err != nil {
		return nil, err
	}
	if p.listeners, err = listeners(pod, exposed, p.egress, w); err != nil {
		return nil, err
	}
	if err := checkPortNames(pod, p.listeners); err != nil {
		return nil, err
	}
	p.args = sidecar.Config{CertDir: sidecar.CertDir, HealthPort: sidecar.HealthPort,
		Listeners: p.listeners, Egress: p.egress}.Args()
	p.hash = p.digest()
	return p, nil
}

// digest hashes a compact canonical encoding of the injection's inputs:
// the arguments encode listeners and tunnels, the rest is the Config and
// the Secret. Cheaper than hashing the JSON of the container.
func (p *plan) digest() string {
	var b strings.Builder
	field := func(s string) { b.WriteString(s); b.WriteByte(0) }
	field(hashVersion)
	field(p.cfg.Image)
	field(string(p.cfg.PullPolicy))
	field(strconv.FormatBool(p.cfg.NativeSidecar))
	field(strconv.FormatInt(p.cfg.uid(), 10))
	field(p.secret)
	if p.cni { // ports-mode hashes stay what they were before cni mode existed
		field(p.interception)
	}
	for _, a := range p.args {
		field(a)
	}
	writeResources(field, "limits", p.cfg.Resources.Limits)
	writeResources(field, "requests", p.cfg.Resources.Requests)
	for _, c := range p.cfg.Resources.Claims {
		field("claim=" + c.Name + "/" + c.Request)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

func writeResources(field func(string), kind string, rl corev1.ResourceList) {
	keys := make([]string, 0, len(rl))
	for k := range rl {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	for _, k := range keys {
		q := rl[corev1.ResourceName(k)]
		field(kind + "." + k + "=" + q.String())
	}
}

// upToDate reports whether pod already carries exactly this injection.
// Besides the hash it checks the sidecar's image, arguments and place and
// decco's volumes, so a hand-edited or copied annotation can't make Pod
// skip a pod whose sidecar isn't what decco would run.
func upToDate(pod *corev1.Pod, p *plan, sp space.Space) bool {
	if pod.Annotations[space.AnnotationInjected] != p.hash || pod.Labels[space.LabelInjected] != "true" {
		return false
	}
	if v, ok := pod.Annotations[space.AnnotationInterception]; ok != p.cni || v != p.interception {
		return false
	}
	if v, ok := pod.Labels[space.LabelInterception]; ok != p.cni || p.cni && v != string(InterceptCNI) {
		return false
	}
	if sp.RuntimeClass != "" && runtimeClass(pod) != sp.RuntimeClass {
		return false
	}
	want, other := pod.Spec.Containers, pod.Spec.InitContainers
	if p.cfg.NativeSidecar {
		want, other = other, want
	}
	i := slices.IndexFunc(want, isSidecar)
	if i < 0 || slices.ContainsFunc(other, isSidecar) {
		return false
	}
	if want[i].Image != p.cfg.Image || !slices.Equal(want[i].Args, p.args) {
		return false
	}
	return hasVolume(pod, CertVolume, p.secret) && hasVolume(pod, TmpVolume, "")
}

func isSidecar(c corev1.Container) bool { return c.Name == SidecarName }

// hasVolume: a volume name with the expected source (secret name, or an
// emptyDir when secret is "").
func hasVolume(pod *corev1.Pod, name, secret string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name != name {
			continue
		}
		if secret == "" {
			return v.EmptyDir != nil
		}
		return v.Secret != nil && v.Secret.SecretName == secret
	}
	return false
}

// apply adds the planned injection to pod.
func apply(pod *corev1.Pod, p *plan) {
	if p.cni {
		rewriteProbes(pod, p.plaintext)
	} else {
		takeOverPorts(pod, p.listeners)
	}
	c := sidecarContainer(p)
	if p.cfg.NativeSidecar {
		pod.Spec.InitContainers = slices.Insert(pod.Spec.InitContainers, 0, c)
	} else {
		pod.Spec.Containers = append(pod.Spec.Containers, c)
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, volumes(p.secret)...)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[space.AnnotationInjected] = p.hash
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[space.LabelInjected] = "true"
	// A user's copies of the cni marks on a new pod are replaced, never
	// kept: in ports mode they would open the pod's plaintext ports to the
	// cni listener policy after a switch of modes.
	delete(pod.Annotations, space.AnnotationInterception)
	delete(pod.Labels, space.LabelInterception)
	if p.cni {
		pod.Annotations[space.AnnotationInterception] = p.interception
		// The cni listener policy opens only pods carrying it: on a pod
		// injected in ports mode the same number is the app's plaintext
		// port.
		pod.Labels[space.LabelInterception] = string(InterceptCNI)
	}
}

// certMode: the Secret's files are owned by root and the sidecar runs as
// a non-root UID without fsGroup, so they must be world-readable; only the
// sidecar mounts the volume.
var certMode int32 = 0o444

// tmpSize bounds the sidecar's scratch space (stunnel's config, pid file).
var tmpSize = resource.MustParse("16Mi")

func volumes(secret string) []corev1.Volume {
	size := tmpSize.DeepCopy()
	mode := certMode
	return []corev1.Volume{
		{Name: CertVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: &mode}}},
		{Name: TmpVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &size}}},
	}
}

// sidecarContainer builds the decco-tls container.
func sidecarContainer(p *plan) corev1.Container {
	ports := make([]corev1.ContainerPort, 0, len(p.listeners)+1)
	for _, l := range p.listeners {
		ports = append(ports, corev1.ContainerPort{Name: l.Name, ContainerPort: l.Port, Protocol: corev1.ProtocolTCP})
	}
	ports = append(ports, corev1.ContainerPort{Name: HealthName, ContainerPort: sidecar.HealthPort, Protocol: corev1.ProtocolTCP})
	c := corev1.Container{
		Name:            SidecarName,
		Image:           p.cfg.Image,
		ImagePullPolicy: p.cfg.PullPolicy,
		Args:            slices.Clone(p.args),
		Ports:           ports,
		Resources:       *p.cfg.Resources.DeepCopy(),
		ReadinessProbe:  healthProbe(0, 0),
		SecurityContext: securityContext(p.cfg.uid()),
		VolumeMounts: []corev1.VolumeMount{
			{Name: CertVolume, MountPath: sidecar.CertDir, ReadOnly: true},
			{Name: TmpVolume, MountPath: tmpMountPath},
		},
	}
	if p.cfg.NativeSidecar {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
		// The app containers start only once this probe passes, so they
		// never see a missing egress tunnel.
		c.StartupProbe = healthProbe(1, 30)
	}
	return c
}

func healthProbe(period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: sidecar.ReadyPath, Port: intstr.FromInt32(sidecar.HealthPort)}},
		PeriodSeconds:    period,
		FailureThreshold: failures,
	}
}

// securityContext passes Pod Security "restricted".
func securityContext(uid int64) *corev1.SecurityContext {
	yes, no := true, false
	u, g := uid, uid
	return &corev1.SecurityContext{
		RunAsNonRoot:             &yes,
		RunAsUser:                &u,
		RunAsGroup:               &g,
		ReadOnlyRootFilesystem:   &yes,
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
