package controlplane

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"k8s.io/client-go/discovery"
)

// Get reads one of the apiserver's non-resource paths (/metrics,
// /debug/pprof/...) as cluster-admin, with params as its query.
//
// It goes through the REST client, which joins the path to the server's
// address: envtest's Config.Host ends in "/", so Config.Host+path asks for
// "//debug/pprof/...", which the apiserver's mux routes nowhere and answers
// 404 even with --profiling on (its default).
func (c *Cluster) Get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	req := dc.RESTClient().Get().AbsPath(path)
	for k, vs := range params {
		for _, v := range vs {
			req = req.Param(k, v)
		}
	}
	body, err := req.DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the apiserver's %s: %w", path, err)
	}
	return body, nil
}

// CPUProfile records the apiserver's CPU for d and returns the profile in
// pprof's format: what `go tool pprof` reads.
func (c *Cluster) CPUProfile(ctx context.Context, d time.Duration) ([]byte, error) {
	seconds := max(1, int(d.Round(time.Second)/time.Second))
	return c.Get(ctx, "/debug/pprof/profile", url.Values{"seconds": {strconv.Itoa(seconds)}})
}
