package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/custodian-forensics/custodian/internal/exitcode"
)

// Exit statuses: the names cmd uses for internal/exitcode's constants,
// where every status is derived.
const (
	ExitOK         = exitcode.OK
	ExitFailure    = exitcode.Failure
	ExitUsage      = exitcode.Usage
	ExitUnreadable = exitcode.Unreadable
	ExitMismatch   = exitcode.Mismatch
)

const exitStatusHelp = exitcode.Help

// cliError carries an exit status and hints for the user alongside an error.
// Commands return it (through usageError, withHints, …); Main prints it once.
type cliError struct {
	code  int
	err   error
	hints []string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// ExitCode makes cliError an exitcode.Coder.
func (e *cliError) ExitCode() int { return e.code }

// usageError is an error of the user's making: exit 2, nothing written.
func usageError(err error, hints ...string) error {
	return &cliError{code: ExitUsage, err: err, hints: hints}
}

// usageErrorf formats a usage error.
func usageErrorf(format string, args ...any) error {
	return &cliError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// withCode attaches an exit status and hints to err.
func withCode(code int, err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &cliError{code: code, err: err, hints: hints}
}

// withHints attaches hints to err; its exit status stays what
// exitcode.Of derives from it.
func withHints(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &cliError{code: exitcode.Of(err), err: err, hints: hints}
}

// hintsOf collects hints from every cliError and hinted error in err's chain.
func hintsOf(err error) []string {
	var hints []string
	for e := err; e != nil; {
		if ce, ok := e.(*cliError); ok {
			hints = append(hints, ce.hints...)
		}
		if h, ok := e.(interface{ Hint() string }); ok && h.Hint() != "" {
			hints = append(hints, h.Hint())
		}
		if u, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range u.Unwrap() {
				hints = append(hints, hintsOf(x)...)
			}
			break
		}
		e = errors.Unwrap(e)
	}
	return dedup(hints)
}

func dedup(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// printError writes err in the house style: a "custodian: error:" line, then
// one "custodian: hint:" line per hint. Lower case, no trailing period.
func printError(w io.Writer, err error) {
	msg := strings.TrimRight(userMessage(err), ".\n ")
	for i, line := range strings.Split(msg, "\n") {
		if i == 0 {
			fmt.Fprintf(w, "custodian: error: %s\n", line)
		} else {
			fmt.Fprintf(w, "custodian:        %s\n", line)
		}
	}
	for _, h := range hintsOf(err) {
		fmt.Fprintf(w, "custodian: hint: %s\n", h)
	}
}
