package supervisor

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/decco-dev/decco/sidecar"
)

// certState is what the sidecar knows about the files in --cert-dir.
type certState struct {
	sum      [sha256.Size]byte
	serial   string
	notAfter time.Time
}

// readCerts reads tls.crt, tls.key and ca.crt through their paths (so
// through kubelet's ..data symlink) and checks that they make a usable
// identity: a key pair that matches and at least one CA certificate. A
// half-written set, which non-kubelet writers can produce, is an error, so
// stunnel is never asked to load it.
func readCerts(dir string) (certState, error) {
	var data [3][]byte
	for i, name := range []string{sidecar.CertFile, sidecar.KeyFile, sidecar.CAFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return certState{}, fmt.Errorf("read certificate files: %w", err)
		}
		data[i] = b
	}
	pair, err := tls.X509KeyPair(data[0], data[1])
	if err != nil {
		return certState{}, fmt.Errorf("load %s and %s: %w", sidecar.CertFile, sidecar.KeyFile, err)
	}
	if err := checkCA(data[2]); err != nil {
		return certState{}, err
	}
	h := sha256.New()
	for _, b := range data {
		fmt.Fprintf(h, "%d:", len(b)) // length-prefix so boundaries count
		h.Write(b)
	}
	st := certState{serial: pair.Leaf.SerialNumber.Text(16), notAfter: pair.Leaf.NotAfter}
	copy(st.sum[:], h.Sum(nil))
	return st, nil
}

func checkCA(b []byte) error {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("%s: no PEM certificate", sidecar.CAFile)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return fmt.Errorf("%s: %w", sidecar.CAFile, err)
	}
	return nil
}

// waitCerts polls until the certificate files are usable, so a Secret that
// is still being issued delays startup instead of crash-looping.
func waitCerts(ctx context.Context, dir string, every time.Duration, log *slog.Logger) (certState, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 0; ; n++ {
		st, err := readCerts(dir)
		if err == nil {
			return st, nil
		}
		if n%30 == 0 {
			log.Warn("waiting for certificates", "cert_dir", dir, "error", err)
		}
		select {
		case <-ctx.Done():
			return certState{}, errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// watchCerts polls the certificate files and calls reload whenever their
// content changes to another usable set. Polling content rather than
// watching inotify events is immune to how the files are replaced: kubelet
// swaps the ..data symlink, cert-manager's csi driver and hand-made mounts
// rewrite files in place, and all of them end with different bytes.
func watchCerts(ctx context.Context, dir string, every time.Duration, last certState,
	reload func(certState), log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := readCerts(dir)
		if err != nil {
			if err.Error() != lastErr { // log each distinct problem once
				log.Warn("certificate files unusable, keeping current ones", "cert_dir", dir, "error", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if st.sum != last.sum {
			log.Info("certificates changed, reloading", "cert_dir", dir,
				"serial", st.serial, "not_after", st.notAfter.UTC().Format(time.RFC3339))
			reload(st)
			last = st
		}
	}
}
