package exitcode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
	"github.com/custodian-forensics/custodian/report/verify"
)

type coded struct{ code int }

func (c coded) Error() string { return "coded" }
func (c coded) ExitCode() int { return c.code }

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, OK},
		{fmt.Errorf("x: %w", acquire.ErrUsage), Usage},
		{fmt.Errorf("x: %w", verify.ErrOptions), Usage},
		{fmt.Errorf("x: %w", blockdev.ErrNotBlockDevice), Usage},
		{fmt.Errorf("x: %w", blockdev.ErrUnsupportedType), Usage},
		{fmt.Errorf("x: %w", acquire.ErrUnreadable), Unreadable},
		{fmt.Errorf("x: %w", report.ErrMismatch), Mismatch},
		{fmt.Errorf("x: %w", acquire.ErrVerifyMismatch), Mismatch},
		{context.Canceled, Failure},
		{fs.ErrNotExist, Failure},
		{errors.New("disk on fire"), Failure},
		{fmt.Errorf("wrapped: %w", coded{Usage}), Usage},
		// A code attached by the caller wins over the sentinel inside.
		{fmt.Errorf("%w", &wrap{coded{Failure}, acquire.ErrUnreadable}), Failure},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

type wrap struct {
	coded
	inner error
}

func (w *wrap) Unwrap() error { return w.inner }

func TestWorst(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{nil, OK},
		{[]int{OK, OK}, OK},
		{[]int{OK, Unreadable}, Unreadable},
		{[]int{Unreadable, Usage}, Usage},
		{[]int{Usage, Failure, Unreadable}, Failure},
		{[]int{Failure, Mismatch, OK}, Mismatch},
		{[]int{Mismatch, Failure}, Mismatch},
		{[]int{OK, 7}, Failure},
	} {
		if got := Worst(tc.codes...); got != tc.want {
			t.Errorf("Worst(%v) = %d, want %d", tc.codes, got, tc.want)
		}
	}
}
