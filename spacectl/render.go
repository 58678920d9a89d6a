package spacectl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/webhook"
)

// RenderOptions are the inputs of Render besides the manifests.
type RenderOptions struct {
	// Inject is the sidecar configuration, as the manager's flags build it.
	Inject inject.Config
	// Spaces are spaces known from outside the manifests (--space-file,
	// --domain), by namespace name. Namespace documents in the manifests
	// add to them.
	Spaces map[string]space.Space
	// Namespace is where objects that name no namespace go (-n).
	Namespace string
	// SystemNamespace is decco's own namespace, which the webhook never
	// handles.
	SystemNamespace string
}

// Document is one YAML document of Render's input and what became of it.
type Document struct {
	// Raw is the document as read, comments included.
	Raw []byte
	// Object is the decoded document; nil for an empty one.
	Object *unstructured.Unstructured
	// Changed says the webhook would change it; Object then holds the
	// changed version.
	Changed bool
	// Decision is what injection decided (an inject.Decision), or "" for
	// objects the webhook does not see.
	Decision string
	// Warning explains an object the webhook will pass over although it
	// looks like it wants decco.
	Warning string
}

// Render does offline what decco's admission webhook does to a stream of
// manifests (multi-document YAML, such as `helm template` output): it
// injects the sidecar into Pods and into the pod template of every workload
// (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
// Job, CronJob), which is what their Pods will look like once admitted, and
// rewrites Services' target ports. It runs the same inject functions with
// the same configuration, so a rendered object is what the cluster would
// store.
//
// An object's space is its namespace's: its metadata.namespace, else
// opts.Namespace, else the only space known. Spaces come from
// opts.Spaces and from Namespace documents in the input.
//
// Every object the webhook would refuse is reported, naming the document
// and the object; then no document is returned.
func Render(in io.Reader, opts RenderOptions) ([]Document, error) {
	docs, err := splitDocuments(in)
	if err != nil {
		return nil, err
	}
	r, err := newRenderer(docs, opts)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range docs {
		if docs[i].Object == nil {
			continue
		}
		if err := r.render(&docs[i]); err != nil {
			errs = append(errs, fmt.Errorf("document %d (%s): %w", i+1, describeObject(docs[i].Object), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return docs, nil
}

// splitDocuments reads a multi-document YAML stream.
func splitDocuments(in io.Reader) ([]Document, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(in))
	var docs []Document
	for {
		raw, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", len(docs)+1, err)
		}
		d := Document{Raw: trimSeparators(raw)}
		if d.Object, err = decodeDocument(raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		docs = append(docs, d)
	}
}

// trimSeparators drops the "---" lines (and blank lines) the YAML reader
// leaves at the start of a document that follows empty ones.
func trimSeparators(raw []byte) []byte {
	for {
		line, rest, _ := bytes.Cut(raw, []byte("\n"))
		t := bytes.TrimSpace(line)
		if len(raw) == 0 || (len(t) > 0 && !bytes.Equal(t, []byte("---"))) {
			return raw
		}
		raw = rest
	}
}

// decodeDocument decodes one document; nil for one that holds only
// comments or whitespace.
func decodeDocument(raw []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, nil
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object (apiVersion and kind are required): %w", err)
	}
	return u, nil
}

// describeObject names an object for messages: Kind namespace/name.
func describeObject(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + space.ObjectName(u)
}

// renderer holds the spaces known to a Render call.
type renderer struct {
	opts RenderOptions
	// spaces by namespace, and namespaces known not to be spaces.
	spaces    map[string]space.Space
	notSpaces map[string]bool
}

// newRenderer collects the spaces: opts.Spaces plus the input's Namespace
// documents, parsed by package space.
func newRenderer(docs []Document, opts RenderOptions) (*renderer, error) {
	r := &renderer{opts: opts, spaces: map[string]space.Space{}, notSpaces: map[string]bool{}}
	for name, sp := range opts.Spaces {
		r.spaces[name] = sp
	}
	var errs []error
	for i, d := range docs {
		if d.Object == nil || d.Object.GetKind() != "Namespace" || d.Object.GroupVersionKind().Group != "" {
			continue
		}
		sp, err := space.FromNamespace(d.Object)
		switch {
		case errors.Is(err, space.ErrNotASpace):
			r.notSpaces[d.Object.GetName()] = true
		case err != nil:
			errs = append(errs, fmt.Errorf("document %d (%s): %w", i+1, describeObject(d.Object), err))
		case isDefined(opts.Spaces, sp.Name):
			errs = append(errs, fmt.Errorf("document %d (%s): space %q is also given by flags or --space-file; give it once", i+1, describeObject(d.Object), sp.Name))
		default:
			r.spaces[sp.Name] = sp
		}
	}
	return r, errors.Join(errs...)
}

func isDefined(m map[string]space.Space, name string) bool {
	_, ok := m[name]
	return ok
}

// render handles one object in place.
func (r *renderer) render(d *Document) error {
	gvk := d.Object.GroupVersionKind()
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		return r.renderPod(d)
	case gvk.Group == "" && gvk.Kind == "Service":
		return r.renderService(d)
	case gvk.Group == "" && gvk.Kind == "List":
		return r.renderList(d)
	}
	if w, ok := webhook.WorkloadOf(gvk.Group, gvk.Kind); ok {
		return r.renderTemplate(d, w.Template)
	}
	return nil
}

// renderList renders each item of a v1 List, as if it were a document.
func (r *renderer) renderList(d *Document) error {
	items, _, err := unstructured.NestedSlice(d.Object.Object, "items")
	if err != nil {
		return err
	}
	var errs []error
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		item := Document{Object: &unstructured.Unstructured{Object: m}}
		if err := r.render(&item); err != nil {
			errs = append(errs, fmt.Errorf("item %d (%s): %w", i+1, describeObject(item.Object), err))
		}
		if item.Changed {
			items[i], d.Changed = item.Object.Object, true
		}
	}
	if d.Changed {
		d.Object.Object["items"] = items
	}
	return errors.Join(errs...)
}

// spaceOf resolves the space of an object, as the webhook's namespace
// selector would. ok is false when the webhook would not see the object:
// its namespace is not a known space. A labeled object there gets a
// warning; one whose namespace can't be worked out is an error.
func (r *renderer) spaceOf(d *Document, labels map[string]string) (space.Space, bool, error) {
	label, labeled := labels[space.LabelSpace]
	ns := r.namespaceOf(d.Object.GetNamespace(), label)
	switch {
	case ns == "" && labeled:
		return space.Space{}, false, fmt.Errorf("labeled %s=%s but its namespace is unknown; pass -n NAMESPACE or set metadata.namespace", space.LabelSpace, label)
	case r.excluded(ns):
		return space.Space{}, false, nil
	}
	if sp, ok := r.spaces[ns]; ok {
		return sp, true, nil
	}
	switch {
	case labeled && r.notSpaces[ns]:
		d.Warning = fmt.Sprintf("labeled %s=%s, but namespace %s is not a space, so the webhook leaves it alone (no sidecar)", space.LabelSpace, label, ns)
		return space.Space{}, false, nil
	case labeled:
		return space.Space{}, false, fmt.Errorf("labeled %s=%s, but render knows no space %q: include its Namespace manifest, pass --space-file, or pass -n %s --domain DOMAIN", space.LabelSpace, label, ns, ns)
	}
	return space.Space{}, false, nil
}

// namespaceOf: the object's own namespace, else -n, else the only space
// known, else the space its label names if that one is known.
func (r *renderer) namespaceOf(own, label string) string {
	switch {
	case own != "":
		return own
	case r.opts.Namespace != "":
		return r.opts.Namespace
	case len(r.spaces) == 1:
		for name := range r.spaces {
			return name
		}
	}
	if _, ok := r.spaces[label]; ok {
		return label
	}
	return ""
}

// excluded are namespaces the webhook configuration never matches.
func (r *renderer) excluded(ns string) bool {
	return space.Excluded(ns, r.opts.SystemNamespace)
}

// renderPod injects a Pod as the pod webhook would.
func (r *renderer) renderPod(d *Document) error {
	pod := &corev1.Pod{}
	if err := fromUnstructured(d.Object.Object, pod); err != nil {
		return err
	}
	sp, ok, err := r.spaceOf(d, pod.Labels)
	if !ok || err != nil {
		return err
	}
	pod.Namespace = sp.Name
	res, err := inject.Pod(pod, sp, r.opts.Inject)
	if err != nil {
		return err
	}
	d.Decision = string(res.Decision)
	if res.Pod == pod {
		return nil
	}
	res.Pod.Namespace = d.Object.GetNamespace() // as written
	return replace(d, res.Pod, nil)
}

// renderTemplate injects a workload's pod template: the webhook validates
// the template with the same function and injects every Pod made from it,
// so the result is what those Pods will carry.
func (r *renderer) renderTemplate(d *Document, path []string) error {
	m, found, err := unstructured.NestedMap(d.Object.Object, path...)
	if err != nil || !found {
		return err
	}
	tmpl := &corev1.PodTemplateSpec{}
	if err := fromUnstructured(m, tmpl); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	sp, ok, err := r.spaceOf(d, tmpl.Labels)
	if !ok || err != nil {
		return err
	}
	pod := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: tmpl.Spec}
	pod.Namespace, pod.Name = sp.Name, d.Object.GetName()
	res, err := inject.Pod(pod, sp, r.opts.Inject)
	if err != nil {
		return fmt.Errorf("pod template: %w", err)
	}
	d.Decision = string(res.Decision)
	if res.Pod == pod {
		return nil
	}
	out := &corev1.PodTemplateSpec{ObjectMeta: res.Pod.ObjectMeta, Spec: res.Pod.Spec}
	out.Namespace, out.Name = tmpl.Namespace, tmpl.Name
	return replace(d, out, path)
}

// renderService points a space's Service at the TLS listeners, with the
// same checks as the Service webhook.
func (r *renderer) renderService(d *Document) error {
	svc := &corev1.Service{}
	if err := fromUnstructured(d.Object.Object, svc); err != nil {
		return err
	}
	if _, labeled := svc.Labels[space.LabelSpace]; !labeled {
		return nil
	}
	sp, ok, err := r.spaceOf(d, svc.Labels)
	if !ok || err != nil {
		return err
	}
	svc.Namespace = sp.Name
	out, changed, err := inject.Service(svc)
	if err != nil {
		return err
	}
	d.Decision = string(inject.UpToDate)
	if !changed {
		return nil
	}
	d.Decision = string(inject.Injected)
	out.Namespace = d.Object.GetNamespace()
	return replace(d, out, nil)
}

// fromUnstructured decodes strictly: an unknown field is an error, as
// kubectl apply's default validation makes it.
func fromUnstructured(m map[string]any, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(m, into, true); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	return nil
}

// replace writes obj into the document at path (the whole object when
// path is nil), keeping what the user wrote around it.
func replace(d *Document, obj any, path []string) error {
	out, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("encoding the rendered object: %w", err)
	}
	d.Changed = true
	if path == nil {
		pruned := pruneNoise(out, d.Object.Object).(map[string]any)
		d.Object.Object = pruned
		return nil
	}
	orig, _, _ := unstructured.NestedMap(d.Object.Object, path...)
	return unstructured.SetNestedField(d.Object.Object, pruneNoise(out, orig), path...)
}

// pruneNoise removes from out what encoding a typed object adds although
// the user never wrote it: under keys the original lacks, values made only
// of empty objects and nulls (resources: {}, status: {loadBalancer: {}}).
// Anything else with no counterpart in the original, such as what decco
// adds, is kept whole, so an emptyDir: {} inside a new volume stays. The
// result decodes to the same typed object.
func pruneNoise(out, orig any) any {
	switch o := out.(type) {
	case map[string]any:
		om, ok := orig.(map[string]any)
		if !ok {
			return out
		}
		for k, v := range o {
			ov, had := om[k]
			switch {
			case had:
				o[k] = pruneNoise(v, ov)
			case onlyEmpty(v):
				delete(o, k)
			}
		}
	case []any:
		ol, ok := orig.([]any)
		if !ok {
			return out
		}
		for i, v := range o {
			if cp, found := counterpart(v, i, ol, len(o)); found {
				o[i] = pruneNoise(v, cp)
			}
		}
	}
	return out
}

// counterpart finds the original of list element v: the element with the
// same name (containers, volumes, ports), else the same index when the
// lengths match.
func counterpart(v any, i int, orig []any, n int) (any, bool) {
	if name, ok := nameOf(v); ok {
		for _, o := range orig {
			if on, ok := nameOf(o); ok && on == name {
				return o, true
			}
		}
		return nil, false
	}
	if len(orig) == n {
		return orig[i], true
	}
	return nil, false
}

func nameOf(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	n, ok := m["name"].(string)
	return n, ok
}

// onlyEmpty: nil, or an object whose values are all onlyEmpty.
func onlyEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range t {
			if !onlyEmpty(e) {
				return false
			}
		}
		return true
	}
	return false
}

// WriteYAML writes the documents as a multi-document stream in their
// order. Unchanged documents are written exactly as read (comments and
// formatting kept); changed ones are re-encoded after their leading
// comments (Helm's "# Source:" lines).
func WriteYAML(w io.Writer, docs []Document) error {
	first := true
	for _, d := range docs {
		if d.Object == nil && len(bytes.TrimSpace(d.Raw)) == 0 {
			continue
		}
		body := d.Raw
		if d.Changed {
			enc, err := yaml.Marshal(d.Object.Object)
			if err != nil {
				return fmt.Errorf("encoding %s: %w", describeObject(d.Object), err)
			}
			body = append(leadingComments(d.Raw), enc...)
		}
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		first = false
		if _, err := w.Write(withNewline(bytes.TrimRight(body, "\n"))); err != nil {
			return err
		}
	}
	return nil
}

// leadingComments returns the comment and blank lines a document starts
// with.
func leadingComments(raw []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			break
		}
		if len(t) > 0 {
			out = append(out, withNewline(line)...)
		}
	}
	return out
}

func withNewline(b []byte) []byte {
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return b
	}
	return append(b, '\n')
}

// renderedObjects lists the objects of docs, for -o json.
func renderedObjects(docs []Document) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range docs {
		if d.Object != nil {
			out = append(out, d.Object)
		}
	}
	return out
}
