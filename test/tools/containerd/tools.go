//go:build tools

// Package tools pins containerd, the container runtime of the test node:
// the daemon, its runc shim and the ctr client that imports the locally
// built images. It is a module of its own so containerd's dependencies never
// meet Kubernetes' in test/tools.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
