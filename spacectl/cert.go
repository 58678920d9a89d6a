package spacectl

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

// ClientCertPrefix starts the name of the Certificate (and its Secret)
// that `cert client` makes: client-<NAME>.
const ClientCertPrefix = "client-"

// ManagedBySpacectl marks what spacectl creates, so the reconciler, which
// deletes decco-managed objects it no longer wants, leaves it alone.
const ManagedBySpacectl = "spacectl"

// Files `cert client` writes.
const (
	fileCert = "tls.crt"
	fileKey  = "tls.key"
	fileCA   = "ca.crt"
)

type certOptions struct {
	out       string
	duration  time.Duration
	wait      bool
	timeout   time.Duration
	overwrite bool
}

func (r *root) newCert() *cobra.Command {
	return r.group("cert", "Issue certificates from a space's CA", "client SPACE NAME",
		"  spacectl cert client acme reporting --out ./reporting", r.newCertClient())
}

func (r *root) newCertClient() *cobra.Command {
	o := &certOptions{}
	cmd := &cobra.Command{
		Use:   "client SPACE NAME",
		Short: "Issue a client certificate from the space's CA for an external TCP client",
		Long: `cert client issues a client certificate from the space's CA, so a client outside
the cluster (a MySQL client, say) can connect to the space's TCP services, whose sidecars
require client certificates from that CA. It creates a cert-manager Certificate
client-NAME in the space (common name NAME, DNS name NAME.clients.<space>.<domain>,
client authentication only, ECDSA P-256), waits until cert-manager has issued it, and
writes into --out:

  tls.crt  the client certificate
  tls.key  its private key (mode 0600)
  ca.crt   the space's CA, to verify the service

Running it again renews nothing: it writes the current certificate again (with
--overwrite). Delete the Certificate to revoke future renewals.`,
		Example: r.examples(`  # A certificate for the reporting job's MySQL client, written to ./reporting
  spacectl cert client acme reporting --out ./reporting
  mysql --host mysql.acme.example.com --port 443 --ssl-ca reporting/ca.crt \
        --ssl-cert reporting/tls.crt --ssl-key reporting/tls.key`),
		Args:              exactArgs(2, "the space and the client's name"),
		ValidArgsFunction: r.completeSpaces,
		RunE:              func(cmd *cobra.Command, args []string) error { return r.runCertClient(cmd, o, args[0], args[1]) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.out, "out", "", "Directory to write tls.crt, tls.key and ca.crt into (default ./NAME); created if missing.")
	fs.DurationVar(&o.duration, "duration", 0, "Validity of the certificate, e.g. 720h (default: cert-manager's, 90 days).")
	fs.BoolVar(&o.wait, "wait", true, "Wait for cert-manager to issue the certificate; --wait=false only creates the Certificate.")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "How long --wait waits.")
	fs.BoolVar(&o.overwrite, "overwrite", false, "Replace files already in --out.")
	_ = cmd.MarkFlagDirname("out")
	return cmd
}

func (r *root) runCertClient(cmd *cobra.Command, o *certOptions, spaceName, name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return usageErrorf("client name %q: %s (it names the Certificate and the client)", name, strings.Join(errs, "; "))
	}
	if o.out == "" {
		o.out = name
	}
	ctx := cmd.Context()
	cl, err := r.connect()
	if err != nil {
		return err
	}
	sp, err := r.caSpace(ctx, cl, spaceName)
	if err != nil {
		return err
	}
	if err := checkOutDir(o.out, o.overwrite); err != nil {
		return err
	}
	cert := clientCertificate(sp, name, o.duration)
	if err := applyCertificate(ctx, cl, cert); err != nil {
		return err
	}
	what := "certificate " + spaceName + "/" + cert.Name
	fmt.Fprintf(r.streams.ErrOut, "certificate/%s applied in space %s (issuer Issuer/%s)\n", cert.Name, spaceName, pki.CAIssuerName)
	if !o.wait {
		return nil
	}
	if err := waitFor(ctx, r.streams.ErrOut, r.log(), what, o.timeout, certificateReady(cl, spaceName, cert.Name, r.name)); err != nil {
		return err
	}
	return r.writeBundle(ctx, cl, sp, cert, o.out)
}

// caSpace reads the space and checks it has a CA to issue from.
func (r *root) caSpace(ctx context.Context, cl *cluster, name string) (space.Space, error) {
	ns, err := r.getSpace(ctx, cl, name)
	if err != nil {
		return space.Space{}, err
	}
	sp, err := space.FromNamespace(ns)
	if err != nil {
		return space.Space{}, fmt.Errorf("space %s is not valid, fix it first (%s describe space %s): %w", name, r.name, name, err)
	}
	if sp.TCPCertSecret != "" {
		return space.Space{}, fmt.Errorf("space %s brings its own certificates (%s=%s), so decco runs no CA for it: issue client certificates from the CA that signed %s", name, space.AnnotationTCPCertSecret, sp.TCPCertSecret, sp.TCPCertSecret)
	}
	iss := &cmapi.Issuer{}
	err = cl.c.Get(ctx, client.ObjectKey{Namespace: name, Name: pki.CAIssuerName}, iss)
	if apierrors.IsNotFound(err) {
		return space.Space{}, notReadyf("space %s has no CA Issuer %s yet: the reconciler creates it; see %s describe space %s", name, pki.CAIssuerName, r.name, name)
	}
	if err != nil {
		return space.Space{}, fmt.Errorf("reading Issuer %s/%s (is cert-manager installed? %s doctor): %w", name, pki.CAIssuerName, r.name, err)
	}
	return sp, nil
}

// clientCertificate is the Certificate for client name of space sp. The
// DNS name keeps it inside the space CA's name constraints, which
// verifiers may apply to a client certificate's names.
func clientCertificate(sp space.Space, name string, duration time.Duration) *cmapi.Certificate {
	c := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: sp.Name, Name: ClientCertPrefix + name,
			Labels: map[string]string{space.LabelSpace: sp.Name, space.LabelManagedBy: ManagedBySpacectl}},
		Spec: cmapi.CertificateSpec{
			CommonName: name,
			DNSNames:   []string{name + ".clients." + sp.Host()},
			Usages:     []cmapi.KeyUsage{cmapi.UsageClientAuth, cmapi.UsageDigitalSignature},
			SecretName: ClientCertPrefix + name,
			IssuerRef:  cmmeta.IssuerReference{Name: pki.CAIssuerName, Kind: cmapi.IssuerKind, Group: "cert-manager.io"},
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
		},
	}
	if duration > 0 {
		c.Spec.Duration = &metav1.Duration{Duration: duration}
	}
	return c
}

// applyCertificate creates the Certificate or updates its spec.
func applyCertificate(ctx context.Context, cl *cluster, want *cmapi.Certificate) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &cmapi.Certificate{}
		err := cl.c.Get(ctx, client.ObjectKeyFromObject(want), cur)
		if apierrors.IsNotFound(err) {
			return cl.c.Create(ctx, want.DeepCopy())
		}
		if err != nil {
			return fmt.Errorf("reading certificate %s/%s: %w", want.Namespace, want.Name, err)
		}
		cur.Labels, cur.Spec = want.Labels, want.Spec
		return cl.c.Update(ctx, cur)
	})
}

// certificateReady waits for cert-manager's Ready condition of the
// current generation.
func certificateReady(cl *cluster, ns, name, cli string) waitCheck {
	return func(ctx context.Context) (bool, string, error) {
		c := &cmapi.Certificate{}
		if err := cl.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
			return false, "", fmt.Errorf("reading certificate %s/%s: %w", ns, name, err)
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type != cmapi.CertificateConditionReady {
				continue
			}
			if cond.Status == cmmeta.ConditionTrue && cond.ObservedGeneration == c.Generation {
				return true, "", nil
			}
			return false, strings.TrimSpace(fmt.Sprintf("not ready: %s %s", cond.Reason, oneLine(cond.Message))), nil
		}
		return false, "cert-manager has not picked it up yet (if this lasts, check cert-manager: " + cli + " doctor)", nil
	}
}

// writeBundle copies the issued Secret into files.
func (r *root) writeBundle(ctx context.Context, cl *cluster, sp space.Space, cert *cmapi.Certificate, dir string) error {
	sec := &corev1.Secret{}
	if err := cl.c.Get(ctx, client.ObjectKey{Namespace: sp.Name, Name: cert.Spec.SecretName}, sec); err != nil {
		return fmt.Errorf("reading Secret %s/%s that cert-manager issued into: %w", sp.Name, cert.Spec.SecretName, err)
	}
	files, err := bundleFiles(sec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeFileMode(p, f.data, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		written = append(written, fmt.Sprintf("%s (%04o)", p, f.mode))
	}
	fmt.Fprintf(r.streams.Out, "certificate/%s issued: %s\n", cert.Name, certSummary(files[0].data))
	fmt.Fprintf(r.streams.Out, "wrote %s\n", strings.Join(written, ", "))
	return nil
}

type bundleFile struct {
	name string
	data []byte
	mode os.FileMode
}

// bundleFiles picks the client's files out of a cert-manager Secret.
func bundleFiles(sec *corev1.Secret) ([]bundleFile, error) {
	files := []bundleFile{
		{name: fileCert, data: sec.Data[corev1.TLSCertKey], mode: 0o644},
		{name: fileKey, data: sec.Data[corev1.TLSPrivateKeyKey], mode: 0o600},
		{name: fileCA, data: sec.Data[fileCA], mode: 0o644},
	}
	for _, f := range files {
		if len(f.data) == 0 {
			return nil, fmt.Errorf("secret %s/%s has no %s: cert-manager has not finished writing it; run the command again", sec.Namespace, sec.Name, f.name)
		}
	}
	return files, nil
}

// writeFileMode writes data with exactly mode, also when the file exists
// with a wider one.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// checkOutDir refuses to replace files unless asked to.
func checkOutDir(dir string, overwrite bool) error {
	if overwrite {
		return nil
	}
	for _, f := range []string{fileCert, fileKey, fileCA} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err == nil {
			return usageErrorf("%s exists: pass --overwrite to replace it, or choose another --out", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

// certSummary names a PEM certificate's subject, issuer and expiry.
func certSummary(pemData []byte) string {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return "unreadable certificate"
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "unreadable certificate: " + err.Error()
	}
	return fmt.Sprintf("CN=%s, issued by %q, valid until %s", c.Subject.CommonName, c.Issuer.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
}
