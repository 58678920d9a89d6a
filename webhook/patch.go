package webhook

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gomodules.xyz/jsonpatch/v2"
)

// The injector returns typed objects, and the patch is built from them:
// generic JSON diffing (jsonpatch.CreatePatch) decodes both documents into
// maps and costs more than the rest of an admission. The typed walk is
// shallow on purpose. It compares the fields of each struct pair; a
// changed field is replaced whole, except slices of structs, which are
// compared element by element (so renaming one container's port doesn't
// rewrite that container's env), and slices that only grew at the front or
// the back, which get "add" operations (the sidecar, its volumes). Fields
// of embedded structs (json:",inline", such as a volume's source) are
// compared as the members of the embedding struct they are in the JSON.
// TestPodPatchMatchesInjector and TestPatchesOfRandomPods apply the result
// with an independent JSON patch library to prove it exact.

// structPair is two pointers to the same struct type and the JSON pointer
// of that struct in the object.
type structPair struct {
	path          string
	before, after any
}

// fieldPatch returns JSON patch operations that turn each pair's before
// into its after.
func fieldPatch(pairs ...structPair) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	for _, p := range pairs {
		ops = structOps(ops, p.path, reflect.ValueOf(p.before).Elem(), reflect.ValueOf(p.after).Elem(), true)
	}
	return ops
}

// structOps appends the operations for each changed field of a struct.
// descend says whether slices of structs may be compared element-wise.
func structOps(ops []jsonpatch.Operation, path string, before, after reflect.Value, descend bool) []jsonpatch.Operation {
	for _, f := range jsonFields(before.Type()) {
		name, omitEmpty := f.name, f.omitEmpty
		b, a := before.FieldByIndex(f.index), after.FieldByIndex(f.index)
		if same(b, a) {
			continue
		}
		if descend && f.structSlice && b.Len() == a.Len() {
			// Compared element by element below; comparing the whole
			// slice first would walk it twice.
			ops = sliceOps(ops, path+"/"+escape(name), b, a)
			continue
		}
		if deepEqual(b, a) {
			continue
		}
		ops = fieldOps(ops, path+"/"+escape(name), b, a, omitEmpty, descend && f.structSlice)
	}
	return ops
}

// elementwise says whether a and b are slices of structs to compare
// element by element.
func fieldOps(ops []jsonpatch.Operation, ptr string, b, a reflect.Value, omitEmpty, elementwise bool) []jsonpatch.Operation {
	switch {
	case omitEmpty && isEmpty(a):
		if isEmpty(b) {
			return ops
		}
		return append(ops, jsonpatch.NewOperation("remove", ptr, nil))
	case omitEmpty && isEmpty(b):
		return append(ops, jsonpatch.NewOperation("add", ptr, iface(a)))
	case elementwise:
		return sliceOps(ops, ptr, b, a)
	default:
		return append(ops, jsonpatch.NewOperation("replace", ptr, iface(a)))
	}
}

// sliceOps patches a slice of structs: element-wise when the length is
// unchanged, by adding elements when it only grew at either end, else by
// replacing it.
func sliceOps(ops []jsonpatch.Operation, ptr string, b, a reflect.Value) []jsonpatch.Operation {
	nb, na := b.Len(), a.Len()
	switch {
	case nb == na:
		// Field by field: each field is compared once, whether or not the
		// element changed.
		for i := range na {
			ops = structOps(ops, ptr+"/"+strconv.Itoa(i), b.Index(i), a.Index(i), false)
		}
		return ops
	case na > nb && equalRange(a, 0, b):
		for i := nb; i < na; i++ {
			ops = append(ops, jsonpatch.NewOperation("add", ptr+"/-", iface(a.Index(i))))
		}
		return ops
	case na > nb && equalRange(a, na-nb, b):
		for i := range na - nb {
			ops = append(ops, jsonpatch.NewOperation("add", ptr+"/"+strconv.Itoa(i), iface(a.Index(i))))
		}
		return ops
	default:
		return append(ops, jsonpatch.NewOperation("replace", ptr, iface(a)))
	}
}

// same reports whether a and b are the same memory: one slice (same
// first element and length), map or pointer. inject.Pod shares what it
// does not change with its input, so this settles most fields without
// reading them.
func same(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice:
		return a.Len() == b.Len() && a.Len() > 0 && a.UnsafePointer() == b.UnsafePointer()
	case reflect.Map, reflect.Pointer:
		return !a.IsNil() && a.UnsafePointer() == b.UnsafePointer()
	}
	return false
}

// deepEqual is reflect.DeepEqual with the common cases first, walked here
// so that what is shared by address (inject.Pod shares with its input
// what it does not change) is settled without being read: most fields of
// a container are empty on both sides, and reflect.DeepEqual allocates on
// every call. It compares through pointers: Interface() on a struct value
// copies it to the heap, and these are whole containers. API objects have
// no cycles, so the recursion ends.
func deepEqual(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		// nil and empty decode to the same object.
		if a.Len() == 0 || same(a, b) {
			return true
		}
		for i := range a.Len() {
			if !deepEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		if a.Len() == 0 || same(a, b) {
			return true
		}
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return same(a, b) || deepEqual(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if !fa.CanInterface() {
				// Unexported state (metav1.Time, resource.Quantity):
				// only reflect reads it.
				return reflect.DeepEqual(iface(a), iface(b))
			}
			if !deepEqual(fa, fb) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(iface(a), iface(b))
}

// iface is v as an interface, by address when v is addressable (no copy;
// encodes to the same JSON).
func iface(v reflect.Value) any {
	if v.CanAddr() && v.Kind() == reflect.Struct {
		return v.Addr().Interface()
	}
	return v.Interface()
}

// isStructSlice reports whether t is a slice type whose elements the walk
// may compare field by field: structs encoded from their fields, not by
// their own MarshalJSON (metav1.Time, resource.Quantity), whose fields are
// not the JSON's.
func isStructSlice(t reflect.Type) bool {
	if t.Kind() != reflect.Slice {
		return false
	}
	elem := t.Elem()
	return elem.Kind() == reflect.Struct && !reflect.PointerTo(elem).Implements(marshalerType)
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

// equalRange reports whether a[from:from+len(b)] equals b.
func equalRange(a reflect.Value, from int, b reflect.Value) bool {
	for i := range b.Len() {
		if !deepEqual(a.Index(from+i), b.Index(i)) {
			return false
		}
	}
	return true
}

// jsonField is a struct field that is part of the object's JSON. index
// is a path for reflect.Value.FieldByIndex: a field promoted from an
// embedded struct (Kubernetes tags these json:",inline", such as
// Volume.VolumeSource) is reached through the struct that embeds it.
type jsonField struct {
	index     []int
	name      string
	omitEmpty bool
	// structSlice: isStructSlice of the field's type, read once per
	// type rather than once per field compared.
	structSlice bool
}

// fieldCache holds each struct type's JSON fields: reading struct tags is
// a large part of a walk otherwise.
var fieldCache sync.Map // reflect.Type -> []jsonField

func jsonFields(t reflect.Type) []jsonField {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]jsonField)
	}
	fields := appendJSONFields(nil, t, nil)
	fieldCache.Store(t, fields)
	return fields
}

// appendJSONFields appends t's JSON fields, those of embedded structs in
// their place, as encoding/json promotes them. Kubernetes API types never
// give an embedded field's member the name of a member of the embedding
// struct, so encoding/json's rules for such conflicts are not needed.
func appendJSONFields(fields []jsonField, t reflect.Type, prefix []int) []jsonField {
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(slices.Clip(prefix), i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && jsonTagName(f) == "" && f.Tag.Get("json") != "-" {
			fields = appendJSONFields(fields, f.Type, index)
			continue
		}
		if name, omitEmpty := jsonName(f); name != "" {
			fields = append(fields, jsonField{index: index, name: name, omitEmpty: omitEmpty, structSlice: isStructSlice(f.Type)})
		}
	}
	return fields
}

func jsonTagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// jsonName reads a field's JSON name and whether it is omitted when empty.
func jsonName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		// Untagged: encoding/json would use the Go name; no Kubernetes
		// API field is untagged.
		return "", false
	}
	return name, strings.Contains(opts, "omitempty")
}

// isEmpty mirrors encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Array:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	default:
		return v.IsZero()
	}
}

// escape encodes a JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
