package acquire

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

var rereadSet = hashing.Set{hashing.MD5, hashing.SHA256}

func sumsOf(t *testing.T, data []byte) hashing.Sums {
	t.Helper()
	s, _, err := hashing.SumReader(t.Context(), bytes.NewReader(data), rereadSet, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRereadSourceRegularFile: a file of any length (none, one byte, not a
// whole sector) is re-read whole and hashed as it is.
func TestRereadSourceRegularFile(t *testing.T) {
	for _, size := range []int64{0, 1, 4096, 5<<20 + 123} {
		src, data := makeSource(t, size)
		r, err := RereadSource(t.Context(), src, size, nil, 0, rereadSet, nil)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if r.N != size || len(r.Unreadable) != 0 {
			t.Errorf("size %d: hashed %d bytes, unreadable %v", size, r.N, r.Unreadable)
		}
		if d := cmp.Diff(sumsOf(t, data), r.Sums); d != "" {
			t.Errorf("size %d: hashes differ from the file's (-want +got):\n%s", size, d)
		}
	}
}

// TestRereadSourceReadsTheMedium: verify --source re-reads a block device
// from the device even when its pages are cached: the block layer's
// sectors-read counter rises by the whole device.
func TestRereadSourceReadsTheMedium(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakeImage(t, img, 8<<20)
	fillImage(t, img, 0, 3)
	dev := looptest.Attach(t, img, looptest.Options{ReadOnly: true})
	// Read the device through a descriptor that stays open: that fills its
	// page cache and keeps it (the kernel drops a block device's cache when
	// its last opener closes it).
	warm, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	want, err := io.ReadAll(warm)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(dev, "/dev/")
	before, err := blockdev.WriteStats(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RereadSource(t.Context(), dev, int64(len(want)), nil, 0, rereadSet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sumsOf(t, want), r.Sums); d != "" {
		t.Fatalf("re-read differs from the device (-want +got):\n%s", d)
	}
	after, err := blockdev.WriteStats(name)
	if err != nil {
		t.Fatal(err)
	}
	if read := after.SectorsRead - before.SectorsRead; read < 8<<20/512 {
		t.Errorf("the re-read reached the device for %d sectors of %d: it was served from the page cache", read, 8<<20/512)
	}
}
