package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
)

// Exit statuses, as documented in the contract and in every command's help.
const (
	// ExitOK: done, and everything checked matched.
	ExitOK = 0
	// ExitFailure: failed (I/O error on the destination, interrupted, …);
	// outputs say how far it got.
	ExitFailure = 1
	// ExitUsage: usage or configuration error; nothing was written.
	ExitUsage = 2
	// ExitUnreadable: acquisition complete, but some sectors were unreadable.
	ExitUnreadable = 3
	// ExitMismatch: verification failed: a hash or signature does not match.
	ExitMismatch = 4
)

const exitStatusHelp = `EXIT STATUS
  0  done, and everything checked matched
  1  failed (I/O error on the destination, interrupted, ...); outputs say how far it got
  2  usage or configuration error; nothing was written
  3  acquisition complete, but some sectors were unreadable (listed in the report)
  4  verification failed: a hash or signature does not match`

// cliError carries an exit status and hints for the user alongside an error.
// Commands return it (through usageError, withHints, …); Main prints it once.
type cliError struct {
	code  int
	err   error
	hints []string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

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

// exitCode classifies err into the contract's exit statuses. It is the only
// place where library errors are mapped to codes.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	switch {
	case errors.Is(err, acquire.ErrUsage),
		errors.Is(err, blockdev.ErrNotBlockDevice),
		errors.Is(err, blockdev.ErrUnsupportedType):
		return ExitUsage
	case errors.Is(err, acquire.ErrUnreadable):
		return ExitUnreadable
	case errors.Is(err, report.ErrMismatch), errors.Is(err, acquire.ErrVerifyMismatch):
		return ExitMismatch
	case errors.Is(err, context.Canceled):
		return ExitFailure
	}
	return ExitFailure
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
	msg := strings.TrimRight(err.Error(), ".\n ")
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
