package gateway

import (
	"context"
	"io"

	"github.com/decco-dev/decco/test/controlplane"
)

// TraefikVersion is the Traefik test/tools/traefik pins. The cache
// directory is keyed by it, so bump it with the pin.
const TraefikVersion = "v3.6.12"

// ColdBuildTime is how long Traefik's first build takes on an idle 2-core
// machine, module downloads included (the lead's measurement; 24 minutes
// were measured on a 2-core machine running five other engineers' builds).
const ColdBuildTime = "about 6 minutes"

var traefik = controlplane.Tool{
	Name:    "traefik",
	Package: "github.com/traefik/traefik/v3/cmd/traefik",
	Module:  "test/tools/traefik",
	LDFlags: "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=" + TraefikVersion,
	Cold:    ColdBuildTime,
}

// EnsureBinary returns the directory holding the traefik binary, building
// it under the control plane's cache and lock when it is missing.
func EnsureBinary(ctx context.Context, out io.Writer) (string, error) {
	return controlplane.EnsureTools(ctx, "gateway", "traefik-"+TraefikVersion, []controlplane.Tool{traefik}, out)
}
