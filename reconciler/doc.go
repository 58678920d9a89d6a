// Package reconciler is decco's space controller: it turns every space
// namespace into the objects the pure builders describe (pki, netpol,
// route, dns) and keeps them converged, leader-elected inside the manager.
//
// # Shape
//
// One reconcile handles one namespace, in three steps:
//
//   - gather (I/O, reads only, from label-narrowed caches and, for
//     Secrets, by name from the apiserver): the space, its Services, every
//     other space's project and hostnames, what decco already has in the
//     namespace, the Gateway's address;
//   - decide (pure): the builders' objects, the refused exposures, the DNS
//     records, and the status conditions (small functions, table-tested);
//   - converge (I/O): create or update what differs, delete decco's
//     objects that are no longer wanted, publish DNS (the DNSEndpoint is
//     one of the objects; an RFC 2136 provider is called), write the
//     status.
//
// # Writes
//
// Nothing is written when nothing changed. Each object decco builds is
// compared with the cached one first (needsWrite: a hash of the build in
// decco.io/applied, plus a check that every field decco sets is still
// there), and only a difference leads to a server-side apply with field
// owner "decco". A first apply does not force ownership, so an object of
// the same name that decco did not make answers Conflict instead of being
// taken over, and the status says so (NameInUse); no lookup precedes the
// create.
//
// # Ownership and cleanup
//
// Every object decco makes carries app.kubernetes.io/managed-by=decco and
// decco.io/space=<space>; the caches hold only objects with that label, so
// decco can neither see nor touch anything else.
//
// Secrets are the exception: decco caches and watches none, because RBAC
// can't narrow list or watch to a label and a cluster-wide Secret cache
// would hold every tenant's private keys. cert-manager writes decco's
// Secrets under three fixed names (OwnSecretNames), which decco reads and
// deletes by name from the apiserver, so an installation grants exactly
// those names. A Certificate's status change is what tells decco that its
// Secret changed; what decco learns from a Secret (is the CA self-signed,
// its ca.crt) is remembered by that Certificate's resourceVersion. The
// Secrets a space brings itself (decco.io/tcp-cert-secret,
// decco.io/http-cert-secret) have names the tenant picks; decco reads
// them only with Options.VerifyBYOSecrets, which needs get on every
// Secret, and otherwise says in the status that they are the tenant's
// responsibility. Objects carry no owner
// reference to their Namespace: deleting a namespace deletes its contents
// anyway, and the event that matters, removing the space label, does not
// delete the namespace, so an owner reference would never fire. Removing
// the label (or the namespace ceasing to be a space) deletes exactly the
// labeled objects, the Secrets cert-manager wrote for decco's Certificates
// (by name, after checking the label cert-manager copied from the
// secretTemplate), the DNS records and the status annotation. An invalid space is left as it is, objects included: a typo
// in an annotation must not take a tenant's services offline; its status
// names the bad key and the fix.
//
// # Status
//
// The namespace's decco.io/status annotation (space.Status) holds one
// condition per part (pki, policies, routes, dns) with a reason and a
// message; it is written only when it changes, and each change of a part
// is also an Event on the namespace. Hostnames are first come, first
// served: the space whose namespace is older keeps a contested name, the
// other's routes part says HostnameTaken and names the owner.
//
// # Events that concern several spaces
//
// A space's policies depend on its project's members and its routes on
// other spaces' hostnames, so the event handlers enqueue more than the
// namespace that changed: every member of a project a namespace joins or
// leaves, and the spaces that could want the same hostname (a hostname
// <a>.<b>.<domain> can only be wanted by the spaces named a and b).
//
// # Health
//
// The controller waits for its informers as long as it takes: a missing
// RBAC rule or CRD stalls the reconciler, never the process, which also
// serves the webhook. The decco_reconciler_caches_synced gauge and a
// repeated log line naming the kinds still waiting say so.
package reconciler
