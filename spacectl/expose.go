package spacectl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

type exposeOptions struct {
	httpPath string
	tcp      bool
	dns      bool
	name     string
	port     int32
	wait     bool
	timeout  time.Duration
	out      *outputFlag
}

func (r *root) newExpose() *cobra.Command {
	o := &exposeOptions{}
	cmd := &cobra.Command{
		Use:   "expose (deployment|service)/NAME (--http-path PATH | --tcp) [--dns]",
		Short: "Expose a Deployment or Service of a space over HTTP (by path) or TCP (by SNI)",
		Long: `expose makes a workload of a space reachable from outside:

  --http-path /shop  an HTTP route at https://<space>.<domain>/shop through the gateway;
  --tcp              a TLS passthrough route by SNI at <service>.<space>.<domain>, the
                     sidecar terminating TLS (clients need a certificate: see "cert client").
  --dns              also publish a DNS record for the service.

For a Service, it sets the decco.io/ label and annotations on it. For a Deployment, it
creates a Service (named --name, default the Deployment's) selecting its pods, with a
port per container port (or --port), and labels it. The Deployment's pods must be
labeled with the space, or they would have no TLS listener to route to.

--wait waits until the reconciler reports the routes (and DNS, with --dns) ready and a
route serves the Service, printing progress; on --timeout it exits 3 with the reason.`,
		Example: r.examples(`  # Serve the web Deployment of space acme at https://acme.example.com/shop
  spacectl expose deployment/web -n acme --http-path /shop

  # Make the mysql Service reachable at mysql.acme.example.com, with a DNS record, and wait
  spacectl expose service/mysql -n acme --tcp --dns --wait`),
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, err := parseTarget(args)
			if err != nil {
				return err
			}
			return r.runExpose(cmd, o, kind, name)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.httpPath, "http-path", "", "Expose over HTTP under this path prefix of <space>.<domain>.")
	fs.BoolVar(&o.tcp, "tcp", false, "Expose over TCP with TLS, routed by SNI at <service>.<space>.<domain>.")
	fs.BoolVar(&o.dns, "dns", false, "Publish a DNS record for the service.")
	fs.StringVar(&o.name, "name", "", "Name of the Service created for a Deployment (default: the Deployment's).")
	fs.Int32Var(&o.port, "port", 0, "Expose only this container port of a Deployment (default: all its TCP ports).")
	fs.BoolVar(&o.wait, "wait", false, "Wait until a route serves the Service and the reconciler reports routes (and DNS) ready.")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "How long --wait waits.")
	o.out = addOutputFlag(cmd, outText, outText, outYAML, outJSON)
	return cmd
}

// Kinds expose accepts.
const (
	kindDeployment = "deployment"
	kindService    = "service"
)

// parseTarget reads "kind/name" or "kind name".
func parseTarget(args []string) (string, string, error) {
	kind, name, found := strings.Cut(args[0], "/")
	if len(args) == 2 {
		if found {
			return "", "", usageErrorf("give the target as KIND/NAME or KIND NAME, not both")
		}
		name = args[1]
	} else if !found {
		return "", "", usageErrorf("give the target as deployment/NAME or service/NAME")
	}
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy":
		kind = kindDeployment
	case "service", "services", "svc":
		kind = kindService
	default:
		return "", "", usageErrorf("can't expose a %q: expose a deployment or a service", kind)
	}
	if name == "" {
		return "", "", usageErrorf("the %s's name is empty", kind)
	}
	return kind, name, nil
}

func (o *exposeOptions) check(kind string) error {
	if err := o.out.check(); err != nil {
		return err
	}
	if (o.httpPath != "") == o.tcp {
		return usageErrorf("choose one of --http-path PATH (HTTP) or --tcp (TLS by SNI)")
	}
	if kind == kindService && (o.name != "" || o.port != 0) {
		return usageErrorf("--name and --port apply to a Deployment; a Service keeps its name and ports")
	}
	return nil
}

func (r *root) runExpose(cmd *cobra.Command, o *exposeOptions, kind, name string) error {
	if err := o.check(kind); err != nil {
		return err
	}
	ns, err := r.namespace()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	cl, err := r.connect()
	if err != nil {
		return err
	}
	nsObj, err := r.getSpace(ctx, cl, ns)
	if err != nil {
		return err
	}
	sp, err := space.FromNamespace(nsObj)
	if err != nil {
		return fmt.Errorf("space %s is not valid, fix it first (%s describe space %s): %w", ns, r.name, ns, err)
	}
	svc, result, err := o.apply(ctx, cl, sp, kind, name)
	if err != nil {
		return err
	}
	if err := r.reportExposed(o, sp, svc, result); err != nil {
		return err
	}
	if !o.wait {
		return nil
	}
	return waitFor(ctx, r.streams.ErrOut, r.log(), "service "+ns+"/"+svc.Name, o.timeout, routeReady(cl, ns, svc.Name, o.dns, r.name))
}

// apply labels an existing Service, or creates one for a Deployment.
func (o *exposeOptions) apply(ctx context.Context, cl *cluster, sp space.Space, kind, name string) (*corev1.Service, string, error) {
	svcName := name
	if kind == kindDeployment {
		if o.name != "" {
			svcName = o.name
		}
		d := &appsv1.Deployment{}
		if err := cl.c.Get(ctx, client.ObjectKey{Namespace: sp.Name, Name: name}, d); err != nil {
			return nil, "", notFoundOr(err, "deployment %s/%s", sp.Name, name)
		}
		if err := checkDeployment(d, sp); err != nil {
			return nil, "", err
		}
		svc, err := serviceFor(d, svcName, o.port)
		if err != nil {
			return nil, "", err
		}
		o.annotate(svc, sp)
		if err := validateExposure(svc); err != nil {
			return nil, "", err
		}
		err = cl.c.Create(ctx, svc)
		if err == nil {
			return svc, "created", nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, "", fmt.Errorf("creating service %s/%s: %w", sp.Name, svcName, err)
		}
		// A Service of that name exists (say, from the chart): expose it.
	}
	return o.exposeService(ctx, cl, sp, svcName)
}

// exposeService sets the label and annotations on an existing Service.
func (o *exposeOptions) exposeService(ctx context.Context, cl *cluster, sp space.Space, name string) (*corev1.Service, string, error) {
	svc := &corev1.Service{}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cl.c.Get(ctx, client.ObjectKey{Namespace: sp.Name, Name: name}, svc); err != nil {
			return notFoundOr(err, "service %s/%s", sp.Name, name)
		}
		o.annotate(svc, sp)
		if err := validateExposure(svc); err != nil {
			return err
		}
		return cl.c.Update(ctx, svc)
	})
	if err != nil {
		return nil, "", err
	}
	return svc, "configured", nil
}

// notFoundOr maps a NotFound read to ExitNotFound naming the object.
func notFoundOr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if apierrors.IsNotFound(err) {
		return notFoundf("%s not found", what)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// checkDeployment refuses a Deployment whose pods would not be injected:
// the route would lead to a TLS listener that doesn't exist.
func checkDeployment(d *appsv1.Deployment, sp space.Space) error {
	if d.Spec.Template.Labels[space.LabelSpace] == sp.Name {
		return nil
	}
	return fmt.Errorf("deployment %s/%s: its pod template is not labeled %s=%s, so its pods get no TLS sidecar to route to; label it: kubectl -n %s patch deployment %s -p '{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"%s\":\"%s\"}}}}}'",
		sp.Name, d.Name, space.LabelSpace, sp.Name, sp.Name, d.Name, space.LabelSpace, sp.Name)
}

// serviceFor builds a Service selecting the Deployment's pods, with a port
// per TCP container port (or only port). Named container ports are
// targeted by name: the sidecar takes the names over, so they lead to TLS.
func serviceFor(d *appsv1.Deployment, name string, only int32) (*corev1.Service, error) {
	sel := d.Spec.Selector
	if sel == nil || len(sel.MatchExpressions) > 0 || len(sel.MatchLabels) == 0 {
		return nil, fmt.Errorf("deployment %s/%s: its selector is not plain matchLabels; write a Service for it and expose that (service/NAME)", d.Namespace, d.Name)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: name},
		Spec:       corev1.ServiceSpec{Selector: sel.MatchLabels},
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) || (only != 0 && p.ContainerPort != only) {
				continue
			}
			svc.Spec.Ports = append(svc.Spec.Ports, servicePort(p))
		}
	}
	if len(svc.Spec.Ports) == 0 {
		if only != 0 {
			return nil, usageErrorf("deployment %s/%s declares no TCP container port %d", d.Namespace, d.Name, only)
		}
		return nil, fmt.Errorf("deployment %s/%s declares no TCP container port; add one, or pass --port", d.Namespace, d.Name)
	}
	return svc, nil
}

func servicePort(p corev1.ContainerPort) corev1.ServicePort {
	if p.Name != "" {
		return corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: intstr.FromString(p.Name)}
	}
	return corev1.ServicePort{Name: fmt.Sprintf("tcp-%d", p.ContainerPort), Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort)}
}

// annotate sets the space label and the exposure annotations.
func (o *exposeOptions) annotate(svc *corev1.Service, sp space.Space) {
	if svc.Labels == nil {
		svc.Labels = map[string]string{}
	}
	svc.Labels[space.LabelSpace] = sp.Name
	if svc.Annotations == nil {
		svc.Annotations = map[string]string{}
	}
	if o.httpPath != "" {
		svc.Annotations[space.AnnotationHTTPPath] = o.httpPath
	} else {
		delete(svc.Annotations, space.AnnotationHTTPPath)
	}
	if o.dns {
		svc.Annotations[space.AnnotationDNS] = "true"
	}
}

// validateExposure checks the Service with package space before sending
// it; a bad --http-path is a usage error.
func validateExposure(svc *corev1.Service) error {
	if _, err := space.ExposureFromService(svc); err != nil {
		fes := space.FieldErrors(err)
		if len(fes) == 1 && fes[0].Key == space.AnnotationHTTPPath {
			return usageErrorf("--http-path: %v", fes[0])
		}
		return withCode(ExitUsage, err)
	}
	return nil
}

func (r *root) reportExposed(o *exposeOptions, sp space.Space, svc *corev1.Service, result string) error {
	if o.out.value != outText {
		svc.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
		svc.ManagedFields = nil
		return printObject(r.streams.Out, o.out.value, svc)
	}
	exp, err := space.ExposureFromService(svc)
	if err != nil {
		return err
	}
	at := "over TCP (TLS, by SNI) at " + sp.ServiceHost(svc.Name)
	if exp.HTTPPath != "" {
		at = "over HTTP at https://" + sp.Host() + exp.HTTPPath
	}
	dns := ""
	if exp.DNS {
		dns = ", with a DNS record"
	}
	fmt.Fprintf(r.streams.Out, "service/%s %s: exposed %s%s\n", svc.Name, result, at, dns)
	return nil
}

// routeReady is the --wait check of expose: a decco route sends traffic
// to the Service and no gateway refused it, and the reconciler reports
// routes (and dns) ready.
func routeReady(cl *cluster, ns, svc string, dns bool, cli string) waitCheck {
	return func(ctx context.Context) (bool, string, error) {
		objs, err := deccoObjects(ctx, cl, ns)
		if err != nil {
			return false, "", err
		}
		if msg, ok := routeState(objs, svc); !ok {
			return false, msg, nil
		}
		nsObj := &corev1.Namespace{}
		if err := cl.c.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
			return false, "", fmt.Errorf("reading namespace %s: %w", ns, err)
		}
		parts := []string{space.PartRoutes}
		if dns {
			parts = append(parts, space.PartDNS)
		}
		return statusProgress(nsObj.Annotations, parts, cli)
	}
}

// routeState finds the route of svc among decco's objects: ok when one
// exists that no gateway refused. A route no gateway has looked at yet
// counts: whether a gateway controller runs at all is not visible here.
func routeState(objs []unstructured.Unstructured, svc string) (string, bool) {
	for i := range objs {
		u := &objs[i]
		if !slices.Contains(routeKinds, u.GetKind()) || !refersToService(u, svc) {
			continue
		}
		if st := objectState(u); st.State == StateNotAccepted {
			return strings.TrimSpace(fmt.Sprintf("%s/%s not accepted by the gateway: %s %s", st.Kind, st.Name, st.Reason, oneLine(st.Message))), false
		}
		return "", true
	}
	return fmt.Sprintf("no route sends traffic to service %s yet (the reconciler makes one)", svc), false
}
