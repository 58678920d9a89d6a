package space

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseRewrittenPorts parses decco.io/rewritten-ports, which decco writes on
// a Service: comma-separated "port=originalTarget" pairs, keyed by the
// Service port number, recording the target port each TCP Service port had
// before its rewrite to the TLS listener. An empty value is an empty map.
func ParseRewrittenPorts(v string) (map[int32]int32, error) {
	out := map[int32]int32{}
	if v == "" {
		return out, nil
	}
	for _, t := range strings.Split(v, ",") {
		port, orig, ok := strings.Cut(t, "=")
		p, ok1 := parsePortNumber(port)
		o, ok2 := parsePortNumber(orig)
		if !ok || !ok1 || !ok2 {
			return nil, &FieldError{Key: AnnotationRewrittenPorts, Value: v,
				Problem: fmt.Sprintf("entry %q is not port=targetPort", t),
				Fix:     "decco writes this annotation; remove it and set the Service's targetPorts to the application's ports"}
		}
		out[p] = o
	}
	return out, nil
}

// FormatRewrittenPorts renders m for decco.io/rewritten-ports, sorted by
// Service port so equal maps give equal strings.
func FormatRewrittenPorts(m map[int32]int32) string {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(k)))
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(int(m[k])))
	}
	return b.String()
}
