// Package inject is decco's sidecar injector as a pure function: a Pod and
// its Space in, the Pod to admit (or a refusal) out. It does no I/O and
// holds no clients, so the webhook, spacectl's offline rendering and the
// tests all run exactly the same code.
//
// # What Pod does to a pod labeled decco.io/space=<space>
//
//   - Adds a container "decco-tls" running the sidecar image with
//     sidecar.Config.Args(): one TLS listener per exposed TCP container
//     port, on ListenerPort(appPort), forwarding to the app on localhost,
//     and one tunnel per decco.io/egress entry. As a native sidecar (first
//     init container, restartPolicy Always, startup probe) or, for older
//     clusters, as the last regular container.
//   - Port takeover: the sidecar declares each listener port under the app
//     port's original name (tls-<port> if it had none) and the app's port is
//     renamed app-<port>, so Services and probes that name the port reach
//     TLS. App probes and lifecycle hooks that named a moved port are
//     rewritten to its number, so the kubelet still checks the app directly.
//   - Mounts the space's workload certificate Secret read-only, and an
//     emptyDir at /tmp, into the sidecar only.
//   - Forces the space's RuntimeClass when it has one (also on pods that
//     are skipped: it is an isolation guarantee, not a TLS feature).
//   - Records a hash of what it injected in the annotation decco.io/injected,
//     and labels the pod decco.io/injected=true: the space's listener
//     NetworkPolicy opens only pods carrying it, and Pod refuses it on any
//     pod it does not inject. In cni mode the pod is also labeled
//     decco.io/interception=cni (InjectedMode), which cni mode's listener
//     policy requires and ports mode's refuses, so pods left from before a
//     switch of modes are closed, not plaintext; a user's copy is replaced
//     or refused the same way.
//
// # cni interception (Config.Interception = InterceptCNI)
//
// With the node's decco-cni plugin the sidecar serves TLS on every port's
// own number, so none of the port takeover above happens: ports keep their
// names and numbers, Services are left as written, and every pod of the
// space gets a sidecar, pods that only dial out included. The sidecar runs
// transparent TLS servers and a transparent mutual-TLS client (package
// sidecar), the pod's intercept.Plan goes into decco.io/interception for
// the plugin, and the app's HTTP, TCP and gRPC probes are pointed at the
// sidecar's app-health endpoint (restored on reinjection). Containers may
// not declare the sidecar's ports (15001, 15006, 15007, 15020, 15021). See
// docs/design.md, "Carrying ports".
//
// # What Pod checks on every pod of a space
//
// Labeled or not, opted in or out: no host network, ports, processes, IPC
// or paths, no privileged container, no capability past Pod Security
// baseline's, no unconfined seccomp. A pod that skips injection still
// shares the node with other tenants' sidecars and their keys.
//
// PodUpdate checks an update of a pod (or of its ephemeral containers):
// the space label is set at creation only, what decco injected can't be
// edited, and ephemeral containers are checked like containers.
//
// Exposed ports are every TCP port declared by the pod's regular
// containers, or only those in decco.io/tls-ports, minus
// decco.io/plaintext-ports. Init containers' ports are never exposed but
// are checked for conflicts.
//
// # Decisions and refusals
//
// A Result carries a Decision (for metrics and Events). A pod with nothing
// for the sidecar to do (no exposed port and no egress) is left without a
// sidecar: SkippedNoPorts. That keeps the space's private key out of pods
// that would never use it, and saves a container per such pod. Pods that
// can't be injected safely get a *Refusal with a machine-readable Reason
// and a message naming the pod, the field or key, and the fix.
//
// # Idempotence
//
// Pod applied to its own output returns it unchanged (UpToDate): the hash
// in decco.io/injected, the sidecar's image and arguments and the two
// volumes must all match what Pod would produce now. When anything differs
// (new image, changed annotations) the previous injection is removed
// first, restoring the app's port names from the old sidecar's ports, and
// the pod is injected again (Reinjected); it never carries two sidecars.
// A previously injected pod that now opts out, or has nothing left to
// expose, has the old injection removed.
//
// Service rewrites numeric target ports of a space's Service to the TLS
// listener; see its documentation for how it stays idempotent.
package inject
