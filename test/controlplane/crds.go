package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ExternalDNSVersion is the external-dns release the DNSEndpoint CRD comes
// from. Newer releases need Go 1.27, and decco only needs the CRD, so it is
// read from the module cache rather than required by any go.mod.
const ExternalDNSVersion = "v0.19.0"

// crdSource is a directory of CRD manifests inside a Go module.
type crdSource struct {
	module  string
	version string // empty: the version the main go.mod requires
	dir     string
}

var crdSources = []crdSource{
	{module: "github.com/cert-manager/cert-manager", dir: "deploy/crds"},
	{module: "sigs.k8s.io/gateway-api", dir: "config/crd/standard"},
	{module: "sigs.k8s.io/external-dns", version: ExternalDNSVersion, dir: "config/crd/standard"},
}

// CRDs loads the CustomResourceDefinitions decco works with: cert-manager's,
// Gateway API's standard channel (TLSRoute included) and external-dns's
// DNSEndpoint, straight from their Go modules.
func CRDs(ctx context.Context) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, src := range crdSources {
		dir, err := ModuleDir(ctx, src.module, src.version)
		if err != nil {
			return nil, err
		}
		got, err := loadCRDDir(filepath.Join(dir, src.dir))
		if err != nil {
			return nil, fmt.Errorf("loading CRDs of %s: %w", src.module, err)
		}
		crds = append(crds, got...)
	}
	return crds, nil
}

// GatewayAPIExperimentalCRDs loads CRDs of Gateway API's experimental
// channel by resource (tlsroutes, tcproutes, ...), at the version decco's
// go.mod requires. They serve the alpha versions the standard channel
// only lists (TLSRoute and TCPRoute v1alpha2, which Traefik 3.6 reads),
// and store v1 like the standard ones, so they can replace them in place.
func GatewayAPIExperimentalCRDs(ctx context.Context, resources ...string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dir, err := ModuleDir(ctx, "sigs.k8s.io/gateway-api", "")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, r := range resources {
		got, err := loadCRDFile(filepath.Join(dir, "config", "crd", "experimental", "gateway.networking.k8s.io_"+r+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("loading Gateway API's experimental %s CRD: %w", r, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// ModuleDir finds a module's directory in the module cache, downloading it
// through the module proxy if needed. An empty version means the one
// decco's go.mod requires; with a version, the module need not be in
// go.mod, which stays as it is.
func ModuleDir(ctx context.Context, module, version string) (string, error) {
	args := []string{"list", "-m", "-json", module}
	if version != "" {
		args = []string{"mod", "download", "-json", module + "@" + version}
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("reading go %s output: %w", strings.Join(args, " "), err)
	}
	if info.Dir == "" {
		// go list -m reports no Dir until the module is downloaded.
		if version == "" {
			return ModuleDir(ctx, module, requiredVersion(out))
		}
		return "", fmt.Errorf("module %s@%s not available: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

func requiredVersion(listJSON []byte) string {
	var info struct{ Version string }
	_ = json.Unmarshal(listJSON, &info)
	return info.Version
}

// loadCRDDir reads every CustomResourceDefinition in dir's YAML files and
// skips other kinds (Gateway API ships a ValidatingAdmissionPolicy there).
func loadCRDDir(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no YAML files in %s", dir)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		got, err := loadCRDFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		crds = append(crds, got...)
	}
	return crds, nil
}

func loadCRDFile(path string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var crds []*apiextensionsv1.CustomResourceDefinition
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return crds, nil
		}
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return nil, err
		}
		if crd.Kind == "CustomResourceDefinition" {
			crds = append(crds, &crd)
		}
	}
}
