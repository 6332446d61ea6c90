package acquire

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// faultyDisk fails every read that touches a bad range with EIO, as a real
// device read with O_DIRECT does; flaky ranges fail only their first N reads.
type faultyDisk struct {
	data  []byte
	bad   []report.Range
	flaky map[int64]int // offset -> remaining failures
	reads int
}

func (d *faultyDisk) ReadAt(p []byte, off int64) (int, error) {
	d.reads++
	end := off + int64(len(p))
	for _, b := range d.bad {
		if off < b.Offset+b.Length && b.Offset < end {
			return 0, &fsError{syscall.EIO}
		}
	}
	for o, left := range d.flaky {
		if left > 0 && off <= o && o < end {
			d.flaky[o] = left - 1
			return 0, &fsError{syscall.EIO}
		}
	}
	if off >= int64(len(d.data)) {
		return 0, io.EOF
	}
	n := copy(p, d.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "read: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

func TestNarrowToSectors(t *testing.T) {
	const size = 64 * 512
	data := bytes.Repeat([]byte{0xAB}, size)
	for _, tc := range []struct {
		name string
		bad  []report.Range
		want []report.Range
	}{
		{"one sector", []report.Range{{Offset: 5 * 512, Length: 512}}, []report.Range{{Offset: 5 * 512, Length: 512}}},
		{"part of a sector", []report.Range{{Offset: 7*512 + 100, Length: 1}}, []report.Range{{Offset: 7 * 512, Length: 512}}},
		{"run across halves", []report.Range{{Offset: 30 * 512, Length: 4 * 512}}, []report.Range{{Offset: 30 * 512, Length: 4 * 512}}},
		{"two apart", []report.Range{{Offset: 0, Length: 512}, {Offset: 63 * 512, Length: 512}},
			[]report.Range{{Offset: 0, Length: 512}, {Offset: 63 * 512, Length: 512}}},
		{"adjacent merge", []report.Range{{Offset: 10 * 512, Length: 512}, {Offset: 11 * 512, Length: 512}},
			[]report.Range{{Offset: 10 * 512, Length: 1024}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &faultyDisk{data: data, bad: tc.bad}
			var events []string
			r := &sourceReader{src: d, precise: d, size: size, sector: 512, retries: 2,
				event: func(level, kind, msg string, off, n int64) {
					events = append(events, fmt.Sprintf("%s %s %d", level, kind, off))
				}}
			p := make([]byte, size)
			if err := r.read(context.Background(), p, 0); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, r.unreadable); diff != "" {
				t.Errorf("unreadable (-want +got):\n%s", diff)
			}
			for i := int64(0); i < size; i += 512 {
				isBad := false
				for _, u := range tc.want {
					if i >= u.Offset && i < u.Offset+u.Length {
						isBad = true
					}
				}
				want := byte(0xAB)
				if isBad {
					want = 0
				}
				if p[i] != want || p[i+511] != want {
					t.Fatalf("sector at %d holds %#x, want %#x", i, p[i], want)
				}
			}
			var total int64
			for _, u := range tc.want {
				total += u.Length
			}
			if r.bad != total {
				t.Errorf("bad = %d, want %d", r.bad, total)
			}
			if len(events) == 0 {
				t.Error("no events for a failed read")
			}
		})
	}
}

func TestFlakySectorRecovered(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 16*512)
	d := &faultyDisk{data: data, flaky: map[int64]int{3 * 512: 6}} // fails the first read, the four bisection levels, and one sector attempt
	var kinds []string
	r := &sourceReader{src: d, precise: d, size: int64(len(data)), sector: 512, retries: 3,
		event: func(level, kind, msg string, off, n int64) { kinds = append(kinds, kind) }}
	p := make([]byte, len(data))
	if err := r.read(context.Background(), p, 0); err != nil {
		t.Fatal(err)
	}
	if len(r.unreadable) != 0 || !bytes.Equal(p, data) {
		t.Errorf("flaky sector not recovered: unreadable %v", r.unreadable)
	}
	if kinds[len(kinds)-1] != "retry_ok" {
		t.Errorf("events %v, want a retry_ok last", kinds)
	}
}

func TestShortReadIsAnError(t *testing.T) {
	d := &faultyDisk{data: make([]byte, 1000)}
	r := &sourceReader{src: d, precise: d, size: 2000, sector: 512, event: func(string, string, string, int64, int64) {}}
	if err := r.read(context.Background(), make([]byte, 2000), 0); err == nil {
		t.Fatal("a source that ended early was not an error")
	}
}
