package faultdisk_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

// aligned returns n bytes aligned to 4096, as O_DIRECT wants.
func aligned(n int) []byte {
	b := make([]byte, n+4096)
	k := int(uintptr(unsafe.Pointer(&b[0])) % 4096)
	if k != 0 {
		k = 4096 - k
	}
	return b[k : k+n]
}

func openDirect(t *testing.T, dev string) *os.File {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFileContentAndFaults(t *testing.T) {
	o := faultdisk.Options{
		Size: 1 << 20,
		Bad:  []faultdisk.Range{{Offset: 5000, Length: 10}},
	}
	d := faultdisk.Mount(t, o)
	want := o.Image()
	f, err := os.Open(d.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != o.Size {
		t.Fatalf("stat: %v, %v; want size %d", fi, err, o.Size)
	}
	p := make([]byte, 4096)
	if _, err := f.ReadAt(p, 0); err != nil || !bytes.Equal(p, want[:4096]) {
		t.Fatalf("read [0,4096): %v, equal %v", err, bytes.Equal(p, want[:4096]))
	}
	if _, err := f.ReadAt(p, 4096); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read [4096,8192) over the bad range: %v, want EIO", err)
	}
	if _, err := f.ReadAt(p[:4], 5010); err != nil || !bytes.Equal(p[:4], want[5010:5014]) {
		t.Fatalf("read just after the bad range: %v", err)
	}
	if reads, failed := d.ReadsOf(faultdisk.Range{Offset: 5000, Length: 10}); reads != 1 || failed != 1 {
		t.Errorf("ReadsOf(bad) = %d reads, %d failed; want 1, 1", reads, failed)
	}
	// Writes are refused.
	if _, err := os.OpenFile(d.File, os.O_RDWR, 0); err == nil {
		t.Error("opened the FUSE file read-write")
	}
}

func TestData(t *testing.T) {
	data := bytes.Repeat([]byte("custodian"), 1000)
	d := faultdisk.Mount(t, faultdisk.Options{Data: data})
	got, err := os.ReadFile(d.File)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile: %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, data))
	}
}

// TestDirectReadsExact checks what the acquire tests rely on: O_DIRECT
// reads of the loop device reach FUSE as exactly the requested range and
// fail exactly for the sectors that overlap a bad range, for 512-byte and
// 4096-byte logical sectors.
func TestDirectReadsExact(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		t.Run(map[int]string{512: "512", 4096: "4096"}[ss], func(t *testing.T) {
			bad := faultdisk.Range{Offset: 64*1024 + 1536, Length: 512} // inside the 4K sector at 64 KiB
			o := faultdisk.Options{Size: 256 << 10, Content: faultdisk.Pattern(7), Bad: []faultdisk.Range{bad}}
			d := faultdisk.Device(t, o, ss)
			if got := looptest.Blockdev(t, "--getss", d.Dev); got != map[int]string{512: "512", 4096: "4096"}[ss] {
				t.Fatalf("logical sector size %s, want %d", got, ss)
			}
			want := o.Image()
			f := openDirect(t, d.Dev)
			p := aligned(ss)
			var failed []int64
			d.ResetReads()
			for off := int64(0); off < o.Size; off += int64(ss) {
				_, err := f.ReadAt(p, off)
				switch {
				case errors.Is(err, syscall.EIO):
					failed = append(failed, off)
				case err != nil:
					t.Fatalf("read at %d: %v", off, err)
				case !bytes.Equal(p, want[off:off+int64(ss)]):
					t.Fatalf("sector at %d: wrong content", off)
				}
			}
			wantFailed := []int64{bad.Offset / int64(ss) * int64(ss)}
			if len(failed) != 1 || failed[0] != wantFailed[0] {
				t.Errorf("failed sectors at %v, want %v", failed, wantFailed)
			}
			// Each O_DIRECT read is one FUSE read of the same range
			// (the kernel may retry a failed request; it never widens it).
			for _, r := range d.Reads() {
				if r.Length != int64(ss) || r.Offset%int64(ss) != 0 {
					t.Errorf("FUSE read %+v for %d-byte O_DIRECT reads", r, ss)
				}
			}
			reads, fails := d.ReadsOf(bad)
			t.Logf("%d-byte sectors: %d O_DIRECT reads gave %d FUSE reads; the bad sector was read %d times (%d failed)",
				ss, o.Size/int64(ss), len(d.Reads()), reads, fails)
		})
	}
}

// TestBufferedReadsWiden documents why narrowing needs O_DIRECT: a
// buffered read of a good sector near a bad one fails too.
func TestBufferedReadsWiden(t *testing.T) {
	bad := faultdisk.Range{Offset: 1 << 20, Length: 512}
	o := faultdisk.Options{Size: 4 << 20, Bad: []faultdisk.Range{bad}}
	d := faultdisk.Device(t, o, 0)
	f, err := os.Open(d.Dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, 512)
	nbad := 0
	for off := int64(0); off < o.Size; off += 512 {
		if _, err := f.ReadAt(p, off); err != nil {
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("read at %d: %v", off, err)
			}
			nbad++
		}
	}
	if nbad < 1 {
		t.Fatal("the bad sector read fine through the page cache")
	}
	t.Logf("buffered 512-byte reads: %d sectors failed for 1 bad sector; %d FUSE reads failed", nbad, d.Failures())
}

func TestFlaky(t *testing.T) {
	fl := faultdisk.Flaky{Range: faultdisk.Range{Offset: 8192, Length: 512}, Failures: 2}
	o := faultdisk.Options{Size: 64 << 10, Flaky: []faultdisk.Flaky{fl}}
	d := faultdisk.Device(t, o, 512)
	f := openDirect(t, d.Dev)
	p := aligned(512)
	var errs []error
	for range 4 {
		_, err := f.ReadAt(p, fl.Offset)
		errs = append(errs, err)
	}
	if !errors.Is(errs[0], syscall.EIO) || !errors.Is(errs[1], syscall.EIO) || errs[2] != nil || errs[3] != nil {
		t.Fatalf("reads of a sector failing twice: %v", errs)
	}
	if !bytes.Equal(p, o.Image()[fl.Offset:fl.Offset+512]) {
		t.Error("recovered sector has the wrong content")
	}
	if _, failed := d.ReadsOf(fl.Range); failed != 2 {
		t.Errorf("%d failed FUSE reads, want 2", failed)
	}
}

func TestDelay(t *testing.T) {
	o := faultdisk.Options{Size: 64 << 10, Delay: 20 * time.Millisecond}
	d := faultdisk.Device(t, o, 512)
	f := openDirect(t, d.Dev)
	start := time.Now()
	if _, err := f.ReadAt(aligned(4096), 0); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < o.Delay {
		t.Errorf("read took %v, want at least %v", el, o.Delay)
	}
}

// TestRate: 2 MiB at 4 MiB/s take about half a second, whether read in one
// request or in several at once (the rate is the medium's, not a read's).
func TestRate(t *testing.T) {
	o := faultdisk.Options{Size: 2 << 20, Rate: 4 << 20}
	d := faultdisk.Device(t, o, 512)
	f := openDirect(t, d.Dev)
	start := time.Now()
	done := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := f.ReadAt(aligned(512<<10), int64(i)*512<<10)
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 450*time.Millisecond || el > 3*time.Second {
		t.Errorf("2 MiB at 4 MiB/s took %v, want about 500ms", el)
	}
}

// TestLoopDirectIOSetting records how the loop driver's own --direct-io
// setting behaves over a FUSE file: Device uses the default (off), which is
// enough because FOPEN_DIRECT_IO already keeps FUSE uncached.
func TestLoopDirectIOSetting(t *testing.T) {
	bad := faultdisk.Range{Offset: 4096, Length: 512}
	o := faultdisk.Options{Size: 64 << 10, Bad: []faultdisk.Range{bad}}
	d := faultdisk.Mount(t, o)
	out, err := exec.Command("losetup", "-f", "--show", "-r", "--direct-io=on", d.File).CombinedOutput()
	if err != nil {
		t.Logf("losetup --direct-io=on: %v: %s", err, out)
		return
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { looptest.Detach(t, dev) })
	dio, _ := os.ReadFile("/sys/block/" + strings.TrimPrefix(dev, "/dev/") + "/loop/dio")
	f := openDirect(t, dev)
	p := aligned(512)
	_, err1 := f.ReadAt(p, bad.Offset)
	_, err2 := f.ReadAt(p, bad.Offset+512)
	t.Logf("losetup --direct-io=on over FUSE: loop/dio=%s; bad sector: %v; next sector: %v",
		strings.TrimSpace(string(dio)), err1, err2)
	if !errors.Is(err1, syscall.EIO) || err2 != nil {
		t.Errorf("with --direct-io=on the failure is not sector-exact: %v, %v", err1, err2)
	}
}

// TestDeadFromAndLift: with DeadFrom every read reaching that offset fails
// (O_DIRECT, so sector-exact) until SetDeadFrom(0); SetBad changes the bad
// ranges of a mounted disk; FailDelay slows failed reads only.
func TestDeadFromAndLift(t *testing.T) {
	o := faultdisk.Options{Size: 256 << 10, Content: faultdisk.Pattern(1), DeadFrom: 64<<10 + 512, FailDelay: 30 * time.Millisecond}
	d := faultdisk.Device(t, o, 512)
	f := openDirect(t, d.Dev)
	p := aligned(512)
	want := o.Image()
	if _, err := f.ReadAt(p, 64<<10); err != nil || !bytes.Equal(p, want[64<<10:64<<10+512]) {
		t.Fatalf("sector before DeadFrom: %v", err)
	}
	start := time.Now()
	for _, off := range []int64{64<<10 + 512, 200 << 10} {
		if _, err := f.ReadAt(p, off); !errors.Is(err, syscall.EIO) {
			t.Fatalf("read at %d past DeadFrom: %v, want EIO", off, err)
		}
	}
	if el := time.Since(start); el < 2*o.FailDelay {
		t.Errorf("two failed reads took %v, want at least %v", el, 2*o.FailDelay)
	}
	d.SetDeadFrom(0)
	if _, err := f.ReadAt(p, 200<<10); err != nil || !bytes.Equal(p, want[200<<10:200<<10+512]) {
		t.Fatalf("read after SetDeadFrom(0): %v", err)
	}
	d.SetBad([]faultdisk.Range{{Offset: 4096, Length: 1}})
	if _, err := f.ReadAt(p, 4096); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a range made bad with SetBad: %v, want EIO", err)
	}
	if _, err := f.ReadAt(p, 4096+512); err != nil {
		t.Fatalf("read next to it: %v", err)
	}
}
