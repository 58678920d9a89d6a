package webhook

import (
	"reflect"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
)

// fieldPatch returns JSON patch operations that turn before into after,
// one per top-level field of each struct named in paths (a JSON pointer
// prefix per struct pair, e.g. "/spec" for PodSpec). A changed field is
// replaced whole: the injector rewrites containers, volumes and
// annotations as units, so a field-level patch is exact and avoids
// generic JSON diffing (jsonpatch.CreatePatch), which costs more than
// the rest of an admission.
func fieldPatch(pairs ...structPair) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	for _, p := range pairs {
		ops = append(ops, structOps(p.path, reflect.ValueOf(p.before).Elem(), reflect.ValueOf(p.after).Elem())...)
	}
	return ops
}

// structPair is two pointers to the same struct type and the JSON pointer
// of that struct in the object.
type structPair struct {
	path          string
	before, after any
}

func structOps(path string, before, after reflect.Value) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	t := before.Type()
	for i := range t.NumField() {
		name, omitEmpty := jsonName(t.Field(i))
		if name == "" {
			continue
		}
		b, a := before.Field(i), after.Field(i)
		if reflect.DeepEqual(b.Interface(), a.Interface()) {
			continue
		}
		ptr := path + "/" + escape(name)
		switch {
		case isEmpty(a) && omitEmpty:
			if !isEmpty(b) {
				ops = append(ops, jsonpatch.NewOperation("remove", ptr, nil))
			}
		case isEmpty(b) && omitEmpty:
			ops = append(ops, jsonpatch.NewOperation("add", ptr, a.Interface()))
		default:
			ops = append(ops, jsonpatch.NewOperation("replace", ptr, a.Interface()))
		}
	}
	return ops
}

// jsonName reads a field's JSON name and whether it is omitted when empty.
func jsonName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		return "", false // embedded or untagged: not part of a Pod's JSON
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
