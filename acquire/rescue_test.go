package acquire_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/acquire/mapfile"
	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

func readMap(t *testing.T, path string) *mapfile.Map {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapfile.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return m
}

// blocksOf returns the map's blocks of status s as ranges.
func blocksOf(m *mapfile.Map, s mapfile.Status) []report.Range {
	out := []report.Range{}
	for _, b := range m.Blocks {
		if b.Status == s {
			out = append(out, report.Range{Offset: b.Pos, Length: b.Size})
		}
	}
	return out
}

// ddrescuelogList runs `ddrescuelog -b SECTOR -l TYPES` on path and
// returns how many blocks it lists.
func ddrescuelogList(t *testing.T, path string, sector int, types string) int {
	t.Helper()
	out, err := exec.Command("ddrescuelog", "-b", strconv.Itoa(sector), "-l"+types, path).CombinedOutput()
	if err != nil {
		t.Fatalf("ddrescuelog -l%s %s: %v\n%s", types, path, err, out)
	}
	return len(strings.Fields(string(out)))
}

// checkMap checks a complete acquisition's mapfile: finished, bad-sector
// blocks exactly the unreadable ranges, rescued everything else; and that
// ddrescuelog reads it with the same totals as the report.
func checkMap(t *testing.T, path string, r *report.Report, want []report.Range) {
	t.Helper()
	m := readMap(t, path)
	if m.Phase != mapfile.Done || !strings.HasPrefix(m.Creator, "custodian") {
		t.Errorf("map phase %q by %q, want finished by custodian", m.Phase, m.Creator)
	}
	if diff := cmp.Diff(append([]report.Range{}, want...), blocksOf(m, mapfile.BadSector)); diff != "" {
		t.Errorf("map bad-sector blocks (-want +got):\n%s", diff)
	}
	if start, end := m.Extent(); start != 0 || end != r.Source.Size || m.Bytes(mapfile.Finished)+m.Bytes(mapfile.BadSector) != r.Source.Size {
		t.Errorf("map covers [%d, %d) with %d rescued and %d bad bytes; source %d bytes", start, end,
			m.Bytes(mapfile.Finished), m.Bytes(mapfile.BadSector), r.Source.Size)
	}
	looptest.RequireTool(t, "ddrescuelog", "gddrescue")
	if out, err := exec.Command("ddrescuelog", "-t", path).CombinedOutput(); err != nil {
		t.Fatalf("ddrescuelog -t %s: %v\n%s", path, err, out)
	}
	ss := r.Source.LogicalSectorSize
	if bad := int64(ddrescuelogList(t, path, ss, "-")) * int64(ss); bad != r.UnreadableBytes() {
		t.Errorf("ddrescuelog lists %d bad-sector bytes, the report %d", bad, r.UnreadableBytes())
	}
	if ok := int64(ddrescuelogList(t, path, ss, "+")) * int64(ss); ok != r.Source.Size-r.UnreadableBytes() {
		t.Errorf("ddrescuelog lists %d rescued bytes, the report implies %d", ok, r.Source.Size-r.UnreadableBytes())
	}
}

// TestMapMatchesDdrescue images fault devices at the default read size
// and compares NAME.map with the map of `ddrescue -d` on the same device.
func TestMapMatchesDdrescue(t *testing.T) {
	looptest.RequireTool(t, "ddrescue", "gddrescue")
	type rg = faultdisk.Range
	const mib = 1 << 20
	const size = 10 * mib
	for _, tc := range []struct {
		name   string
		sector int
		bad    []rg
		want   []report.Range
	}{
		{"first sector", 512, []rg{{Offset: 0, Length: 512}}, []report.Range{{Offset: 0, Length: 512}}},
		{"last sector", 512, []rg{{Offset: size - 1, Length: 1}}, []report.Range{{Offset: size - 512, Length: 512}}},
		{"across the 4 MiB block boundary", 512, []rg{{Offset: 4*mib - 1536, Length: 4096}}, []report.Range{{Offset: 4*mib - 1536, Length: 4096}}},
		{"isolated sectors", 512, []rg{{Offset: 100 * 512, Length: 512}, {Offset: 102 * 512, Length: 512}, {Offset: 3*mib + 7*512, Length: 300}, {Offset: 9 * mib, Length: 512}},
			[]report.Range{{Offset: 100 * 512, Length: 512}, {Offset: 102 * 512, Length: 512}, {Offset: 3*mib + 7*512, Length: 512}, {Offset: 9 * mib, Length: 512}}},
		{"dead region", 512, []rg{{Offset: 3*mib + 3*512, Length: 2 * mib}}, []report.Range{{Offset: 3*mib + 3*512, Length: 2 * mib}}},
		{"4Kn", 4096, []rg{{Offset: mib + 100, Length: 10}, {Offset: 4*mib - 4096, Length: 8192}, {Offset: size - 4096, Length: 4096}},
			[]report.Range{{Offset: mib, Length: 4096}, {Offset: 4*mib - 4096, Length: 8192}, {Offset: size - 4096, Length: 4096}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := faultdisk.Options{Size: size, Content: faultdisk.Pattern(11), Bad: tc.bad}
			d := faultdisk.Device(t, o, tc.sector)
			opts := badOptions()
			opts.ReadSize = acquire.DefaultReadSize
			dir := filepath.Join(t.TempDir(), "out")
			r, img, _, err := acquiredIn(t, d.Dev, dir, opts)
			if !errors.Is(err, acquire.ErrUnreadable) {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tc.want, r.Unreadable); diff != "" {
				t.Errorf("unreadable (-want +got):\n%s", diff)
			}
			if !bytes.Equal(img, zeroed(o.Image(), tc.want)) {
				t.Error("image differs from the source with the unreadable ranges zeroed")
			}
			ours := filepath.Join(dir, "bad.map")
			checkMap(t, ours, r, tc.want)

			theirs, _ := ddrescueRun(t, d.Dev, tc.sector, t.TempDir())
			dm := readMap(t, theirs)
			if diff := cmp.Diff(dm.Blocks, readMap(t, ours).Blocks); diff != "" {
				t.Errorf("blocks (-ddrescue +custodian):\n%s", diff)
			}
			if out, err := exec.Command("ddrescuelog", "-b", strconv.Itoa(tc.sector), "-p", theirs, ours).CombinedOutput(); err != nil {
				t.Errorf("ddrescuelog -p (compare): %v\n%s", err, out)
			}
		})
	}
}

// TestSourceStopsAnswering: everything from X on fails. The acquisition
// stops with ErrSourceDead instead of crawling to the end, the report says
// incomplete and why, the journal is checkpointed at the block where it
// stopped, the map says rescued up to there and non-tried after; when the
// disk answers again, --resume completes the image with nothing unreadable.
func TestSourceStopsAnswering(t *testing.T) {
	const mib = 1 << 20
	const size = 64 * mib
	for _, x := range []int64{12 * mib, 13*mib + 5*512} {
		t.Run(fmt.Sprint(x), func(t *testing.T) {
			o := faultdisk.Options{Size: size, Content: faultdisk.Pattern(12), DeadFrom: x}
			d := faultdisk.Device(t, o, 512)
			opts := badOptions()
			opts.ReadSize = acquire.DefaultReadSize
			dir := filepath.Join(t.TempDir(), "out")
			r, err := acquire.New(d.Dev, dir, opts).Run(context.Background())
			if !errors.Is(err, acquire.ErrSourceDead) {
				t.Fatalf("Run: %v, want ErrSourceDead", err)
			}
			stop := x / acquire.DefaultReadSize * acquire.DefaultReadSize
			wantMsg := fmt.Sprintf("the source stopped answering at byte %d: ", x)
			if r.Status != report.StatusIncomplete || !strings.HasPrefix(r.Error, wantMsg) || !strings.Contains(r.Error, "probes up to the end failed") {
				t.Errorf("status %q, error %q; want incomplete, %q…", r.Status, r.Error, wantMsg)
			}
			if r.BytesAcquired != stop || len(r.Unreadable) != 0 {
				t.Errorf("bytes acquired %d, unreadable %v; want %d, none", r.BytesAcquired, r.Unreadable, stop)
			}
			if ev := eventsOf(r, "source_dead"); len(ev) != 1 || *ev[0].Offset != x || !strings.Contains(ev[0].Message, wantMsg) {
				t.Errorf("source_dead events %+v", ev)
			}
			reads, failed := d.ReadsOf(faultdisk.Range{Offset: x, Length: size - x})
			if failed > 4096 {
				t.Errorf("%d reads (%d failed) past X: it crawled", reads, failed)
			}
			t.Logf("stopped after %d failed reads past X: %s", failed, r.Error)
			m := readMap(t, filepath.Join(dir, "bad.map"))
			wantBlocks := []mapfile.Block{{Pos: 0, Size: stop, Status: mapfile.Finished}, {Pos: stop, Size: size - stop, Status: mapfile.NonTried}}
			if diff := cmp.Diff(wantBlocks, m.Blocks); diff != "" || m.Phase != mapfile.Copying || m.Pos != stop {
				t.Errorf("map at %#x phase %q, blocks (-want +got):\n%s", m.Pos, m.Phase, diff)
			}
			if _, err := os.Stat(filepath.Join(dir, "bad.journal")); err != nil {
				t.Fatalf("no journal to resume from: %v", err)
			}

			d.SetDeadFrom(0)
			d.ResetReads()
			opts.Resume = true
			r2, err := acquire.New(d.Dev, dir, opts).Run(context.Background())
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if r2.Status != report.StatusComplete || len(r2.Unreadable) != 0 {
				t.Errorf("resumed: status %q, unreadable %v", r2.Status, r2.Unreadable)
			}
			// Before the checkpoint a resume reads only what proves the
			// source is the medium imaged: up to 18 samples of 64 KiB
			// compared with the kept image (and the first sectors, read by
			// every run to look for a partition table). It does not image
			// that part again.
			var before int64
			for _, rd := range d.Reads() {
				if rd.Offset < stop && rd.Offset+rd.Length > 64<<10 {
					before += rd.Length
				}
			}
			if before > 18*64<<10 {
				t.Fatalf("the resume read %d bytes before the checkpoint at %d: more than its source samples", before, stop)
			}
			img := concat(t, dir, r2)
			if !bytes.Equal(img, o.Image()) {
				t.Error("resumed image differs from the source")
			}
			if diff := cmp.Diff(hashesOf(o.Image()), r2.Hashes); diff != "" {
				t.Errorf("hashes (-want +got):\n%s", diff)
			}
			checkMap(t, filepath.Join(dir, "bad.map"), r2, nil)
		})
	}
}

func concat(t *testing.T, dir string, r *report.Report) []byte {
	t.Helper()
	var all []byte
	for _, s := range r.Image.Segments {
		b, err := os.ReadFile(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestDdrescueRetriesFromOurMap: ddrescue takes NAME.map as its own. Once
// the bad sectors read again, `ddrescue -d -r1 SOURCE NAME.001 NAME.map`
// on a copy of the image fills in just those sectors (and only those are
// read), giving the source's bytes and an all-rescued map.
func TestDdrescueRetriesFromOurMap(t *testing.T) {
	looptest.RequireTool(t, "ddrescue", "gddrescue")
	const mib = 1 << 20
	bad := []faultdisk.Range{{Offset: mib + 512, Length: 1024}, {Offset: 3 * mib, Length: 64 << 10}}
	o := faultdisk.Options{Size: 6 * mib, Content: faultdisk.Pattern(13), Bad: bad}
	d := faultdisk.Device(t, o, 512)
	dir := filepath.Join(t.TempDir(), "out")
	r, img, _, err := acquiredIn(t, d.Dev, dir, badOptions())
	if !errors.Is(err, acquire.ErrUnreadable) || len(r.Image.Segments) != 1 {
		t.Fatalf("Run: %v, %d segments", err, len(r.Image.Segments))
	}
	work := t.TempDir()
	cp, mp := filepath.Join(work, "copy.img"), filepath.Join(work, "copy.map")
	if err := os.WriteFile(cp, img, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bad.map"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d.SetBad(nil)
	d.ResetReads()
	if out, err := exec.Command("ddrescue", "-d", "-q", "-r1", d.Dev, cp, mp).CombinedOutput(); err != nil {
		t.Fatalf("ddrescue: %v\n%s", err, out)
	}
	var read int64
	for _, x := range d.Reads() {
		read += x.Length
	}
	if read > 1024+64<<10 {
		t.Errorf("ddrescue read %d bytes; the map left it %d to retry", read, 1024+64<<10)
	}
	got, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, o.Image()) {
		t.Error("the retried copy differs from the source")
	}
	if m := readMap(t, mp); m.Bytes(mapfile.Finished) != o.Size {
		t.Errorf("after the retry pass: %+v", m.Blocks)
	}
}

// TestCheckpointMapAndResume: the map written at a checkpoint says rescued
// up to it (with the unreadable sectors before it) and non-tried after; an
// interrupted run leaves that map; the resumed run's final map has every
// unreadable range, and one event per run.
func TestCheckpointMapAndResume(t *testing.T) {
	const mib = 1 << 20
	first, second := report.Range{Offset: 512, Length: 512}, report.Range{Offset: 2*mib + 512, Length: 1024}
	o := faultdisk.Options{Size: 4 * mib, Content: faultdisk.Pattern(14),
		Bad: []faultdisk.Range{{Offset: first.Offset, Length: first.Length}, {Offset: second.Offset, Length: second.Length}}}
	d := faultdisk.Device(t, o, 512)
	dir := filepath.Join(t.TempDir(), "out")
	opts := badOptions()
	opts.CheckpointEvery = mib
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.OnEvent = func(e report.Event) {
		if e.Kind == "unreadable" && *e.Offset == second.Offset {
			cancel() // after the checkpoint at 2 MiB
		}
	}
	r, err := acquire.New(d.Dev, dir, opts).Run(ctx)
	// The block holding the second range was settled and handed on before
	// the signal was seen: the interrupt's checkpoint is at its end.
	stop := int64(2*mib + opts.ReadSize)
	if !errors.Is(err, context.Canceled) || r.Status != report.StatusIncomplete || r.BytesAcquired != stop {
		t.Fatalf("Run: %v, status %q, %d bytes acquired; want interrupted with a checkpoint at %d", err, r.Status, r.BytesAcquired, stop)
	}
	m := readMap(t, filepath.Join(dir, "bad.map"))
	want := []mapfile.Block{{Pos: 0, Size: 512, Status: mapfile.Finished}, {Pos: 512, Size: 512, Status: mapfile.BadSector},
		{Pos: 1024, Size: 2*mib - 1024 + 512, Status: mapfile.Finished}, {Pos: second.Offset, Size: second.Length, Status: mapfile.BadSector},
		{Pos: second.Offset + second.Length, Size: stop - second.Offset - second.Length, Status: mapfile.Finished},
		{Pos: stop, Size: 4*mib - stop, Status: mapfile.NonTried}}
	if diff := cmp.Diff(want, m.Blocks); diff != "" || m.Pos != stop || m.Phase != mapfile.Copying {
		t.Errorf("map at %#x, phase %q; blocks (-want +got):\n%s", m.Pos, m.Phase, diff)
	}
	if out, err := exec.Command("ddrescuelog", "-t", filepath.Join(dir, "bad.map")).CombinedOutput(); err != nil {
		t.Fatalf("ddrescuelog -t: %v\n%s", err, out)
	}

	opts.OnEvent, opts.Resume = nil, true
	r2, err := acquire.New(d.Dev, dir, opts).Run(context.Background())
	if !errors.Is(err, acquire.ErrUnreadable) {
		t.Fatalf("resume: %v", err)
	}
	all := []report.Range{first, second}
	if diff := cmp.Diff(all, r2.Unreadable); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all, eventRanges(eventsOf(r2, "unreadable"))); diff != "" {
		t.Errorf("unreadable events (-want +got):\n%s", diff)
	}
	if !bytes.Equal(concat(t, dir, r2), zeroed(o.Image(), all)) {
		t.Error("image differs from the source with the unreadable ranges zeroed")
	}
	checkMap(t, filepath.Join(dir, "bad.map"), r2, all)
}
