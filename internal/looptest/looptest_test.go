package looptest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestAttachPartitioned(t *testing.T) {
	RequireRoot(t)
	for _, ss := range []int{512, 4096} {
		img := filepath.Join(t.TempDir(), "disk.img")
		MakePartitionedImage(t, img, 16<<20, ss, 2)
		dev := Attach(t, img, Options{SectorSize: ss, Partscan: true})
		parts := Partitions(dev)
		if len(parts) != 2 {
			t.Fatalf("sector size %d: partitions %v, want 2", ss, parts)
		}
		if got := Blockdev(t, "--getss", dev); got != map[int]string{512: "512", 4096: "4096"}[ss] {
			t.Errorf("--getss %s = %s", dev, got)
		}
		for _, p := range parts {
			if _, err := os.Stat(p); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestAttachReadOnly(t *testing.T) {
	RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	MakeImage(t, img, 1<<20)
	dev := Attach(t, img, Options{ReadOnly: true})
	if got := Blockdev(t, "--getro", dev); got != "1" {
		t.Errorf("--getro %s = %s, want 1", dev, got)
	}
}

func TestPartitionLayoutMatchesKernel(t *testing.T) {
	RequireRoot(t)
	for _, ss := range []int{512, 4096} {
		img := filepath.Join(t.TempDir(), "disk.img")
		MakePartitionedImage(t, img, 16<<20, ss, 2)
		dev := Attach(t, img, Options{SectorSize: ss, Partscan: true})
		for k, p := range Partitions(dev) {
			_, length := PartitionLayout(16<<20, ss, 2, k+1)
			if got, want := Blockdev(t, "--getsize64", p), strconv.FormatInt(length, 10); got != want {
				t.Errorf("sector size %d: %s size %s, want %s", ss, p, got, want)
			}
		}
	}
}
