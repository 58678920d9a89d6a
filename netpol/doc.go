// Package netpol builds the NetworkPolicies that fence a space, as pure
// functions: a space and the names around it in, policies out. No I/O; the
// reconciler applies what Policies returns and deletes any decco policy of
// the space it did not return.
//
// # What a space gets
//
// Two ingress policies in the space namespace, both labeled
// app.kubernetes.io/managed-by=decco and decco.io/space=<space>:
//
//   - IsolationPolicy selects every pod of the namespace (podSelector {})
//     and allows no ingress: default deny. Pods that are not (or not yet)
//     part of the space are fenced too, because every port they have is
//     plaintext.
//   - ListenerPolicy selects the space's pods decco injected for the
//     cluster's interception mode (decco.io/space=<space>,
//     decco.io/injected=true, and decco.io/interception=cni in cni mode or
//     no such label in ports mode: a number that is TLS on a pod of one
//     mode can be the app's plaintext port on a pod of the other) and
//     allows ingress only to the TLS listener ports (Input.ListenerPorts),
//     only from the permitted namespaces. It is left out when there is no
//     listener port: a rule without ports would open every port.
//
// Other pods, in the same namespace or not, therefore reach a space pod
// only on its TLS listeners, never on the application's plaintext port
// (security invariant 1 in docs/design.md). Traffic a pod sends to itself over localhost is
// not subject to policy, which is how the sidecar reaches the app. The
// sidecar's health port stays closed: kubelet probes come from the node,
// which NetworkPolicy implementations always admit to local pods.
//
// # Who may connect
//
// A space with a project admits the namespaces of that project's spaces
// (itself included), the system namespace (decco's own) and the gateway
// namespace (which carries Internet traffic in). A space without a project
// admits every namespace. Namespaces are selected by
// kubernetes.io/metadata.name, which the apiserver sets to the namespace's
// name and a tenant can't change, never by decco.io/project or any other
// label a tenant controls (security invariant 2 in docs/design.md): a tenant that labels its
// namespace with another project's name gains nothing. Project membership
// comes from the decco.io/project annotation as parsed by package space;
// when a space joins or leaves a project the reconciler rebuilds the
// policies of every space of the old and the new project.
//
// Traffic from outside the cluster and from host-network pods is matched
// by neither selector; it enters through the gateway, which is admitted.
//
// # Egress
//
// Egress is not restricted: tenants call external APIs and each other's
// TLS listeners, and decco's guarantee is about what reaches a tenant pod.
// DNS to kube-system therefore keeps working untouched.
//
// # Ports
//
// ListenerPorts turns a space's Services into the port numbers to open:
// numeric target ports the injector's Service rewrite moved to a TLS
// listener (as recorded in decco.io/rewritten-ports), and named target
// ports, which follow the sidecar after port takeover, resolved to numbers
// through the EndpointSlices kube-controller-manager keeps for the
// Service. Policies never name a port: the sidecar is a native sidecar (an
// init container), and engines that resolve named ports on regular
// containers only (kube-router among them) would close it. Target ports
// the Service keeps plaintext, or that were never rewritten, are not
// opened. One gap remains with names: a named target port that a pod keeps
// plaintext (decco.io/plaintext-ports on the pod, not on the Service)
// resolves to the application's port, and is opened if its number could be
// a listener's (10001 and up); a Service that wants that port plaintext
// must list it in its own decco.io/plaintext-ports.
package netpol
