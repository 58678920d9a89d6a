package spacectl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/webhook"
)

// Check results.
const (
	CheckOK   = "OK"
	CheckFail = "FAIL"
	CheckSkip = "SKIP"
)

// Check is one doctor check.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do when the check fails.
	Fix string `json:"fix,omitempty"`
}

// DoctorReport is doctor's -o yaml|json output.
type DoctorReport struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

func ok(name, format string, args ...any) Check {
	return Check{Name: name, Status: CheckOK, Detail: fmt.Sprintf(format, args...)}
}

func fail(name, fix, format string, args ...any) Check {
	return Check{Name: name, Status: CheckFail, Detail: fmt.Sprintf(format, args...), Fix: fix}
}

func skip(name, format string, args ...any) Check {
	return Check{Name: name, Status: CheckSkip, Detail: fmt.Sprintf(format, args...)}
}

type doctorOptions struct {
	issuer          string
	systemNamespace string
	// electionNamespace is the manager's --leader-election-namespace;
	// empty means systemNamespace, as in the manager.
	electionNamespace string
	probeSpace        string
	out               *outputFlag
}

func (r *root) newDoctor() *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the cluster's decco installation and say how to fix what is wrong",
		Long: `doctor checks what decco needs and prints, for each check, OK, FAIL or SKIP, with
how to fix a failure:

  webhook-registered   decco's Mutating- and ValidatingWebhookConfiguration exist
  webhook-reachable    a dry-run pod in a space comes back injected (the apiserver reaches
                       the webhook and it answers)
  cert-manager         cert-manager's CRDs are installed
  issuer               the installation's default issuer (--issuer) is Ready
  space-cas            every space's CA Issuer is Ready
  gateway-api          the Gateway API CRDs decco writes are installed
  leader               a manager holds the reconciler's leader Lease and renews it

It exits 3 when a check fails. Nothing is changed in the cluster.`,
		Example: r.examples(`  # Check everything, including the default issuer the manager was given
  spacectl doctor --issuer ClusterIssuer/decco-root

  # As JSON, for monitoring
  spacectl doctor -o json`),
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error { return r.runDoctor(cmd, o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.issuer, "issuer", "", "The manager's --default-issuer: ClusterIssuer/name, Issuer/name or name (an Issuer in -n). Empty: skip the check (spaces get a self-signed CA each).")
	fs.StringVar(&o.systemNamespace, "system-namespace", install.SystemNamespace, "decco's namespace (the manager's --system-namespace), where the manager runs.")
	fs.StringVar(&o.electionNamespace, "leader-election-namespace", "", "Namespace of the manager's leader Lease (the manager's --leader-election-namespace; default: --system-namespace).")
	fs.StringVar(&o.probeSpace, "space", "", "Space to send the dry-run probe pod to (default: the first valid space).")
	o.out = addOutputFlag(cmd, outTable, outTable, outYAML, outJSON)
	_ = cmd.RegisterFlagCompletionFunc("space", r.completeSpaces)
	return cmd
}

func (r *root) runDoctor(cmd *cobra.Command, o *doctorOptions) error {
	if err := o.out.check(); err != nil {
		return err
	}
	var issuer space.IssuerRef
	if o.issuer != "" {
		ref, err := space.ParseIssuerRef(o.issuer)
		if err != nil {
			return usageErrorf("--issuer: %v", err)
		}
		issuer = ref
	}
	ctx := cmd.Context()
	cl, err := r.connect()
	if err != nil {
		return err
	}
	dc, err := cl.discovery()
	if err != nil {
		return err
	}
	ns, err := r.namespace()
	if err != nil {
		return err
	}
	checks := []Check{
		webhookRegistered(ctx, cl),
		webhookReachable(ctx, cl, o.probeSpace),
		crdsPresent(dc, "cert-manager", cmapi.SchemeGroupVersion.String(), []string{"certificates", "issuers", "clusterissuers", "certificaterequests"},
			"install cert-manager (https://cert-manager.io/docs/installation/), then run doctor again"),
		issuerReady(ctx, cl, issuer, ns),
		spaceCAs(ctx, cl, r.name),
		crdsPresent(dc, "gateway-api", "gateway.networking.k8s.io/v1", []string{"gateways", "httproutes", "tlsroutes", "listenersets", "backendtlspolicies"},
			"install the Gateway API standard channel, v1.5 or newer (https://gateway-api.sigs.k8s.io/guides/#installing-gateway-api), or run the manager with --route-mode=ingress"),
		leaderCheck(ctx, cl, o.systemNamespace, o.leaseNamespace(), time.Now()),
	}
	return r.reportDoctor(o.out.value, checks)
}

// leaseNamespace is where the manager keeps its leader Lease, by the
// manager's own default.
func (o *doctorOptions) leaseNamespace() string {
	if o.electionNamespace != "" {
		return o.electionNamespace
	}
	return o.systemNamespace
}

func (r *root) reportDoctor(format string, checks []Check) error {
	rep := DoctorReport{OK: true, Checks: checks}
	failed := 0
	for _, c := range checks {
		if c.Status == CheckFail {
			rep.OK = false
			failed++
		}
	}
	if format == outTable {
		writeChecks(r.streams.Out, checks)
	} else {
		v, err := view("DoctorReport", rep)
		if err != nil {
			return err
		}
		if err := printObject(r.streams.Out, format, v); err != nil {
			return err
		}
	}
	if failed > 0 {
		return notReadyf("%d of %d checks failed", failed, len(checks))
	}
	return nil
}

// writeChecks prints one line per check and the fix under each failure.
func writeChecks(out io.Writer, checks []Check) {
	var buf bytes.Buffer
	defer func() { writeTrimmed(out, buf.Bytes()) }()
	w := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	for _, c := range checks {
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.Status, c.Name, oneLine(c.Detail))
		if c.Fix != "" {
			fmt.Fprintf(w, "\t\tfix: %s\n", oneLine(c.Fix))
		}
	}
	w.Flush()
}

// webhookRegistered checks both webhook configurations exist.
func webhookRegistered(ctx context.Context, cl *cluster) Check {
	const name = "webhook-registered"
	fix := "install or upgrade decco's Helm chart; the manager's webhook configurations are named " + webhook.ConfigurationName
	mw := &admissionregistrationv1.MutatingWebhookConfiguration{}
	vw := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	for kind, obj := range map[string]client.Object{"MutatingWebhookConfiguration": mw, "ValidatingWebhookConfiguration": vw} {
		err := cl.c.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, obj)
		if apierrors.IsNotFound(err) {
			return fail(name, fix, "%s %s not found", kind, webhook.ConfigurationName)
		}
		if err != nil {
			return fail(name, "check your access: doctor reads webhook configurations", "reading webhook configurations: %v", err)
		}
	}
	return ok(name, "MutatingWebhookConfiguration %s (%d webhooks) and ValidatingWebhookConfiguration %s (%d webhooks)",
		webhook.ConfigurationName, len(mw.Webhooks), webhook.ConfigurationName, len(vw.Webhooks))
}

// webhookReachable dry-runs a labeled pod in a space: the apiserver calls
// the webhook exactly as for a real pod, and nothing is stored.
func webhookReachable(ctx context.Context, cl *cluster, probe string) Check {
	const name = "webhook-reachable"
	sp, err := probeSpace(ctx, cl, probe)
	if err != nil {
		return fail(name, "check your access to namespaces", "%v", err)
	}
	if sp == "" {
		return skip(name, "no valid space to send a probe pod to; create one (create space NAME --domain DOMAIN) or pass --space")
	}
	pod := probePod(sp)
	if err := cl.c.Create(ctx, pod, client.DryRunAll); err != nil {
		return fail(name, "the apiserver could not get an answer from decco's webhook: check the manager's pods and logs in its namespace, its Service's endpoints, and that the webhook configuration's caBundle matches its serving certificate",
			"dry-run pod in space %s: %v", sp, err)
	}
	if pod.Annotations[space.AnnotationInjected] == "" {
		return fail(name, "the webhook configuration does not send this space's pods to decco: reinstall decco's chart",
			"a dry-run pod in space %s came back without a sidecar", sp)
	}
	return ok(name, "a dry-run pod in space %s came back injected (%s=%s)", sp, space.AnnotationInjected, pod.Annotations[space.AnnotationInjected])
}

// probeSpace is the named space, or the first valid one.
func probeSpace(ctx context.Context, cl *cluster, named string) (string, error) {
	list := &corev1.NamespaceList{}
	if err := cl.c.List(ctx, list, spaceSelector); err != nil {
		return "", fmt.Errorf("listing spaces: %w", err)
	}
	for i := range list.Items {
		ns := &list.Items[i]
		if named != "" && ns.Name != named {
			continue
		}
		if _, err := space.FromNamespace(ns); err == nil && ns.DeletionTimestamp == nil {
			return ns.Name, nil
		}
	}
	if named != "" {
		return "", fmt.Errorf("--space %s is not a valid space", named)
	}
	return "", nil
}

func probePod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "spacectl-doctor-probe", Labels: map[string]string{space.LabelSpace: ns}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "probe", Image: "probe",
			Ports: []corev1.ContainerPort{{Name: "probe", ContainerPort: 5000}},
		}}},
	}
}

// crdsPresent checks discovery serves every resource of a group version.
func crdsPresent(dc discovery.DiscoveryInterface, name, groupVersion string, resources []string, fix string) Check {
	list, err := dc.ServerResourcesForGroupVersion(groupVersion)
	if apierrors.IsNotFound(err) {
		return fail(name, fix, "the apiserver does not serve %s", groupVersion)
	}
	if err != nil {
		return fail(name, fix, "discovering %s: %v", groupVersion, err)
	}
	missing := missingResources(list, resources)
	if len(missing) > 0 {
		return fail(name, fix, "%s lacks %s", groupVersion, strings.Join(missing, ", "))
	}
	return ok(name, "%s serves %s", groupVersion, strings.Join(resources, ", "))
}

func missingResources(list *metav1.APIResourceList, want []string) []string {
	var have []string
	for _, r := range list.APIResources {
		have = append(have, r.Name)
	}
	var missing []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// issuerReady checks the installation's default issuer.
func issuerReady(ctx context.Context, cl *cluster, ref space.IssuerRef, ns string) Check {
	const name = "issuer"
	if ref.Name == "" {
		return skip(name, "no --issuer given: without the manager's --default-issuer every space gets its own self-signed CA")
	}
	fix := fmt.Sprintf("create %s/%s (a SelfSigned issuer) or fix it (kubectl describe %s %s), or pass the issuer the manager's --default-issuer names",
		ref.Kind, ref.Name, strings.ToLower(ref.Kind), ref.Name)
	var obj client.Object = &cmapi.ClusterIssuer{}
	key, what := client.ObjectKey{Name: ref.Name}, ref.Kind+" "+ref.Name
	if ref.Kind == space.KindIssuer {
		obj, key.Namespace, what = &cmapi.Issuer{}, ns, ref.Kind+" "+ns+"/"+ref.Name
	}
	err := cl.c.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return fail(name, fix, "%s not found", what)
	}
	if err != nil {
		return fail(name, fix, "reading %s: %v", what, err)
	}
	st := issuerStatus(obj)
	if c, found := readyCondition(st); found && c.Status == cmmeta.ConditionTrue {
		return ok(name, "%s is Ready", what)
	} else if found {
		return fail(name, fix, "%s is not Ready: %s: %s", what, c.Reason, c.Message)
	}
	return fail(name, "is cert-manager running? its controller sets the Ready condition", "%s has no Ready condition", what)
}

func issuerStatus(obj client.Object) *cmapi.IssuerStatus {
	switch o := obj.(type) {
	case *cmapi.Issuer:
		return &o.Status
	case *cmapi.ClusterIssuer:
		return &o.Status
	}
	return &cmapi.IssuerStatus{}
}

func readyCondition(st *cmapi.IssuerStatus) (cmapi.IssuerCondition, bool) {
	for _, c := range st.Conditions {
		if c.Type == cmapi.IssuerConditionReady {
			return c, true
		}
	}
	return cmapi.IssuerCondition{}, false
}

// spaceCAs checks every space's CA Issuer that decco made.
func spaceCAs(ctx context.Context, cl *cluster, cli string) Check {
	const name = "space-cas"
	list := &cmapi.IssuerList{}
	err := cl.c.List(ctx, list, client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue})
	if err != nil {
		return skip(name, "can't list Issuers: %v", err)
	}
	total := 0
	var notReady []string
	for i := range list.Items {
		iss := &list.Items[i]
		if iss.Name != pki.CAIssuerName {
			continue
		}
		total++
		if c, found := readyCondition(&iss.Status); !found || c.Status != cmmeta.ConditionTrue {
			notReady = append(notReady, iss.Namespace)
		}
	}
	if len(notReady) > 0 {
		return fail(name, "see why with: "+cli+" describe space NAME (the pki part), and kubectl -n NAME describe certificate "+pki.CACertificateName,
			"%d of %d space CAs are not Ready: %s", len(notReady), total, strings.Join(notReady, ", "))
	}
	return ok(name, "all %d space CA Issuers are Ready", total)
}

// leaderCheck checks a manager holds and renews the reconciler's Lease in
// ns; system is the namespace the manager runs in.
func leaderCheck(ctx context.Context, cl *cluster, system, ns string, now time.Time) Check {
	const name = "leader"
	fix := fmt.Sprintf("the reconciler is not running: check the manager in %s (kubectl -n %s get pods; kubectl -n %s logs deploy/decco), that it runs with --enable-reconciler and --leader-elect, and that doctor's --leader-election-namespace is the manager's", system, system, system)
	lease := &coordinationv1.Lease{}
	err := cl.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: install.LeaderElectionID}, lease)
	if apierrors.IsNotFound(err) {
		return fail(name, fix, "no Lease %s/%s: no manager has ever led", ns, install.LeaderElectionID)
	}
	if err != nil {
		return fail(name, fix, "reading Lease %s/%s: %v", ns, install.LeaderElectionID, err)
	}
	fresh, detail := leaseState(lease, now)
	if !fresh {
		return fail(name, fix, "%s", detail)
	}
	return ok(name, "%s", detail)
}

// leaseState says whether a leader holds the Lease now: a holder, and a
// renewal less than a lease duration ago.
func leaseState(l *coordinationv1.Lease, now time.Time) (bool, string) {
	id := l.Namespace + "/" + l.Name
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if holder == "" {
		return false, fmt.Sprintf("Lease %s has no holder: no manager is leading", id)
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return false, fmt.Sprintf("Lease %s held by %s was never renewed", id, holder)
	}
	age := now.Sub(l.Spec.RenewTime.Time).Round(time.Second)
	limit := time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	if age > limit {
		return false, fmt.Sprintf("Lease %s held by %s expired: last renewed %s ago, lease duration %s", id, holder, age, limit)
	}
	return true, fmt.Sprintf("Lease %s held by %s, renewed %s ago", id, holder, age)
}
