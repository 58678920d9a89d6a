package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/build/oci"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/node"
)

// Gateway is the running gateway: where each instance answers, from the
// host and from pods.
type Gateway struct {
	// Addr maps each instance to its Service's ClusterIP:ServicePort.
	Addr map[Instance]string
}

// Start builds Traefik (once per machine, minutes cold) and its image,
// imports the image into n and runs both instances in namespace ns,
// returning once both are Ready.
func Start(ctx context.Context, c client.Client, n *node.Node, ns string, out io.Writer) (*Gateway, error) {
	img, err := image(ctx, out)
	if err != nil {
		return nil, err
	}
	if err := n.ImportImage(ctx, Image, img); err != nil {
		return nil, err
	}
	if err := serveAlphaRoutes(ctx, c); err != nil {
		return nil, err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating the gateway namespace %s: %w", ns, err)
	}
	for _, obj := range Objects(ns) {
		if err := c.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	gw := &Gateway{Addr: map[Instance]string{}}
	for _, i := range []Instance{GatewayAPI, Ingress} {
		if err := waitAvailable(ctx, c, ns, string(i)); err != nil {
			return nil, err
		}
		var svc corev1.Service
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: string(i)}, &svc); err != nil {
			return nil, err
		}
		gw.Addr[i] = net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(ServicePort))
	}
	return gw, nil
}

// serveAlphaRoutes replaces the TLSRoute and TCPRoute CRDs with Gateway
// API's experimental ones, which also serve v1alpha2: Traefik 3.6 reads
// those versions and, without them, never syncs its caches and serves
// nothing. decco keeps writing v1, the stored version of both.
func serveAlphaRoutes(ctx context.Context, c client.Client) error {
	crds, err := controlplane.GatewayAPIExperimentalCRDs(ctx, "tlsroutes", "tcproutes")
	if err != nil {
		return err
	}
	for _, want := range crds {
		var have apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: want.Name}, &have); err != nil {
			return fmt.Errorf("reading CRD %s: %w", want.Name, err)
		}
		have.Spec, have.Annotations = want.Spec, want.Annotations
		if err := c.Update(ctx, &have); err != nil {
			return fmt.Errorf("serving v1alpha2 of %s: %w", want.Name, err)
		}
	}
	// Discovery must list v1alpha2 before Traefik starts its informers.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, kind := range []string{"TLSRoute", "TCPRoute"} {
		for {
			_, err := c.RESTMapper().RESTMapping(schema.GroupKind{Group: gatewayv1.GroupName, Kind: kind}, "v1alpha2")
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s v1alpha2 not served after 1m: %w", kind, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// image is Traefik's image: the static binary alone, run as uid.
func image(ctx context.Context, out io.Writer) (v1.Image, error) {
	dir, err := EnsureBinary(ctx, out)
	if err != nil {
		return nil, err
	}
	bin, err := oci.BinaryFile(filepath.Join(dir, "traefik"), "/traefik")
	if err != nil {
		return nil, err
	}
	layer, err := oci.FilesLayer(bin)
	if err != nil {
		return nil, err
	}
	return oci.Build(oci.Spec{Layers: []v1.Layer{layer}, Entrypoint: []string{"/traefik"}, User: strconv.Itoa(uid)}, runtime.GOARCH)
}

// waitAvailable waits for a Deployment's replica to be Ready, saying what
// its pod is doing if it never gets there.
func waitAvailable(ctx context.Context, c client.Client, ns, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		var d appsv1.Deployment
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)
		if err == nil && d.Status.ReadyReplicas >= 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			var pods corev1.PodList
			_ = c.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": name})
			return fmt.Errorf("gateway %s/%s not Ready after 2m (%v): pods %s", ns, name, err, podStates(pods.Items))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podStates(pods []corev1.Pod) string {
	var s string
	for _, p := range pods {
		s += fmt.Sprintf("%s %s", p.Name, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				s += fmt.Sprintf(" (%s: %s)", w.Reason, w.Message)
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				s += fmt.Sprintf(" (last exit %d: %s)", t.ExitCode, t.Message)
			}
		}
		s += "; "
	}
	return s
}
