package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestSpaceLabelerLabelsPodTemplatesAndServicesOnly(t *testing.T) {
	in := `apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  selector:
    app: db
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels:
    app: db
spec:
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
spec:
  jobTemplate:
    spec:
      template:
        spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: db
`
	out, err := spaceLabeler{space: "shop"}.Run(bytes.NewBufferString(in))
	require.NoError(t, err)
	dec := yaml.NewDecoder(out)
	var docs []map[string]any
	for {
		var d map[string]any
		if dec.Decode(&d) != nil {
			break
		}
		docs = append(docs, d)
	}
	require.Len(t, docs, 4)
	label := func(obj any, path ...string) any {
		for _, p := range path {
			m, _ := obj.(map[string]any)
			obj = m[p]
		}
		return obj
	}
	assert.Equal(t, "shop", label(docs[0], "metadata", "labels", spaceLabel), "Service")
	assert.Nil(t, label(docs[0], "spec", "selector", spaceLabel), "selectors stay as written")
	assert.Equal(t, "shop", label(docs[1], "spec", "template", "metadata", "labels", spaceLabel), "pod template")
	assert.Nil(t, label(docs[1], "metadata", "labels", spaceLabel), "the StatefulSet itself")
	assert.Nil(t, label(docs[1], "spec", "selector", "matchLabels", spaceLabel))
	assert.Equal(t, "shop", label(docs[2], "spec", "jobTemplate", "spec", "template", "metadata", "labels", spaceLabel), "CronJob's pod template")
	assert.Nil(t, label(docs[3], "metadata", "labels"), "ConfigMap")
}
