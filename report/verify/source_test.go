package verify

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// TestVerifyDamagedSource (issue 13, item 7): a source that had bad
// sectors when it was acquired is verified again with --source. With the
// same damage it matches (the listed ranges compare as zeros, no failure at
// the first EIO); sectors that read now are noted; sectors that went bad
// since are listed as newly unreadable, a mismatch.
func TestVerifyDamagedSource(t *testing.T) {
	const mib = 1 << 20
	old := faultdisk.Range{Offset: mib + 512, Length: 1024}
	o := faultdisk.Options{Size: 4 * mib, Content: faultdisk.Pattern(23), Bad: []faultdisk.Range{old}}
	d := faultdisk.Device(t, o, 512)
	dir := filepath.Join(t.TempDir(), "ev")
	ao := acquire.Options{Name: "ev", Format: "raw", Hashes: hashing.Set{hashing.SHA256}, Retries: 1,
		WriteBlock: true, RestoreWriteBlock: true}
	r, err := acquire.New(d.Dev, dir, ao).Run(context.Background())
	if !errors.Is(err, acquire.ErrUnreadable) || len(r.Unreadable) != 1 {
		t.Fatalf("acquire: %v, unreadable %v", err, r.Unreadable)
	}
	verify := func() (*Result, error) {
		return Verify(context.Background(), dir, Options{Source: d.Dev, NoTrust: true})
	}

	res, err := verify()
	if err != nil || statusOf(res, "source", d.Dev) != report.CheckOK || len(res.NewlyUnreadable) != 0 {
		t.Fatalf("same damage: %v\n%+v", err, res.Checks)
	}

	d.SetBad(nil) // the old sectors read now: still compared as zeros
	if res, err = verify(); err != nil || statusOf(res, "source", d.Dev) != report.CheckOK {
		t.Fatalf("old damage readable now: %v\n%+v", err, res.Checks)
	}

	fresh := []faultdisk.Range{{Offset: 3 * mib, Length: 512}, {Offset: 3*mib + 64<<10, Length: 4096}}
	d.SetBad(append([]faultdisk.Range{old}, fresh...))
	res, err = verify()
	if !errors.Is(err, report.ErrMismatch) || res.Result != ResultMismatch {
		t.Fatalf("new damage: %v, result %q, want a mismatch", err, res.Result)
	}
	want := []report.Range{{Offset: fresh[0].Offset, Length: fresh[0].Length}, {Offset: fresh[1].Offset, Length: fresh[1].Length}}
	if diff := cmp.Diff(want, res.NewlyUnreadable); diff != "" {
		t.Errorf("newly unreadable (-want +got):\n%s", diff)
	}
	if statusOf(res, "source_unreadable", d.Dev) != report.CheckMismatch {
		t.Errorf("no source_unreadable mismatch: %+v", res.Checks)
	}
}

// TestSubtractRanges: the range arithmetic behind newly unreadable.
func TestSubtractRanges(t *testing.T) {
	rg := func(o, l int64) report.Range { return report.Range{Offset: o, Length: l} }
	for _, tc := range []struct{ a, b, want []report.Range }{
		{[]report.Range{rg(0, 10)}, nil, []report.Range{rg(0, 10)}},
		{[]report.Range{rg(0, 10)}, []report.Range{rg(0, 10)}, nil},
		{[]report.Range{rg(0, 10)}, []report.Range{rg(2, 3)}, []report.Range{rg(0, 2), rg(5, 5)}},
		{[]report.Range{rg(0, 10), rg(20, 5)}, []report.Range{rg(5, 20)}, []report.Range{rg(0, 5)}},
		{[]report.Range{rg(10, 10)}, []report.Range{rg(0, 5), rg(30, 5)}, []report.Range{rg(10, 10)}},
	} {
		if got := acquire.SubtractRanges(tc.a, tc.b); !cmp.Equal(tc.want, got) {
			t.Errorf("%v − %v = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
