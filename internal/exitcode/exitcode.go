// Package exitcode is the one place where errors become the exit statuses
// of the contract, for the CLI and for anything that runs acquisitions
// outside it (a batch runner computing each job's status).
package exitcode

import (
	"errors"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
	"github.com/custodian-forensics/custodian/report/verify"
)

// Exit statuses, as documented in the contract and in every command's help.
const (
	// OK: done, and everything checked matched.
	OK = 0
	// Failure: failed (I/O error on the destination, interrupted, …);
	// outputs say how far it got.
	Failure = 1
	// Usage: usage or configuration error; nothing was written.
	Usage = 2
	// Unreadable: acquisition complete, but some sectors were unreadable.
	Unreadable = 3
	// Mismatch: verification failed: a hash or signature does not match.
	Mismatch = 4
)

// Help is the EXIT STATUS section of the commands' help.
const Help = `EXIT STATUS
  0  done, and everything checked matched
  1  failed (I/O error on the destination, interrupted, ...); outputs say how far it got
  2  usage or configuration error; nothing was written
  3  acquisition complete, but some sectors were unreadable (listed in the report)
  4  verification failed: a hash or signature does not match`

// Coder is an error that carries its own exit status (the CLI's usage
// errors do).
type Coder interface{ ExitCode() int }

// Of classifies err. nil is OK; an error in whose chain a Coder is found
// has that Coder's status; otherwise the library sentinels decide, and
// anything else is a failure.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	switch {
	case errors.Is(err, acquire.ErrUsage),
		errors.Is(err, verify.ErrOptions),
		errors.Is(err, blockdev.ErrNotBlockDevice),
		errors.Is(err, blockdev.ErrUnsupportedType):
		return Usage
	case errors.Is(err, report.ErrMismatch), errors.Is(err, acquire.ErrVerifyMismatch):
		return Mismatch
	case errors.Is(err, acquire.ErrUnreadable):
		return Unreadable
	}
	return Failure
}

// severity orders the statuses from best to worst for Worst: a mismatch
// (the evidence or its record does not match) outranks a failure (a job
// that did not finish), which outranks a usage error (a job that never
// started), which outranks unreadable sectors (complete, with a documented
// gap).
var severity = map[int]int{OK: 0, Unreadable: 1, Usage: 2, Failure: 3, Mismatch: 4}

// Worst returns the worst of codes in the order 4 > 1 > 2 > 3 > 0 (OK for
// none); a status outside the contract counts as a failure.
func Worst(codes ...int) int {
	worst := OK
	for _, c := range codes {
		if _, ok := severity[c]; !ok {
			c = Failure
		}
		if severity[c] > severity[worst] {
			worst = c
		}
	}
	return worst
}
