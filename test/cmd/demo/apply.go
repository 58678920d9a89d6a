package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/test/controlplane"
)

// applyDir server-side applies every object in dir's YAML files,
// Namespaces first, the way `kubectl apply --server-side -f dir` would.
func applyDir(ctx context.Context, cluster *controlplane.Cluster, dir string) (string, error) {
	objs, err := readDir(dir)
	if err != nil {
		return "", err
	}
	sort.SliceStable(objs, func(i, j int) bool {
		return objs[i].GetKind() == "Namespace" && objs[j].GetKind() != "Namespace"
	})
	var names []string
	for _, obj := range objs {
		if err := cluster.Client.Patch(ctx, obj, client.Apply, client.FieldOwner("decco-demo"), client.ForceOwnership); err != nil {
			return "", fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		names = append(names, strings.ToLower(obj.GetKind())+"/"+obj.GetName())
	}
	return strings.Join(names, ", "), nil
}

func readDir(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no YAML files in %s", dir)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		got, err := decodeAll(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			return nil, err
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}
