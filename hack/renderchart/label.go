package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/decco-dev/decco/space"
)

const spaceLabel = space.LabelSpace

// spaceLabeler is a Helm post-renderer that opts a release into a space
// as decco's contract asks: the space label on every pod template (so the
// pods are injected) and every Service (so their numeric target ports are
// pointed at the TLS listeners). Nothing else changes, selectors included.
// A user does the same with `helm install --post-renderer` running
// kustomize with a `labels` entry that has includeTemplates: true.
type spaceLabeler struct{ space string }

func (l spaceLabeler) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	dec := yaml.NewDecoder(in)
	out := &bytes.Buffer{}
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("post-renderer: %w", err)
		}
		if doc == nil {
			continue
		}
		labelObject(doc, spaceLabel, l.space)
		if err := enc.Encode(doc); err != nil {
			return nil, err
		}
	}
	return out, enc.Close()
}

// labelObject sets key=value on obj's pod templates (spec.template, and a
// CronJob's spec.jobTemplate.spec.template) and, for a Service, on obj.
func labelObject(obj map[string]any, key, value string) {
	if obj["kind"] == "Service" {
		setLabel(obj, key, value)
	}
	spec, _ := obj["spec"].(map[string]any)
	if tmpl, ok := spec["template"].(map[string]any); ok {
		setLabel(tmpl, key, value)
	}
	if jt, ok := spec["jobTemplate"].(map[string]any); ok {
		labelObject(jt, key, value)
	}
}

func setLabel(obj map[string]any, key, value string) {
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		meta["labels"] = labels
	}
	labels[key] = value
}
