//go:build linux

package blockdev_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"golang.org/x/sys/unix"
)

// Block ioctls not in x/sys/unix: _IO(0x12, 119/125/127).
const (
	ioctlBLKDISCARD    = 0x1277
	ioctlBLKSECDISCARD = 0x127d
	ioctlBLKZEROOUT    = 0x127f
)

// attachWB attaches file through looptest and, before looptest detaches
// it, clears the read-only flag of the device and its partitions: the flag
// of a loop disk survives detaching and would make the next user of that
// loop device read-only. release may be called early; it runs once.
func attachWB(t *testing.T, file string, o looptest.Options) (dev string, release func()) {
	t.Helper()
	dev = looptest.Attach(t, file, o)
	var once sync.Once
	release = func() {
		once.Do(func() {
			for _, p := range append(looptest.Partitions(dev), dev) {
				if err := blockdev.SetReadOnly(p, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("clear read-only flag of %s: %v", p, err)
				}
			}
		})
	}
	t.Cleanup(release)
	return dev, release
}

// partitionedWB is a 32 MiB loop device with two partitions, the first
// ext4.
func partitionedWB(t *testing.T) (dev, img string) {
	t.Helper()
	looptest.RequireRoot(t)
	img = filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 32<<20, 512, 2)
	dev, _ = attachWB(t, img, looptest.Options{Partscan: true})
	parts := looptest.Partitions(dev)
	if len(parts) != 2 {
		t.Fatalf("%s: partitions %v", dev, parts)
	}
	looptest.Mkfs(t, parts[0])
	return dev, img
}

func errnoName(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		return unix.ErrnoName(en)
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestWriteBlockOnStopsWritePaths: after WriteBlockOn on a partitioned loop
// disk, every write path fails on the disk node and on a partition node,
// the bytes are unchanged and the counters did not move. The errno of each
// path is logged (go test -v -run TestWriteBlockOnStopsWritePaths ./blockdev).
func TestWriteBlockOnStopsWritePaths(t *testing.T) {
	dev, img := partitionedWB(t)
	parts := looptest.Partitions(dev)
	store := &blockdev.StateStore{Dir: t.TempDir()}
	sys := blockdev.DefaultSystem()

	res, err := sys.WriteBlockOn(parts[1], blockdev.WriteBlockOptions{State: store})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 3 || res.Disk != dev {
		t.Fatalf("result %+v", res)
	}
	for _, d := range append([]string{dev}, parts...) {
		if got := looptest.Blockdev(t, "--getro", d); got != "1" {
			t.Errorf("%s: blockdev --getro = %s after on of a partition", d, got)
		}
	}
	before := looptest.Sha256File(t, dev)
	beforeImg := looptest.Sha256File(t, img)

	buf := blockdev.AlignedBuffer(4096, 4096)
	for i := range buf {
		buf[i] = 0xAA
	}
	errnos := map[string]string{}
	for _, node := range []string{dev, parts[0]} {
		base := filepath.Base(node)
		// write(2) on an O_RDWR open.
		fd, err := unix.Open(node, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			errnos[base+" open(O_RDWR)"] = errnoName(err)
		} else {
			_, err = unix.Pwrite(fd, buf[:512], 4096)
			errnos[base+" write(2)"] = errnoName(err)
			if err == nil {
				t.Errorf("%s: write(2) succeeded", node)
			}
			r := [2]uint64{0, 1 << 20}
			for name, req := range map[string]uintptr{"BLKDISCARD": ioctlBLKDISCARD, "BLKZEROOUT": ioctlBLKZEROOUT, "BLKSECDISCARD": ioctlBLKSECDISCARD} {
				_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&r)))
				var err error
				if e != 0 {
					err = e
				}
				errnos[base+" "+name] = errnoName(err)
				if err == nil {
					t.Errorf("%s: %s succeeded", node, name)
				}
			}
			unix.Close(fd)
		}
		fd, err = unix.Open(node, unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err != nil {
			errnos[base+" open(O_RDWR|O_DIRECT)"] = errnoName(err)
		} else {
			_, err = unix.Pwrite(fd, buf, 8192)
			errnos[base+" O_DIRECT write"] = errnoName(err)
			if err == nil {
				t.Errorf("%s: O_DIRECT write succeeded", node)
			}
			unix.Close(fd)
		}
	}
	// mount read-write of the ext4 partition.
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-o", "rw", parts[0], mnt).CombinedOutput()
	if err == nil {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		rw := false
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == mnt {
				rw = strings.HasPrefix(f[5], "rw")
			}
		}
		errnos["mount -o rw "+filepath.Base(parts[0])] = fmt.Sprintf("succeeded read-only: %s", strings.TrimSpace(string(out)))
		if rw {
			t.Errorf("mount -o rw %s mounted read-write", parts[0])
		}
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	} else {
		errnos["mount -o rw "+filepath.Base(parts[0])] = "failed: " + strings.TrimSpace(string(out))
	}
	keys := make([]string, 0, len(errnos))
	for k := range errnos {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-40s %s", k, errnos[k])
	}
	if after := looptest.Sha256File(t, dev); after != before {
		t.Errorf("device bytes changed: %s -> %s", before, after)
	}
	if after := looptest.Sha256File(t, img); after != beforeImg {
		t.Errorf("image file changed: %s -> %s", beforeImg, after)
	}
	infos, err := sys.WriteBlockStatus([]string{dev}, store)
	if err != nil {
		t.Fatal(err)
	}
	if n := infos[0].SectorsWrittenSinceProtected; n == nil || *n != 0 {
		t.Errorf("sectors written since protected = %v, want 0", n)
	} else {
		t.Logf("sectors written since protected: %d", *n)
	}

	// off restores writes, and removes the record.
	if _, err := sys.WriteBlockOff(dev, blockdev.WriteBlockOptions{State: store}); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]string{dev}, parts...) {
		if got := looptest.Blockdev(t, "--getro", d); got != "0" {
			t.Errorf("%s: blockdev --getro = %s after off", d, got)
		}
	}
	fd, err := unix.Open(parts[1], unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(fd, buf[:512], 0); err != nil {
		t.Errorf("write after off: %v", err)
	}
	unix.Close(fd)
	if _, err := store.Load(filepath.Base(dev)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state record after off: %v", err)
	}
}

// TestWriteBlockOnMountedReadWrite reproduces the in-kernel writer: an ext4
// partition mounted read-write before the flag is set keeps writing.
func TestWriteBlockOnMountedReadWrite(t *testing.T) {
	dev, _ := partitionedWB(t)
	parts := looptest.Partitions(dev)
	mnt := looptest.Mount(t, parts[0])
	store := &blockdev.StateStore{Dir: t.TempDir()}
	sys := blockdev.DefaultSystem()

	res, err := sys.WriteBlockOn(dev, blockdev.WriteBlockOptions{State: store})
	var iu *blockdev.InUseError
	if !errors.As(err, &iu) || !errors.Is(err, blockdev.ErrInUse) {
		t.Fatalf("WriteBlockOn of a disk with a rw mount: %v", err)
	}
	if !strings.Contains(err.Error(), mnt) || len(res.Writers) != 1 || res.Writers[0].Device != parts[0] {
		t.Errorf("error %q / writers %+v do not name %s on %s", err, res.Writers, parts[0], mnt)
	}
	for _, d := range res.Devices {
		if d.IoctlRO || d.SysfsRO {
			t.Errorf("refused, but %s is read-only", d.Path)
		}
	}
	if names, _ := store.List(); len(names) != 0 {
		t.Errorf("refused, but state recorded: %v", names)
	}

	if _, err := sys.WriteBlockOn(dev, blockdev.WriteBlockOptions{State: store, Force: true}); err != nil {
		t.Fatalf("--force: %v", err)
	}
	// A watcher running meanwhile adopts the record and sees the write.
	events := startWatch(t, blockdev.WatchOptions{State: store, KernelLog: true,
		Match: func(d blockdev.WatchDevice) bool { return d.Disk == filepath.Base(dev) }})
	if err := os.WriteFile(filepath.Join(mnt, "written-after-ro"), []byte(strings.Repeat("x", 64<<10)), 0o644); err != nil {
		t.Fatalf("write on the mount: %v", err)
	}
	if out, err := exec.Command("sync", "-f", mnt).CombinedOutput(); err != nil {
		t.Fatalf("sync: %v: %s", err, out)
	}
	infos, err := sys.WriteBlockStatus([]string{dev}, store)
	if err != nil {
		t.Fatal(err)
	}
	n := infos[0].SectorsWrittenSinceProtected
	if n == nil || *n <= 0 {
		t.Fatalf("sectors written since protected = %v after a write through the rw mount", n)
	}
	t.Logf("in-kernel writer: %d sectors written since protected reached the read-only disk", *n)
	v := waitEvent(t, events, 3*time.Second, func(e blockdev.WatchEvent) bool {
		return e.Kind == blockdev.WatchViolation && e.Trigger == "counters" && e.Disk == filepath.Base(dev)
	})
	t.Logf("watch: %s %s: %s", v.Kind, v.Device, v.Message)
	// The kernel's warning is printed once per device per boot: log whether
	// it came, never require it.
	if k, ok := tryEvent(events, 300*time.Millisecond, func(e blockdev.WatchEvent) bool {
		return e.Kind == blockdev.WatchViolation && e.Trigger == "kmsg"
	}); ok {
		t.Logf("watch, kernel log: %s", k.Message)
	} else {
		t.Logf("watch, kernel log: no warning (already printed for this device since boot)")
	}
}

// TestWriteBlockBadInput: clear errors, nothing changed.
func TestWriteBlockBadInput(t *testing.T) {
	looptest.RequireRoot(t)
	dir := t.TempDir()
	store := &blockdev.StateStore{Dir: filepath.Join(dir, "state")}
	file := filepath.Join(dir, "file.img")
	if err := os.WriteFile(file, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	// A node of a partition whose disk does not exist: a device number no
	// disk has.
	ghost := filepath.Join(dir, "ghostp1")
	if err := unix.Mknod(ghost, unix.S_IFBLK|0o600, int(unix.Mkdev(259, 999999))); err != nil {
		t.Fatal(err)
	}
	sys := blockdev.DefaultSystem()
	for _, c := range []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "missing"), fs.ErrNotExist},
		{"/dev/loop9999p1", fs.ErrNotExist},
		{ghost, fs.ErrNotExist},
		{file, blockdev.ErrNotBlockDevice},
		{dir, blockdev.ErrUnsupportedType},
		{"/dev/null", blockdev.ErrUnsupportedType},
	} {
		for name, f := range map[string]func(string, blockdev.WriteBlockOptions) (*blockdev.WriteBlockResult, error){
			"on": sys.WriteBlockOn, "off": sys.WriteBlockOff,
		} {
			res, err := f(c.path, blockdev.WriteBlockOptions{State: store, Force: true})
			if !errors.Is(err, c.want) || res != nil {
				t.Errorf("%s %s: %v (result %v), want %v", name, c.path, err, res, c.want)
			}
		}
	}
	if _, err := os.Stat(store.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state directory created: %v", err)
	}
}
