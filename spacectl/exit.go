package spacectl

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Exit codes, stable for scripts.
const (
	// ExitOK: the command did what was asked.
	ExitOK = 0
	// ExitError: anything else went wrong (API errors, refusals, I/O).
	ExitError = 1
	// ExitUsage: bad arguments or flag values; nothing was changed.
	ExitUsage = 2
	// ExitNotReady: a --wait timed out, or doctor found a failing check.
	ExitNotReady = 3
	// ExitNotFound: a named space or object does not exist.
	ExitNotFound = 4
)

// exitCodesHelp documents the codes in the root command's --help.
const exitCodesHelp = `Exit codes:
  0  ok
  1  error (API error, refused object, I/O)
  2  usage error (bad arguments or flag values; nothing changed)
  3  not ready: a --wait timed out, or doctor found a failing check
  4  not found: the named space or object does not exist`

// codedError carries an exit code with its error.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// withCode wraps err so ExitCode reports code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

func usageErrorf(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

func notFoundf(format string, args ...any) error {
	return withCode(ExitNotFound, fmt.Errorf(format, args...))
}

func notReadyf(format string, args ...any) error {
	return withCode(ExitNotReady, fmt.Errorf(format, args...))
}

// ExitCode maps an error returned by the root command to the process's
// exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	if apierrors.IsNotFound(err) {
		return ExitNotFound
	}
	// cobra reports some usage errors (a missing required flag, an unknown
	// subcommand of a group) as plain errors; their wording is the only way
	// to tell them apart.
	for _, prefix := range []string{"unknown command", "required flag(s)", "if any flags in the group"} {
		if strings.HasPrefix(err.Error(), prefix) {
			return ExitUsage
		}
	}
	return ExitError
}
