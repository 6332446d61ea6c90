//go:build linux

package blockdev_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"golang.org/x/sys/unix"
)

// ioctlLOOPCHANGEFD is LOOP_CHANGE_FD (linux/loop.h), not in x/sys/unix:
// it swaps the backing file of a read-only loop device, a new medium in
// the same node (the kernel gives it a new diskseq).
const ioctlLOOPCHANGEFD = 0x4c06

func mustSnapshot(t *testing.T, disk string) blockdev.DiskState {
	t.Helper()
	st, err := blockdev.Snapshot(disk)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func hasChange(changes []string, words ...string) bool {
	return slices.ContainsFunc(changes, func(c string) bool {
		for _, w := range words {
			if !strings.Contains(c, w) {
				return false
			}
		}
		return true
	})
}

// TestSnapshotLoop: Snapshot agrees with blockdev(8) and sysfs, and Changes
// names a cleared flag and the sectors written through a partition.
func TestSnapshotLoop(t *testing.T) {
	dev, _ := partitionedWB(t)
	parts := looptest.Partitions(dev)
	disk := filepath.Base(dev)
	if out, err := exec.Command("blockdev", "--setro", dev).CombinedOutput(); err != nil {
		t.Fatalf("blockdev --setro: %v: %s", err, out)
	}
	s1 := mustSnapshot(t, disk)
	if s1.Disk != disk || s1.DiskSeq == 0 || s1.DiskSeq != blockdev.DiskSeq(disk) || !s1.ReadOnly ||
		strconv.FormatInt(s1.Size, 10) != looptest.Blockdev(t, "--getsize64", dev) || len(s1.Partitions) != len(parts) {
		t.Fatalf("snapshot %+v; blockdev --getsize64 %s", s1, looptest.Blockdev(t, "--getsize64", dev))
	}
	for i, p := range s1.Partitions {
		if "/dev/"+p.Name != parts[i] || !p.ReadOnly || strconv.FormatInt(p.Size, 10) != looptest.Blockdev(t, "--getsize64", parts[i]) {
			t.Errorf("partition %d: %+v", i+1, p)
		}
	}
	if c := s1.Changes(mustSnapshot(t, disk)); len(c) != 0 {
		t.Errorf("no change, yet: %q", c)
	}

	if out, err := exec.Command("blockdev", "--setrw", dev).CombinedOutput(); err != nil {
		t.Fatalf("blockdev --setrw: %v: %s", err, out)
	}
	s2 := mustSnapshot(t, disk)
	c := s1.Changes(s2)
	t.Logf("after blockdev --setrw %s: %q", dev, c)
	if !hasChange(c, "read-only flag of "+disk+" was cleared") {
		t.Errorf("Changes does not name the cleared flag of %s: %q", disk, c)
	}
	for _, p := range parts {
		if !hasChange(c, "read-only flag of "+filepath.Base(p)+" was cleared") {
			t.Errorf("Changes does not name the flag of %s, cleared with its disk's: %q", p, c)
		}
	}

	fd, err := unix.Open(parts[1], unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := blockdev.AlignedBuffer(4096, 4096)
	_, err = unix.Pwrite(fd, buf, 0)
	unix.Close(fd)
	if err != nil {
		t.Fatalf("write through %s: %v", parts[1], err)
	}
	c = s2.Changes(mustSnapshot(t, disk))
	t.Logf("after a 4 KiB write through %s: %q", parts[1], c)
	if !hasChange(c, "8 sectors", "written to "+disk+" ") || !hasChange(c, "8 sectors", "written to "+filepath.Base(parts[1])) {
		t.Errorf("Changes does not name 8 sectors written to %s and %s: %q", disk, parts[1], c)
	}
}

// TestSnapshotLoopNewMedium: another backing file in the same loop node
// (LOOP_CHANGE_FD, as a card reader gets a new card) is a different medium.
func TestSnapshotLoopNewMedium(t *testing.T) {
	looptest.RequireRoot(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	looptest.MakeImage(t, a, 8<<20)
	looptest.MakeImage(t, b, 8<<20)
	dev := looptest.Attach(t, a, looptest.Options{ReadOnly: true})
	disk := filepath.Base(dev)
	s1 := mustSnapshot(t, disk)

	f, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	node, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, node.Fd(), ioctlLOOPCHANGEFD, f.Fd()); e != 0 {
		t.Fatalf("LOOP_CHANGE_FD %s to %s: %v", dev, b, e)
	}
	if back, _ := os.ReadFile("/sys/block/" + disk + "/loop/backing_file"); strings.TrimSpace(string(back)) != b {
		t.Fatalf("%s is backed by %q after LOOP_CHANGE_FD, want %s", dev, back, b)
	}
	s2 := mustSnapshot(t, disk)
	c := s1.Changes(s2)
	t.Logf("after LOOP_CHANGE_FD: %q", c)
	if s2.DiskSeq == s1.DiskSeq || !hasChange(c, disk+" holds a different medium") {
		t.Errorf("diskseq %d then %d; Changes does not name the new medium: %q", s1.DiskSeq, s2.DiskSeq, c)
	}
}
