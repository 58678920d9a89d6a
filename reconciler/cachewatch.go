package reconciler

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// watchedKind is one informer the controller reads from.
type watchedKind struct {
	name string
	obj  client.Object
}

// cacheWatch reports whether the informers the reconciler reads from have
// synced, in the decco_reconciler_caches_synced gauge and, while they
// have not, in the log, naming the kinds still waiting: a missing RBAC
// rule or CRD keeps an informer from ever syncing, and the controller
// then waits (cacheSyncTimeout). It is on purpose neither a readiness nor
// a liveness check: /readyz takes the webhook, which fails closed, out of
// service, and /healthz restarts the process, and neither grants the
// reconciler what it lacks.
type cacheWatch struct {
	cache cache.Cache
	kinds []watchedKind
	log   logr.Logger
	// grace passes before the first report, then one every repeat.
	grace, repeat time.Duration
}

func newCacheWatch(c cache.Cache, kinds []watchedKind, log logr.Logger) *cacheWatch {
	return &cacheWatch{cache: c, kinds: kinds, log: log, grace: 15 * time.Second, repeat: time.Minute}
}

// NeedLeaderElection: only the elected replica reconciles.
func (w *cacheWatch) NeedLeaderElection() bool { return true }

// Start polls the informers until all have synced or ctx ends.
func (w *cacheWatch) Start(ctx context.Context) error {
	cachesSynced.Set(0)
	informers := make([]cache.Informer, len(w.kinds))
	start, next := time.Now(), time.Now().Add(w.grace)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		pending := w.pending(ctx, informers)
		if len(pending) == 0 {
			cachesSynced.Set(1)
			w.log.Info("reconciler caches synced")
			return nil
		}
		if now := time.Now(); now.After(next) {
			w.log.Error(errors.New("informers not synced"), "the reconciler is waiting for its caches: let the manager list and watch these kinds (RBAC), and install their CRDs",
				"kinds", pending, "waited", now.Sub(start).Round(time.Second))
			next = now.Add(w.repeat)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// pending names the kinds whose informers have not synced, getting each
// informer (started by the controller, or here) once.
func (w *cacheWatch) pending(ctx context.Context, informers []cache.Informer) []string {
	var out []string
	for i, k := range w.kinds {
		if informers[i] == nil {
			inf, err := w.cache.GetInformer(ctx, k.obj, cache.BlockUntilSynced(false))
			if err != nil {
				out = append(out, k.name+" ("+err.Error()+")")
				continue
			}
			informers[i] = inf
		}
		if !informers[i].HasSynced() {
			out = append(out, k.name)
		}
	}
	return out
}
