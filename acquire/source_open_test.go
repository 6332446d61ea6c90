package acquire

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

// readAllSmall reads r with an odd, small buffer, as a hasher might.
func readAllSmall(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 12345)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenSourceRegularFile(t *testing.T) {
	for _, size := range []int64{0, 1, 4096, 5<<20 + 123} {
		src, data := makeSource(t, size)
		r, err := OpenSource(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAllSmall(t, r); !bytes.Equal(got, data) {
			t.Errorf("size %d: read %d bytes that differ from the file", size, len(got))
		}
		r.Close()
	}
}

// TestOpenSourceReadsTheMedium: the re-read of a block device reaches the
// device even when its pages are cached: the block layer's sectors-read
// counter rises by the whole device.
func TestOpenSourceReadsTheMedium(t *testing.T) {
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
	r, err := OpenSource(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readAllSmall(t, r); !bytes.Equal(got, want) {
		t.Fatal("re-read differs from the device")
	}
	after, err := blockdev.WriteStats(name)
	if err != nil {
		t.Fatal(err)
	}
	if read := after.SectorsRead - before.SectorsRead; read < 8<<20/512 {
		t.Errorf("the re-read reached the device for %d sectors of %d: it was served from the page cache", read, 8<<20/512)
	}
}
