package cniinstall

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Run installs, then keeps the node as Install leaves it until ctx ends:
// a change in the conf or bin directory (the primary CNI rewriting its
// configuration, the binary removed) triggers a pass at once, and every
// resync, a pass that also refreshes the kubeconfig (a new Config from
// refresh, whose token the kubelet rotates).
func Run(ctx context.Context, refresh func() (Config, error), resync time.Duration, log *slog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the CNI directories: %w", err)
	}
	defer w.Close()
	c, err := refresh()
	if err != nil {
		return err
	}
	for _, dir := range []string{c.ConfDir, c.BinDir} {
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watching %s: %w", dir, err)
		}
	}
	tick := time.NewTicker(resync)
	defer tick.Stop()
	// state is the last pass's outcome: logged when it changes, not on
	// every pass.
	state := "starting"
	for {
		if c, err = refresh(); err == nil {
			var changes Changes
			changes, err = Install(c)
			for _, ch := range changes {
				log.Info("installed", "change", ch)
			}
		}
		now := ""
		if err != nil {
			now = err.Error()
		}
		if now != state {
			if err != nil {
				log.Error("decco-cni not chained", "err", err)
			} else {
				log.Info("decco-cni chained", "conf-dir", c.HostConfDir, "bin-dir", c.BinDir)
			}
		}
		state = now
		select {
		case <-ctx.Done():
			return nil
		case <-w.Events:
		case err := <-w.Errors:
			log.Error("watching the CNI directories", "err", err)
		case <-tick.C:
		}
	}
}

// Kubeconfig is the plugin's kubeconfig: the apiserver at server, trusted
// with ca, and the installer's ServiceAccount token, which may read pods
// and nothing else.
func Kubeconfig(server string, ca, token []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["decco-cni"] = &clientcmdapi.AuthInfo{Token: string(token)}
	cfg.Contexts["decco-cni"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "decco-cni"}
	cfg.CurrentContext = "decco-cni"
	return clientcmd.Write(*cfg)
}

// Removal says whether a terminating installer takes decco out of the
// chain, from what reading its DaemonSet returned: yes when the DaemonSet
// is gone or being deleted (helm uninstall, interception switched off),
// or when the installer's own ServiceAccount or RBAC is (uninstalled with
// it); no while it stays (a rolling update or a deleted pod: the next
// installer keeps the chain, and pods created meanwhile get their rules),
// and no when the apiserver can't tell, since leaving the chain only
// keeps what ran.
func Removal(ds *appsv1.DaemonSet, err error) (remove bool, why string) {
	switch {
	case apierrors.IsNotFound(err):
		return true, "the DaemonSet was deleted"
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return true, "the installer's ServiceAccount or RBAC is gone, as when the chart is uninstalled"
	case err != nil:
		return false, fmt.Sprintf("could not read the DaemonSet (%v): keeping decco chained", err)
	case ds == nil:
		return false, "no DaemonSet to read: keeping decco chained"
	case ds.DeletionTimestamp != nil:
		return true, "the DaemonSet is being deleted"
	}
	return false, "the DaemonSet remains (an update or a restart): keeping decco chained for the next installer"
}
