package acquire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// faultyDisk fails every read that touches a bad range with EIO, as a real
// device read with O_DIRECT does; flaky ranges fail only their first N
// reads; with dead set, every read reaching deadFrom or beyond fails.
type faultyDisk struct {
	data     []byte
	bad      []report.Range
	flaky    map[int64]int // offset -> remaining failures
	dead     bool
	deadFrom int64
	reads    int
	failed   int
}

func (d *faultyDisk) ReadAt(p []byte, off int64) (int, error) {
	d.reads++
	end := off + int64(len(p))
	fail := d.dead && end > d.deadFrom
	for _, b := range d.bad {
		if off < b.Offset+b.Length && b.Offset < end {
			fail = true
		}
	}
	for o, left := range d.flaky {
		if left > 0 && off <= o && o < end {
			d.flaky[o] = left - 1
			fail = true
		}
	}
	if fail {
		d.failed++
		return 0, &fsError{syscall.EIO}
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

type testEvent struct {
	level, kind, msg string
	off, length      int64
}

// testReader reads d with the default rescue settings and logs its events.
func testReader(d *faultyDisk, retries int) (*sourceReader, *[]testEvent) {
	events := &[]testEvent{}
	r := newSourceReader(d, int64(len(d.data)), 512, retries, func(level, kind, msg string, off, n int64) {
		*events = append(*events, testEvent{level, kind, msg, off, n})
	})
	return r, events
}

func kinds(es []testEvent, kind string) []report.Range {
	var out []report.Range
	for _, e := range es {
		if e.kind == kind {
			out = append(out, report.Range{Offset: e.off, Length: e.length})
		}
	}
	return out
}

// readAll reads the whole disk in blocks of bs as the pipeline does.
func readAll(t *testing.T, r *sourceReader, bs int) ([]byte, error) {
	t.Helper()
	out := make([]byte, r.size)
	for off := int64(0); off < r.size; off += int64(bs) {
		p := out[off:min(off+int64(bs), r.size)]
		if err := r.read(context.Background(), p, off); err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestRescueToSectors(t *testing.T) {
	const size = 256 << 10 // 4 clusters
	data := bytes.Repeat([]byte{0xAB}, size)
	for _, tc := range []struct {
		name string
		bad  []report.Range
		want []report.Range
	}{
		{"one sector", []report.Range{{Offset: 5 * 512, Length: 512}}, []report.Range{{Offset: 5 * 512, Length: 512}}},
		{"part of a sector", []report.Range{{Offset: 7*512 + 100, Length: 1}}, []report.Range{{Offset: 7 * 512, Length: 512}}},
		{"run across clusters", []report.Range{{Offset: 64<<10 - 1024, Length: 4 * 512}}, []report.Range{{Offset: 64<<10 - 1024, Length: 4 * 512}}},
		{"first and last", []report.Range{{Offset: 0, Length: 512}, {Offset: size - 512, Length: 512}},
			[]report.Range{{Offset: 0, Length: 512}, {Offset: size - 512, Length: 512}}},
		{"adjacent merge", []report.Range{{Offset: 10 * 512, Length: 512}, {Offset: 11 * 512, Length: 512}},
			[]report.Range{{Offset: 10 * 512, Length: 1024}}},
		{"a whole cluster and a sector", []report.Range{{Offset: 64 << 10, Length: 64<<10 + 512}},
			[]report.Range{{Offset: 64 << 10, Length: 64<<10 + 512}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &faultyDisk{data: data, bad: tc.bad}
			r, events := testReader(d, 2)
			p, err := readAll(t, r, size)
			if err != nil {
				t.Fatal(err)
			}
			r.conclude(false)
			if diff := cmp.Diff(tc.want, r.unreadable); diff != "" {
				t.Errorf("unreadable (-want +got):\n%s", diff)
			}
			if !bytes.Equal(p, zeroedRanges(data, tc.want)) {
				t.Error("image is not the data with the unreadable ranges zeroed")
			}
			var total int64
			for _, u := range tc.want {
				total += u.Length
			}
			if r.bad != total {
				t.Errorf("bad = %d, want %d", r.bad, total)
			}
			// One event per run, with its range.
			if diff := cmp.Diff(tc.want, kinds(*events, "unreadable")); diff != "" {
				t.Errorf("unreadable events (-want +got):\n%s", diff)
			}
			if len(kinds(*events, "read_error")) != 1 {
				t.Errorf("read_error events %v, want one", kinds(*events, "read_error"))
			}
		})
	}
}

func zeroedRanges(data []byte, rs []report.Range) []byte {
	out := bytes.Clone(data)
	for _, u := range rs {
		clear(out[u.Offset : u.Offset+u.Length])
	}
	return out
}

// TestRescueReadCounts pins the reads a failed block costs: the block,
// its clusters, each sector of a failed cluster once, retries only for the
// failed sectors of a partly readable cluster, one probe after a long run.
func TestRescueReadCounts(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                 string
		bad                  []report.Range
		reads, failed, wantN int
	}{
		// 1 block + 64 clusters + 1 cluster's 128 sectors + 3 retries of the bad one.
		{"isolated sector", []report.Range{{Offset: mib + 512, Length: 512}}, 1 + 64 + 128 + 3, 1 + 1 + 1 + 3, 1},
		// 1 block + 64 clusters (32 fail) + 32×128 sectors, no retries, one
		// probe after 16 dead clusters (at 3 MiB: reads).
		{"2 MiB dead", []report.Range{{Offset: mib, Length: 2 * mib}}, 1 + 64 + 32*128 + 1, 1 + 32 + 32*128, 1},
		// A dead cluster at the end of the block: a probe at +1 MiB before it
		// is handed on.
		{"dead last cluster", []report.Range{{Offset: 4*mib - 64<<10, Length: 64 << 10}}, 1 + 64 + 128 + 1, 1 + 1 + 128, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &faultyDisk{data: make([]byte, 8*mib), bad: tc.bad}
			r, events := testReader(d, 3)
			if _, err := readAll(t, r, 4*mib); err != nil {
				t.Fatal(err)
			}
			r.conclude(false)
			// The second block reads at once.
			if d.reads-1 != tc.reads || d.failed != tc.failed {
				t.Errorf("%d reads (%d failed), want %d (%d failed)", d.reads-1, d.failed, tc.reads, tc.failed)
			}
			if diff := cmp.Diff(tc.bad, r.unreadable); diff != "" {
				t.Errorf("unreadable (-want +got):\n%s", diff)
			}
			if n := len(kinds(*events, "unreadable")); n != tc.wantN {
				t.Errorf("%d unreadable events, want %d", n, tc.wantN)
			}
		})
	}
}

func TestFlakySectorRecovered(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 16*512)
	// Fails the block read, the sector's first read and two retries.
	d := &faultyDisk{data: data, flaky: map[int64]int{3 * 512: 4}}
	r, events := testReader(d, 3)
	p := make([]byte, len(data))
	if err := r.read(context.Background(), p, 0); err != nil {
		t.Fatal(err)
	}
	if len(r.unreadable) != 0 || !bytes.Equal(p, data) {
		t.Errorf("flaky sector not recovered: unreadable %v", r.unreadable)
	}
	ok := kinds(*events, "retry_ok")
	if len(ok) != 1 || ok[0].Offset != 3*512 || !strings.Contains((*events)[len(*events)-1].msg, "attempt 4") {
		t.Errorf("events %v, want a retry_ok on attempt 4 last", *events)
	}
}

// TestDeadSectorNotRetried: a sector in a cluster where nothing reads is
// not retried, however flaky: ddrescue -d's default (no retries).
func TestDeadClusterNotRetried(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 128<<10)
	d := &faultyDisk{data: data, bad: []report.Range{{Offset: 0, Length: 64 << 10}}}
	r, _ := testReader(d, 3)
	if _, err := readAll(t, r, len(data)); err != nil {
		t.Fatal(err)
	}
	// 1 block + 2 clusters + 128 sectors; no retries, no probe (the dead
	// cluster neither ends the block nor makes a long run).
	if d.reads != 1+2+128 {
		t.Errorf("%d reads, want %d", d.reads, 1+2+128)
	}
}

// TestSourceDead: everything from X on fails. The run reaches 16 dead
// clusters, the probes up to the last sector fail, read returns
// ErrSourceDead, and nothing of that block stays recorded.
func TestSourceDead(t *testing.T) {
	const mib = 1 << 20
	for _, x := range []int64{5*mib + 512*3, 4 * mib, 8*mib - 100<<10} {
		t.Run(fmt.Sprint(x), func(t *testing.T) {
			d := &faultyDisk{data: make([]byte, 64*mib), dead: true, deadFrom: x, bad: []report.Range{{Offset: mib, Length: 512}}}
			r, events := testReader(d, 3)
			_, err := readAll(t, r, 4*mib)
			if !errors.Is(err, ErrSourceDead) {
				t.Fatalf("read: %v, want ErrSourceDead", err)
			}
			run := x / 512 * 512
			// Probes from the end of the 16th dead cluster (or of the
			// block): 1, 2, 4, 8, 16, 32 MiB while inside, then the last sector.
			if want := fmt.Sprintf("the source stopped answering at byte %d:", run); !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "probes up to the end failed") {
				t.Errorf("error %q, want it to start %q", err, want)
			}
			if diff := cmp.Diff([]report.Range{{Offset: mib, Length: 512}}, r.unreadable); diff != "" {
				t.Errorf("unreadable after the stop (-want +got):\n%s", diff)
			}
			if r.bad != 512 {
				t.Errorf("bad = %d, want 512", r.bad)
			}
			dead := kinds(*events, "source_dead")
			if len(dead) != 1 || dead[0].Offset != run {
				t.Errorf("source_dead events %v, want one at %d", dead, run)
			}
			if n := len(kinds(*events, "unreadable")); n != 1 {
				t.Errorf("%d unreadable events, want 1 (the sector before)", n)
			}
		})
	}
}

// TestDeadTailNearEnd: a dead stretch that ends the source within the
// first probe distance is scraped to the end, not called dead.
func TestDeadTailNearEnd(t *testing.T) {
	const mib = 1 << 20
	d := &faultyDisk{data: make([]byte, 4*mib), dead: true, deadFrom: 2*mib + 512}
	r, events := testReader(d, 3)
	if _, err := readAll(t, r, 4*mib); err != nil {
		t.Fatal(err)
	}
	r.conclude(false)
	want := []report.Range{{Offset: 2*mib + 512, Length: 2*mib - 512}}
	if diff := cmp.Diff(want, r.unreadable); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, kinds(*events, "unreadable")); diff != "" {
		t.Errorf("unreadable events (-want +got):\n%s", diff)
	}
}

// TestDeadRunProbedAndCrossed: a 6 MiB dead region is probed once, the
// probe finds where it ends, and every sector up to there is still read.
func TestDeadRunProbedAndCrossed(t *testing.T) {
	const mib = 1 << 20
	bad := report.Range{Offset: 3*mib + 4096, Length: 6 * mib}
	d := &faultyDisk{data: make([]byte, 16*mib), bad: []report.Range{bad}}
	r, events := testReader(d, 3)
	if _, err := readAll(t, r, 4*mib); err != nil {
		t.Fatal(err)
	}
	r.conclude(false)
	if diff := cmp.Diff([]report.Range{bad}, r.unreadable); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]report.Range{bad}, kinds(*events, "unreadable")); diff != "" {
		t.Errorf("unreadable events (-want +got):\n%s", diff)
	}
	sectors := int(bad.Length / 512)
	if r.rescue.failed > int64(sectors)*11/10 {
		t.Errorf("%d failed reads for %d bad sectors", r.rescue.failed, sectors)
	}
	if len(kinds(*events, "probe")) == 0 {
		t.Error("no probe event")
	}
	t.Logf("%d reads, %d failed, %d probes for %d bad sectors", r.rescue.reads, r.rescue.failed, r.rescue.probes, sectors)
}

// TestEventCap: beyond maxEvents damage events, the rest are counted and
// summed up in one event.
func TestEventCap(t *testing.T) {
	var bad []report.Range
	for i := range 10 {
		bad = append(bad, report.Range{Offset: int64(i) * 128 << 10, Length: 512})
	}
	d := &faultyDisk{data: make([]byte, 10*128<<10), bad: bad}
	r, events := testReader(d, 0)
	r.rescue.maxEvents = 4
	if _, err := readAll(t, r, 64<<10); err != nil {
		t.Fatal(err)
	}
	r.conclude(false)
	if diff := cmp.Diff(bad, r.unreadable); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	listed := 0
	for _, e := range *events {
		if damageKinds[e.kind] {
			listed++
		}
	}
	// 10 read errors and 10 runs: 4 listed, 16 omitted, 8 of them runs.
	if listed != 4 || r.rescue.omitted != 16 || r.rescue.omittedRuns != 8 {
		t.Errorf("listed %d, omitted %d (%d runs); want 4, 16 (8)", listed, r.rescue.omitted, r.rescue.omittedRuns)
	}
	last := (*events)[len(*events)-1]
	if last.kind != "events_omitted" || !strings.Contains(last.msg, "16 more damage events") {
		t.Errorf("last event %+v, want the summary", last)
	}
	if j := r.journalState(); j == nil || j.OmittedEvents != 16 || j.OmittedRuns != 8 {
		t.Errorf("journal state %+v", j)
	}
}

func TestShortReadIsAnError(t *testing.T) {
	d := &faultyDisk{data: make([]byte, 1000)}
	r, _ := testReader(d, 0)
	r.size = 2000
	if err := r.read(context.Background(), make([]byte, 2000), 0); err == nil {
		t.Fatal("a source that ended early was not an error")
	}
}

// TestRescueRestore: a resume counts the damage events the journal lists
// against the cap, takes its omitted counts, and knows that a run ending
// at the checkpoint may go on.
func TestRescueRestore(t *testing.T) {
	d := &faultyDisk{data: make([]byte, 1<<20)}
	r, _ := testReader(d, 3)
	r.unreadable = []report.Range{{Offset: 0, Length: 512}, {Offset: 128 << 10, Length: 128 << 10}}
	c := &checkpointRec{Offset: 256 << 10, Rescue: &rescueJournal{OmittedEvents: 5, OmittedRuns: 2}}
	r.restore(c, []report.Event{{Kind: "unreadable"}, {Kind: "resume"}, {Kind: "read_error"}})
	rs := r.rescue
	if rs.listed != 2 || rs.omitted != 5 || rs.omittedRuns != 2 || !rs.open || rs.deadClusters != 2 {
		t.Errorf("restored %+v", rs)
	}
	if j := r.journalState(); j == nil || *j != (rescueJournal{OmittedEvents: 5, OmittedRuns: 2}) {
		t.Errorf("journal state %+v", j)
	}
}
