//go:build linux

package blockdev_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkAgainstBlockdev compares Open and Inspect with blockdev(8).
func checkAgainstBlockdev(t *testing.T, dev string) *blockdev.Info {
	t.Helper()
	d, err := blockdev.Open(dev, blockdev.OpenOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	size := atoi(t, looptest.Blockdev(t, "--getsize64", dev))
	ss := int(atoi(t, looptest.Blockdev(t, "--getss", dev)))
	pbsz := int(atoi(t, looptest.Blockdev(t, "--getpbsz", dev)))
	ro := looptest.Blockdev(t, "--getro", dev) == "1"
	gotRO, err := d.ReadOnlyFlag()
	if err != nil {
		t.Fatal(err)
	}
	if !d.IsBlock() || d.Size() != size || d.LogicalSectorSize() != ss || d.PhysicalSectorSize() != pbsz || gotRO != ro {
		t.Errorf("%s: Open: block %t size %d lss %d pss %d ro %t; blockdev(8): size %d ss %d pbsz %d ro %t",
			dev, d.IsBlock(), d.Size(), d.LogicalSectorSize(), d.PhysicalSectorSize(), gotRO, size, ss, pbsz, ro)
	}
	info, err := blockdev.Inspect(dev)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.LogicalSectorSize != ss || info.PhysicalSectorSize != pbsz || info.ReadOnly != ro {
		t.Errorf("%s: Inspect: size %d lss %d pss %d ro %t; blockdev(8): size %d ss %d pbsz %d ro %t",
			dev, info.Size, info.LogicalSectorSize, info.PhysicalSectorSize, info.ReadOnly, size, ss, pbsz, ro)
	}
	return info
}

func TestLoopPlain(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "plain.img")
	looptest.MakeImage(t, img, 4<<20)
	if err := os.WriteFile(img, []byte(strings.Repeat("custodian", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 4<<20); err != nil {
		t.Fatal(err)
	}
	dev := looptest.Attach(t, img, looptest.Options{})
	info := checkAgainstBlockdev(t, dev)
	if info.Kind != blockdev.KindDisk || info.Model != "" || info.Serial != "" || len(info.Partitions) != 0 {
		t.Errorf("Inspect: kind %q model %q serial %q partitions %v", info.Kind, info.Model, info.Serial, info.Partitions)
	}
	// O_DIRECT reads with an aligned buffer give the file's bytes.
	d, err := blockdev.Open(dev, blockdev.OpenOptions{Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := blockdev.AlignedBuffer(4096, d.LogicalSectorSize())
	if _, err := d.ReadAt(buf, 4096); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(img)
	if string(buf) != string(want[4096:8192]) {
		t.Error("O_DIRECT read differs from the image file")
	}
	d2, err := d.Reopen(blockdev.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d2.Close()
	_, rdev, _ := d.Stat()
	var st syscall.Stat_t
	if err := syscall.Stat(dev, &st); err != nil || uint64(st.Rdev) != rdev {
		t.Errorf("Stat rdev %d, stat(2) %d (%v)", rdev, st.Rdev, err)
	}
	if rel := info.RelatedDevNums(); len(rel) == 0 || rel[0] != rdev {
		t.Errorf("RelatedDevNums %v does not start with %d", rel, rdev)
	}
}

func TestLoopPartitioned(t *testing.T) {
	looptest.RequireRoot(t)
	for _, ss := range []int{512, 4096} {
		t.Run(strconv.Itoa(ss), func(t *testing.T) {
			const size = 32 << 20
			img := filepath.Join(t.TempDir(), "disk.img")
			looptest.MakePartitionedImage(t, img, size, ss, 2)
			dev := looptest.Attach(t, img, looptest.Options{SectorSize: ss, Partscan: true})
			info := checkAgainstBlockdev(t, dev)
			if info.LogicalSectorSize != ss {
				t.Errorf("logical sector size %d, want %d", info.LogicalSectorSize, ss)
			}
			if len(info.Partitions) != 2 {
				t.Fatalf("partitions %+v, want 2", info.Partitions)
			}
			for k, p := range info.Partitions {
				start, length := looptest.PartitionLayout(size, ss, 2, k+1)
				if p.Path != dev+"p"+strconv.Itoa(k+1) || p.Start != start || p.Size != length || p.Number != k+1 {
					t.Errorf("partition %d: %+v, want start %d size %d", k+1, p, start, length)
				}
				pi := checkAgainstBlockdev(t, p.Path)
				if pi.Kind != blockdev.KindPartition || pi.Parent != dev {
					t.Errorf("%s: kind %q parent %q", p.Path, pi.Kind, pi.Parent)
				}
			}
		})
	}
}

func TestLoopReadOnly(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "ro.img")
	looptest.MakeImage(t, img, 1<<20)
	dev := looptest.Attach(t, img, looptest.Options{ReadOnly: true})
	info := checkAgainstBlockdev(t, dev)
	if !info.ReadOnly {
		t.Error("losetup -r device: ReadOnly false")
	}
	if ro, err := blockdev.ReadOnly(dev); err != nil || !ro {
		t.Errorf("ReadOnly(%s) = %t, %v", dev, ro, err)
	}
}

func TestProtectRestore(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 16<<20, 512, 2)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true})
	parts := looptest.Partitions(dev)
	before := looptest.Sha256File(t, img)

	// Given a partition, the whole disk is protected.
	p, err := blockdev.Protect(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Restore() })
	wantDevs := append([]string{dev}, parts...)
	if strings.Join(p.Devices, " ") != strings.Join(wantDevs, " ") {
		t.Errorf("Devices %v, want %v", p.Devices, wantDevs)
	}
	for _, d := range wantDevs {
		if p.WasReadOnly(d) {
			t.Errorf("WasReadOnly(%s) true", d)
		}
		if got := looptest.Blockdev(t, "--getro", d); got != "1" {
			t.Errorf("blockdev --getro %s = %s after Protect", d, got)
		}
		f, err := os.OpenFile(d, os.O_RDWR, 0) // the open succeeds (platform.md) …
		if err != nil {
			t.Fatalf("open %s O_RDWR: %v", d, err)
		}
		_, err = f.WriteAt(make([]byte, 512), 0) // … the write does not
		f.Close()
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("write to protected %s: %v, want EPERM", d, err)
		}
	}
	if n, err := p.SectorsWritten(); err != nil || n != 0 {
		t.Errorf("SectorsWritten = %d, %v; want 0", n, err)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	for _, d := range wantDevs {
		if got := looptest.Blockdev(t, "--getro", d); got != "0" {
			t.Errorf("blockdev --getro %s = %s after Restore", d, got)
		}
	}
	if after := looptest.Sha256File(t, img); after != before {
		t.Error("image changed while protected")
	}
}

// TestDiskCounterIncludesPartitions checks the assumption behind
// Protection.SectorsWritten: a write through a partition raises the disk's
// sectors-written counter too.
func TestDiskCounterIncludesPartitions(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 16<<20, 512, 2)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true})
	part := looptest.Partitions(dev)[1]
	disk0, err := blockdev.WriteStats(filepath.Base(dev))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(part, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(blockdev.AlignedBuffer(4096, 4096), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	disk1, err := blockdev.WriteStats(filepath.Base(dev))
	if err != nil {
		t.Fatal(err)
	}
	if d := disk1.SectorsWritten - disk0.SectorsWritten; d != 8 {
		t.Errorf("disk counter rose by %d sectors for a 4096-byte partition write, want 8", d)
	}
}

func TestExclusiveOpenBusy(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 32<<20, 512, 2)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true})
	part := looptest.Partitions(dev)[0]
	looptest.Mkfs(t, part)
	mnt := looptest.Mount(t, part)

	_, err := blockdev.Open(dev, blockdev.OpenOptions{Exclusive: true})
	var be *blockdev.BusyError
	if !errors.As(err, &be) {
		t.Fatalf("exclusive open of %s with a mounted partition: %v, want BusyError", dev, err)
	}
	if !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), mnt) || !strings.Contains(be.Hint(), "--allow-busy") {
		t.Errorf("BusyError %q (hint %q) should wrap EBUSY and name %q", err, be.Hint(), mnt)
	}
	d, err := blockdev.Open(dev, blockdev.OpenOptions{Exclusive: true, AllowBusy: true})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Shared() {
		t.Error("AllowBusy open: Shared() false")
	}
	d.Close()
	info, err := blockdev.Inspect(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Mounts) != 1 || info.Mounts[0] != mnt || len(info.Partitions[0].Mounts) != 1 {
		t.Errorf("Inspect mounts %v, partition mounts %v; want [%s]", info.Mounts, info.Partitions[0].Mounts, mnt)
	}
}

func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, "/dev/null", fifo} {
		_, err := blockdev.Open(p, blockdev.OpenOptions{})
		if !errors.Is(err, blockdev.ErrUnsupportedType) || !strings.Contains(err.Error(), p) {
			t.Errorf("Open(%s) = %v, want ErrUnsupportedType naming the path", p, err)
		}
		if _, err := blockdev.Inspect(p); !errors.Is(err, blockdev.ErrUnsupportedType) {
			t.Errorf("Inspect(%s) = %v, want ErrUnsupportedType", p, err)
		}
	}
	missing := filepath.Join(dir, "missing")
	if _, err := blockdev.Open(missing, blockdev.OpenOptions{}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(missing) = %v", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, make([]byte, 1536), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := blockdev.Open(file, blockdev.OpenOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.IsBlock() || d.Size() != 1536 || d.LogicalSectorSize() != 512 {
		t.Errorf("regular file: block %t size %d lss %d", d.IsBlock(), d.Size(), d.LogicalSectorSize())
	}
	if err := blockdev.SetReadOnly(file, true); !errors.Is(err, blockdev.ErrNotBlockDevice) {
		t.Errorf("SetReadOnly(file) = %v, want ErrNotBlockDevice", err)
	}
}
