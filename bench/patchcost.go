package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

// patchCost times what the apiserver does with a webhook's JSON patch,
// with the library it uses (json-patch v4): decode the patch and apply it
// to the pod's JSON, best of many interleaved rounds. pod is the stored
// pod of the plain namespace, as the apiserver holds it before webhooks.
func patchCost(w io.Writer, pod []byte, decco []byte) error {
	p, err := jsonpatch.DecodePatch(decco)
	if err != nil {
		return fmt.Errorf("decoding decco's patch: %w", err)
	}
	injected, err := p.Apply(pod)
	if err != nil {
		return fmt.Errorf("applying decco's patch to the plain pod: %w", err)
	}
	var after struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(injected, &after); err != nil {
		return err
	}
	wholeSpec, _ := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec", "value": after.Spec}})
	cases := []struct {
		name  string
		patch []byte
	}{
		{"one annotation (the touch webhook's)", []byte(touchPatch)},
		{"decco's patch", decco},
		{"decco's spec changes as one replace of /spec (not used: see below)", wholeSpec},
	}
	const rounds, calls = 30, 50
	best := make([]time.Duration, len(cases))
	for i := range best {
		best[i] = time.Hour
	}
	for range rounds {
		for i, c := range cases {
			start := time.Now()
			for range calls {
				p, err := jsonpatch.DecodePatch(c.patch)
				if err != nil {
					return err
				}
				if _, err := p.Apply(pod); err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
			}
			best[i] = min(best[i], time.Since(start)/calls)
		}
	}
	fmt.Fprintf(w, "The apiserver's JSON patch library (json-patch v4) on the stored %.1f KB pod, decode and apply, best of %d rounds:\n\n", float64(len(pod))/1024, rounds)
	fmt.Fprintln(w, "| patch | bytes | µs |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	for i, c := range cases {
		fmt.Fprintf(w, "| %s | %d | %.0f |\n", c.name, len(c.patch), us(best[i]))
	}
	fmt.Fprintln(w)
	return nil
}
