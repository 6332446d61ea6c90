//go:build linux

package blockdev_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

// byIDLinks makes symbolic links to target as udev would in
// /dev/disk/by-id (there is no udev here): an absolute link, and a relative
// link to that link. It returns both.
func byIDLinks(t *testing.T, dir, name, target string) (abs, rel string) {
	t.Helper()
	byID := filepath.Join(dir, "by-id")
	byPath := filepath.Join(dir, "by-path")
	for _, d := range []string{byID, byPath} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	abs = filepath.Join(byID, name)
	rel = filepath.Join(byPath, name)
	if err := os.Symlink(target, abs); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "by-id", name), rel); err != nil {
		t.Fatal(err)
	}
	return abs, rel
}

// TestSymlinkToReadOnlySource reproduces read_only_before: false for an
// already read-only source named through /dev/disk/by-id/…: Inspect,
// ReadOnly, Protect and Protection.WasReadOnly must all see through the
// link to the kernel's node.
func TestSymlinkToReadOnlySource(t *testing.T) {
	looptest.RequireRoot(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "ro.img")
	looptest.MakePartitionedImage(t, img, 16<<20, 512, 1)
	dev := looptest.Attach(t, img, looptest.Options{ReadOnly: true, Partscan: true})
	parts := looptest.Partitions(dev)
	if len(parts) != 1 {
		t.Fatalf("%s: partitions %v", dev, parts)
	}
	link, rel := byIDLinks(t, dir, "usb-Evidence_Disk_0123", dev)
	partLink, _ := byIDLinks(t, filepath.Join(dir, "p"), "usb-Evidence_Disk_0123-part1", parts[0])

	for _, p := range []string{link, rel} {
		info, err := blockdev.Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Path != dev || info.GivenPath != p || info.Kind != blockdev.KindDisk || !info.ReadOnly || info.DiskName() != filepath.Base(dev) {
			t.Errorf("Inspect(%s): path %q given %q kind %s ro %t disk %q; want path %s, read-only", p,
				info.Path, info.GivenPath, info.Kind, info.ReadOnly, info.DiskName(), dev)
		}
		if ro, err := blockdev.ReadOnly(p); err != nil || !ro {
			t.Errorf("ReadOnly(%s) = %t, %v; want true", p, ro, err)
		}
	}
	pinfo, err := blockdev.Inspect(partLink)
	if err != nil {
		t.Fatal(err)
	}
	if pinfo.Path != parts[0] || pinfo.Kind != blockdev.KindPartition || pinfo.Parent != dev || pinfo.DiskName() != filepath.Base(dev) {
		t.Errorf("Inspect(%s): path %q kind %s parent %q", partLink, pinfo.Path, pinfo.Kind, pinfo.Parent)
	}

	pr, err := blockdev.Protect(link)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Restore()
	if pr.Disk != dev {
		t.Errorf("Protect(%s).Disk = %s, want %s", link, pr.Disk, dev)
	}
	for _, p := range []string{link, rel, dev, partLink, parts[0]} {
		if !pr.WasReadOnly(p) {
			t.Errorf("WasReadOnly(%s) = false for a device attached read-only (losetup -r)", p)
		}
	}
	if pr.WasReadOnly(img) || pr.WasReadOnly(filepath.Join(dir, "missing")) {
		t.Error("WasReadOnly is true for a path that names none of the protected devices")
	}
}

// TestSymlinkToWritableSource: the same through a link to a writable
// device: WasReadOnly is false, and Restore makes it writable again.
func TestSymlinkToWritableSource(t *testing.T) {
	looptest.RequireRoot(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "rw.img")
	looptest.MakeImage(t, img, 8<<20)
	dev, _ := attachWB(t, img, looptest.Options{})
	link, _ := byIDLinks(t, dir, "usb-Writable_0456", dev)
	pr, err := blockdev.Protect(link)
	if err != nil {
		t.Fatal(err)
	}
	if pr.WasReadOnly(link) || pr.WasReadOnly(dev) {
		t.Error("WasReadOnly is true for a device that was writable")
	}
	if ro, err := blockdev.ReadOnly(link); err != nil || !ro {
		t.Errorf("ReadOnly(%s) after Protect = %t, %v", link, ro, err)
	}
	if err := pr.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := looptest.Blockdev(t, "--getro", dev); got != "0" {
		t.Errorf("after Restore: blockdev --getro %s = %s", dev, got)
	}
}
