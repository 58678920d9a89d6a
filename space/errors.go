package space

import (
	"errors"
	"fmt"
)

// ErrNotASpace is returned (possibly wrapped) when an object carries no
// decco.io/space label: it is not part of any space and decco leaves it
// alone. Test with errors.Is.
var ErrNotASpace = errors.New("object has no " + LabelSpace + " label")

// FieldError is one invalid label or annotation. Its message names the key,
// quotes the value (with %q, so a stray newline or control character is
// visible), says what is wrong and how to fix it, because it ends up in
// front of a user (admission denial, Event, spacectl) who only knows the
// YAML they wrote.
type FieldError struct {
	// Key is the label or annotation key, e.g. decco.io/domain.
	Key string
	// Value is the offending value as written.
	Value string
	// Problem says what is wrong: "must be ...".
	Problem string
	// Fix says what to do about it.
	Fix string
}

// Error renders `<key> "<value>": <problem>; <fix>`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %q: %s; %s", e.Key, e.Value, e.Problem, e.Fix)
}

// fieldErrs accumulates FieldErrors so one call reports every problem.
type fieldErrs []error

func (fe *fieldErrs) add(key, value, problem, fix string) {
	*fe = append(*fe, &FieldError{Key: key, Value: value, Problem: problem, Fix: fix})
}

// err joins the collected errors; nil when there are none.
func (fe fieldErrs) err() error {
	return errors.Join(fe...)
}

// FieldErrors returns every *FieldError inside err (joined or wrapped), in
// order, so callers can render them one per line or count them.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if f, ok := e.(*FieldError); ok {
			out = append(out, f)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
