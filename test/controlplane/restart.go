package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// RestartAPIServer stops kube-apiserver and starts it again on the same
// port, with the same serving certificate, client CA and service-account
// keys, against the same etcd: what clients see when a real apiserver
// restarts. Every client (Config, the controller-manager, cert-manager,
// decco) keeps its configuration and has to reconnect on its own.
// It returns how long the apiserver was down.
//
// The cluster must have been started with the apiserver flag
// shutdown-watch-termination-grace-period (Options.APIServerArgs), as a
// production apiserver is: without it the apiserver waits on the watches
// of connected clients (the controller-manager's, cert-manager's) and does
// not stop within envtest's stop timeout.
func (c *Cluster) RestartAPIServer(ctx context.Context) (time.Duration, error) {
	if c.env == nil {
		return 0, errors.New("the cluster is not running")
	}
	api := c.env.ControlPlane.APIServer
	if api.Configure().Get(WatchGracePeriodFlag).Get(nil) == nil {
		return 0, fmt.Errorf("RestartAPIServer needs Options.APIServerArgs[%q] (e.g. 2s): otherwise open watches keep the apiserver from stopping", WatchGracePeriodFlag)
	}
	// envtest deletes a certificate directory it created itself when the
	// apiserver stops, and would make new certificates on start. A copy
	// under c.Dir (removed by Stop) keeps them, and once CertDir is set
	// envtest leaves the directory alone.
	keep := filepath.Join(c.Dir, "apiserver")
	if api.CertDir != keep {
		if err := copyDir(api.CertDir, keep); err != nil {
			return 0, fmt.Errorf("keeping the apiserver's certificates: %w", err)
		}
	}
	stopped := time.Now()
	if err := api.Stop(); err != nil {
		return 0, fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	api.CertDir = keep
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := api.Start(); err != nil {
		return 0, fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	record(c) // the reaper must know the new directory
	return time.Since(stopped), nil
}

// WatchGracePeriodFlag is the kube-apiserver flag bounding how long a
// stopping apiserver waits for open watches; RestartAPIServer needs it.
const WatchGracePeriodFlag = "shutdown-watch-termination-grace-period"

// copyDir copies the regular files of src into dst (created 0700).
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
