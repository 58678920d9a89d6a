// Package pki builds the cert-manager objects that give each space its own
// public key infrastructure. It is pure: Objects turns a space and the
// installation's settings into fully formed Issuers and Certificates with
// stable names and no I/O, and Ready summarizes their live state for the
// space's status. The reconciler applies the objects; cert-manager issues.
//
// Per space, in the space namespace:
//
//   - Certificate "decco-ca": the space CA (ECDSA P-256), from the space's
//     decco.io/issuer, else the installation default, else a per-space
//     self-signed Issuer "decco-selfsigned". Its Secret is
//     space.Space.CASecret(). The key is never rotated on renewal, so
//     leaves issued before a renewal still verify against the renewed CA.
//     Name constraints limit it to the space's own names, so even a
//     mis-issued leaf can't claim another space's hostnames.
//   - Issuer "decco-ca": a CA Issuer on that Secret.
//   - Certificate "decco-workload": what sidecars mount
//     (space.Space.WorkloadCertSecret()), from the space CA, for both
//     server and client authentication, naming <space>.<domain>,
//     *.<space>.<domain> and each Service's in-cluster names.
//   - Certificate "decco-http": what the gateway serves for
//     <space>.<domain> (space.Space.HTTPTLSSecret()), from Options.HTTPIssuer
//     (a publicly trusted issuer, in production), else the space CA.
//
// One CA per space is what keeps a client certificate of one space from
// being accepted by another (docs/design.md, invariant 3), as long as that CA is
// the root the sidecars trust. cert-manager puts the root-most certificate
// of the chain into ca.crt, so the space CA must be self-signed: with a
// CA-type issuer above it, ca.crt would be that shared root and every space
// would accept every other space's clients. The default (no issuer
// configured) is therefore a self-signed CA per space; an installation
// default must be a SelfSigned ClusterIssuer for the same reason.
//
// Bring-your-own Secrets replace the parts they cover: with
// decco.io/tcp-cert-secret there is no space CA, CA Issuer or workload
// Certificate; with decco.io/http-cert-secret no HTTP Certificate.
package pki
