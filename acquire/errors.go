package acquire

import (
	"errors"

	"github.com/custodian-forensics/custodian/acquire/format"
)

var (
	// ErrUsage marks errors in the options or the destination that were
	// found before anything was written (bad sizes, existing images, an
	// output folder on the source).
	ErrUsage = errors.New("invalid acquisition request")
	// ErrUnreadable: the image is complete, but some sectors of the source
	// could not be read; they are zero-filled and listed in the report.
	ErrUnreadable = errors.New("some sectors were unreadable")
	// ErrVerifyMismatch: re-reading the written image gave other hashes.
	ErrVerifyMismatch = errors.New("verification of the written image failed")
	// ErrNoSpace: the destination is full; what was written is kept for
	// --resume.
	ErrNoSpace = format.ErrNoSpace
)
