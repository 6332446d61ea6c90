package ewf

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format/formattest"
)

type stopVisitor struct {
	calls  int
	cancel context.CancelFunc
	err    error
}

func (v *stopVisitor) BeginFile(int) io.Writer   { return nil }
func (v *stopVisitor) EndFile(int, int64, error) {}
func (v *stopVisitor) Media([]byte) error {
	v.calls++
	if v.calls == 1 { // media comes in batches of up to 4 MiB: the first call
		if v.cancel != nil {
			v.cancel()
			return nil
		}
		return v.err
	}
	return nil
}

// TestScanStops: a visitor's Media error, or a cancelled context, ends
// the scan with that error, without reading on.
func TestScanStops(t *testing.T) {
	data := formattest.Media(4<<20, 2)
	s := newSpec(t, int64(len(data)), 512, 1<<20, "fast")
	im := writeImage(t, s, data, nil)
	boom := errors.New("boom")
	v := &stopVisitor{err: boom}
	if err := (Format{}).Scan(context.Background(), im.root, im.files, v); !errors.Is(err, boom) {
		t.Errorf("scan with a failing visitor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v = &stopVisitor{cancel: cancel}
	if err := (Format{}).Scan(ctx, im.root, im.files, v); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: %v", err)
	}
	if v.calls > 200 {
		t.Errorf("%d Media calls after the cancel", v.calls)
	}
}
