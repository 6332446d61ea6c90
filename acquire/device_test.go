package acquire

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
)

// fillImage writes deterministic pseudo-random bytes into path from byte
// `from` on (leaving the partition table before it alone).
func fillImage(t *testing.T, path string, from int64, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, fi.Size()-from)
	for i := 0; i+8 <= len(buf); i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			buf[i+k] = byte(v >> (8 * k))
		}
	}
	if _, err := f.WriteAt(buf, from); err != nil {
		t.Fatal(err)
	}
}

// toolSum runs md5sum/sha1sum/sha256sum on path: the reference the report's
// hashes must equal.
func toolSum(t *testing.T, tool, path string) string {
	t.Helper()
	out, err := exec.Command(tool, path).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", tool, path, err)
	}
	return strings.Fields(string(out))[0]
}

// TestAcquireLoopDevices images real partitioned loop devices, 512-byte and
// 4Kn, whose size divides neither by the segment size nor by the read size,
// and checks the image, the hashes against coreutils, the write-block
// record, and that the source is unchanged and writable again afterwards.
func TestAcquireLoopDevices(t *testing.T) {
	looptest.RequireRoot(t)
	for _, sector := range []int{512, 4096} {
		t.Run(map[int]string{512: "512", 4096: "4Kn"}[sector], func(t *testing.T) {
			size := int64(20<<20 + 3*4096) // not a multiple of 1 MiB reads or 7 MiB segments
			img := filepath.Join(t.TempDir(), "disk.img")
			looptest.MakePartitionedImage(t, img, size, sector, 2)
			fillImage(t, img, int64(sector), uint64(sector))
			dev := looptest.Attach(t, img, looptest.Options{Partscan: true, SectorSize: sector})
			parts := looptest.Partitions(dev)
			if len(parts) != 2 {
				t.Fatalf("partitions of %s: %v", dev, parts)
			}
			before := looptest.Sha256File(t, dev)

			dir := filepath.Join(t.TempDir(), "evidence")
			o := testOptions()
			o.ReadSize = 1 << 20
			o.SegmentSize = 7 << 20
			o.Hashes = hashing.Set{hashing.MD5, hashing.SHA1, hashing.SHA256}
			o.WriteBlock, o.RestoreWriteBlock = true, true
			r, err := New(dev, dir, o).Run(context.Background())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			for alg, tool := range map[string]string{"md5": "md5sum", "sha1": "sha1sum", "sha256": "sha256sum"} {
				if want := toolSum(t, tool, dev); r.Hashes[alg] != want {
					t.Errorf("%s = %s, %s says %s", alg, r.Hashes[alg], tool, want)
				}
			}
			if len(r.Image.Segments) != 3 || r.Image.Segments[2].Length != size-14<<20 {
				t.Errorf("segments %+v", r.Image.Segments)
			}
			devBytes, err := os.ReadFile(dev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(concat(t, dir, r), devBytes) {
				t.Error("the concatenated segments differ from the device")
			}
			s := r.Source
			if s.Kind != "block device" || s.Size != size || s.LogicalSectorSize != sector {
				t.Errorf("source %+v", s)
			}
			wb := s.WriteBlock
			if !wb.Enabled || !wb.Confirmed || !wb.CounterChecked || !wb.Restored || !s.ReadOnlyDuring || s.ReadOnlyBefore {
				t.Errorf("write-block record %+v, ro before %v during %v", wb, s.ReadOnlyBefore, s.ReadOnlyDuring)
			}
			for _, d := range append([]string{dev}, parts...) {
				if !slices.Contains(wb.Devices, d) {
					t.Errorf("%s not among the write-blocked devices %v", d, wb.Devices)
				}
			}
			if s.SectorsWrittenDuring != 0 {
				t.Errorf("sectors written during acquisition: %d", s.SectorsWrittenDuring)
			}
			if got := looptest.Blockdev(t, "--getro", dev); got != "0" {
				t.Errorf("after --restore-writeblock, blockdev --getro %s = %s", dev, got)
			}
			if after := looptest.Sha256File(t, dev); after != before {
				t.Errorf("the source changed: sha256 %s before, %s after", before, after)
			}
		})
	}
}

// TestWriteBlockLeftOn: without RestoreWriteBlock the source stays
// read-only after the acquisition (the examiner's safe default).
func TestWriteBlockLeftOn(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 4<<20, 512, 1)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true})
	o := testOptions()
	o.WriteBlock = true
	if _, err := New(dev, t.TempDir(), o).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]string{dev}, looptest.Partitions(dev)...) {
		if got := looptest.Blockdev(t, "--getro", d); got != "1" {
			t.Errorf("blockdev --getro %s = %s after acquire, want 1", d, got)
		}
	}
	if err := blockdev.SetReadOnly(dev, false); err != nil { // let cleanup detach a writable device
		t.Fatal(err)
	}
}

// TestRefuseOutputOnSource: an output folder on a mounted partition of the
// source is refused before anything is created there, and a mounted source
// is refused without --allow-busy.
func TestRefuseOutputOnSource(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 40<<20, 512, 2)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true})
	p1 := looptest.Partitions(dev)[0]
	looptest.Mkfs(t, p1)
	mnt := looptest.Mount(t, p1)
	out := filepath.Join(mnt, "case", "evidence")

	// The partition is mounted: the disk is busy.
	o := testOptions()
	o.WriteBlock = false
	_, err := New(dev, t.TempDir(), o).Run(context.Background())
	var busy *blockdev.BusyError
	if !errors.Is(err, ErrUsage) || !errors.As(err, &busy) {
		t.Fatalf("mounted source: err = %v, want ErrUsage and a BusyError", err)
	}

	// Even when told to read a busy source, the output on it is refused.
	for _, src := range []string{dev, p1} {
		o.AllowBusy = true
		_, err = New(src, out, o).Run(context.Background())
		if !errors.Is(err, ErrUsage) || !errors.Is(err, ErrOutputOnSource) {
			t.Errorf("source %s, output on its filesystem: err = %v, want ErrOutputOnSource", src, err)
		}
		if _, serr := os.Stat(filepath.Join(mnt, "case")); !os.IsNotExist(serr) {
			t.Fatalf("something was created on the source's filesystem: %v", serr)
		}
	}
	// The other partition (p2) is not mounted, but lives on the same disk:
	// imaging p2 into p1's filesystem writes to the disk p2 belongs to.
	p2 := looptest.Partitions(dev)[1]
	_, err = New(p2, out, o).Run(context.Background())
	if !errors.Is(err, ErrOutputOnSource) {
		t.Errorf("source %s, output on a sibling partition: err = %v, want ErrOutputOnSource", p2, err)
	}
}

// TestRegularFileSourceReport checks the fields a regular-file source gets.
func TestRegularFileSourceReport(t *testing.T) {
	src, _ := makeSource(t, 4096)
	r, err := New(src, t.TempDir(), testOptions()).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Source.Kind != "regular file" || r.Source.WriteBlock.Enabled || r.Status != report.StatusComplete {
		t.Errorf("source %+v status %s", r.Source, r.Status)
	}
}

// TestResumeRefusedWhenSourceWritten: an acquisition of a block device is
// interrupted; if the device is written before --resume (same boot, same
// medium), the block layer's counter proves it and the resume is refused.
// Without a write, the same resume goes through.
func TestResumeRefusedWhenSourceWritten(t *testing.T) {
	looptest.RequireRoot(t)
	for _, write := range []bool{true, false} {
		t.Run(map[bool]string{true: "written", false: "unchanged"}[write], func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			looptest.MakeImage(t, img, 4<<20)
			fillImage(t, img, 0, 11)
			dev := looptest.Attach(t, img, looptest.Options{})
			dir := t.TempDir()
			o := testOptions()
			o.WriteBlock, o.RestoreWriteBlock = true, true
			o.ReadSize, o.CheckpointEvery = 64<<10, 256<<10
			ctx, cancel := context.WithCancel(context.Background())
			a := New(dev, dir, o)
			a.afterRead = func(off int64) {
				if off >= 1<<20 {
					cancel()
				}
			}
			if _, err := a.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if write {
				f, err := os.OpenFile(dev, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte("tampered"), 3<<20); err != nil {
					t.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			o.Resume = true
			r, err := New(dev, dir, o).Run(context.Background())
			if write {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "sectors written") {
					t.Fatalf("resume after a write to the source: err = %v, want a refusal naming the writes", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			found := false
			for _, e := range r.Events {
				found = found || strings.Contains(e.Message, "no sector written")
			}
			if !found {
				t.Errorf("no continuity event in %+v", r.Events)
			}
			if want := toolSum(t, "sha256sum", dev); r.Hashes["sha256"] != want {
				t.Errorf("sha256 %s, want %s", r.Hashes["sha256"], want)
			}
		})
	}
}

// TestNoWriteBlockPartitionComparesCounters: with --no-writeblock on a
// partition, the disk's write counter is still compared: a write through
// the disk node during the run (Linux counts it on the disk only) makes the
// acquisition fail. The old code passed the disk's path where a kernel
// name was needed, dropped the error, and compared nothing.
func TestNoWriteBlockPartitionComparesCounters(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 8<<20, 512, 2)
	fillImage(t, img, 512, 5)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true})
	parts := looptest.Partitions(dev)
	if len(parts) != 2 {
		t.Fatalf("partitions of %s: %v", dev, parts)
	}
	start, _ := looptest.PartitionLayout(8<<20, 512, 2, 1)
	o := testOptions()
	o.WriteBlock = false
	o.ReadSize = 64 << 10
	a := New(parts[0], t.TempDir(), o)
	wrote := false
	a.afterRead = func(off int64) {
		if wrote || off < 256<<10 {
			return
		}
		wrote = true
		f, err := os.OpenFile(dev, os.O_WRONLY|os.O_SYNC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, err := f.WriteAt(bytes.Repeat([]byte("x"), 4096), start+1<<20); err != nil {
			t.Error(err)
		}
	}
	r, err := a.Run(context.Background())
	if !wrote {
		t.Fatal("the test did not write")
	}
	if !errors.Is(err, ErrSourceWritten) || r == nil || r.Status != report.StatusFailed {
		t.Fatalf("a write through the disk node during a --no-writeblock run: err %v, report %+v", err, r)
	}
	if !r.Source.WriteBlock.CounterChecked || r.Source.SectorsWrittenDuring < 8 {
		t.Errorf("counter checked %v, %d sectors written: the disk's counter was not compared", r.Source.WriteBlock.CounterChecked, r.Source.SectorsWrittenDuring)
	}
}
