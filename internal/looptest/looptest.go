// Package looptest is the shared test kit for tests that need real block
// devices: it attaches files to loop devices, writes partition tables into
// image files, and always detaches what it attached, by the device's own
// name, also when the test fails. It never touches devices it did not create
// (no `losetup -D`).
//
// Tests that use it need root and the util-linux tools. Without them they
// skip, except under CI=true, where a skip would hide a missing environment
// and is turned into a failure.
package looptest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options says how to attach a loop device.
type Options struct {
	// ReadOnly attaches with `losetup -r`.
	ReadOnly bool
	// SectorSize, when not 0, is passed as `--sector-size N` (4096 gives a
	// 4Kn device).
	SectorSize int
	// Partscan attaches with `-P` and then makes sure the partition nodes
	// exist (no udev runs here, so `partx -a` adds them when needed).
	Partscan bool
}

// RequireRoot skips t unless it runs as root with losetup available. Under
// CI=true it fails instead of skipping.
func RequireRoot(t testing.TB) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "needs root"
	default:
		if _, err := exec.LookPath("losetup"); err != nil {
			why = "needs losetup (util-linux)"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a skip here would hide a broken test environment)", why)
	}
	t.Skip(why)
}

// RequireTool skips (or fails under CI=true) when a command is not on PATH.
func RequireTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("needs %s (apt-get install %s)", name, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// losetupMu serialises `losetup -f` within one test binary: two parallel
// tests asking for the first free device at once may race for the same node.
// (The kernel's LOOP_CTL_GET_FREE plus LOOP_CONFIGURE is still atomic per
// device; losetup retries on EBUSY, so other processes are not a problem.)
var losetupMu sync.Mutex

// Attach attaches file to a free loop device and returns its path
// (/dev/loopN). The device is detached in t.Cleanup. With o.Partscan it
// waits until the partition nodes the table describes exist.
func Attach(t testing.TB, file string, o Options) string {
	t.Helper()
	RequireRoot(t)
	args := []string{"-f", "--show"}
	if o.ReadOnly {
		args = append(args, "-r")
	}
	if o.SectorSize != 0 {
		args = append(args, "--sector-size", strconv.Itoa(o.SectorSize))
	}
	if o.Partscan {
		args = append(args, "-P")
	}
	args = append(args, file)
	losetupMu.Lock()
	out, err := exec.Command("losetup", args...).CombinedOutput()
	losetupMu.Unlock()
	if err != nil {
		t.Fatalf("losetup %s: %v: %s", strings.Join(args, " "), err, out)
	}
	dev := strings.TrimSpace(string(out))
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("losetup printed %q, not a loop device", dev)
	}
	t.Cleanup(func() { Detach(t, dev) })
	if o.Partscan {
		waitPartitions(t, dev)
	}
	return dev
}

// Detach detaches dev (a device this test attached), retrying briefly while
// it is busy. Failures are reported with t.Errorf.
func Detach(t testing.TB, dev string) {
	t.Helper()
	var out []byte
	var err error
	for i := 0; i < 50; i++ {
		out, err = exec.Command("losetup", "-d", dev).CombinedOutput()
		if err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("losetup -d %s: %v: %s", dev, err, out)
}

// Partitions returns the partition nodes of dev the kernel knows, in order
// (/dev/loopNp1, …), from sysfs.
func Partitions(dev string) []string {
	name := filepath.Base(dev)
	var parts []string
	for k := 1; ; k++ {
		p := fmt.Sprintf("%sp%d", name, k)
		if _, err := os.Stat(filepath.Join("/sys/block", name, p)); err != nil {
			return parts
		}
		parts = append(parts, "/dev/"+p)
	}
}

// waitPartitions makes sure the partitions in dev's table have sysfs entries
// and device nodes. devtmpfs creates the nodes; when the kernel's own scan
// did not add the partitions, `partx -a` does.
func waitPartitions(t testing.TB, dev string) {
	t.Helper()
	want := tableCount(t, dev)
	if want == 0 {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	var partxOut []byte
	for i := 0; ; i++ {
		parts := Partitions(dev)
		if len(parts) >= want && nodesExist(parts) {
			return
		}
		if time.Now().After(deadline) {
			pp, _ := os.ReadFile("/proc/partitions")
			t.Fatalf("%s: partitions did not appear (want %d, have %v); last partx -a: %s; /proc/partitions:\n%s", dev, want, parts, partxOut, pp)
		}
		if len(parts) < want && i%5 == 0 {
			// partx -a fails with "error adding partition" for ones the
			// kernel already has, and may race the kernel's own scan;
			// the loop checks the outcome instead and retries.
			partxOut, _ = exec.Command("partx", "-a", dev).CombinedOutput()
			continue
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nodesExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// tableCount returns how many partitions dev's table declares (0 without a
// table).
func tableCount(t testing.TB, dev string) int {
	t.Helper()
	out, err := exec.Command("partx", "-g", "-o", "NR", dev).Output()
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

// MakeImage creates a sparse file of size bytes.
func MakeImage(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// MakePartitionedImage creates a sparse image file of size bytes with an MBR
// (DOS) partition table of parts (1 to 4) Linux partitions of equal size,
// in units of sectorSize-byte sectors (512 or 4096: attach the file with the
// same --sector-size). The first partition starts at 1 MiB, each is a whole
// number of MiB.
//
// The table is written here rather than by sfdisk: sfdisk on a regular file
// always assumes 512-byte sectors and silently rescales a 4096-byte script,
// which gives a table a 4Kn loop device reads as partitions beyond its end.
func MakePartitionedImage(t testing.TB, path string, size int64, sectorSize int, parts int) {
	t.Helper()
	if sectorSize == 0 {
		sectorSize = 512
	}
	if parts < 1 || parts > 4 {
		t.Fatalf("MakePartitionedImage: %d partitions; 1 to 4 are supported", parts)
	}
	ss := int64(sectorSize)
	mib := int64(1<<20) / ss
	first := mib
	each := (size/ss - first) / int64(parts)
	each -= each % mib
	if each <= 0 {
		t.Fatalf("MakePartitionedImage: %d bytes too small for %d partitions", size, parts)
	}
	mbr := make([]byte, 512)
	binary.LittleEndian.PutUint32(mbr[440:], 0x6375_7374) // disk identifier
	for i := 0; i < parts; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		copy(e[1:4], []byte{0xfe, 0xff, 0xff}) // CHS: use LBA
		e[4] = 0x83                            // Linux
		copy(e[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(e[8:], uint32(first+int64(i)*each))
		binary.LittleEndian.PutUint32(e[12:], uint32(each))
	}
	mbr[510], mbr[511] = 0x55, 0xaa
	MakeImage(t, path, size)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// PartitionLayout returns the byte offset and length of partition k (1-based)
// of an image made by MakePartitionedImage with the same arguments.
func PartitionLayout(size int64, sectorSize, parts, k int) (start, length int64) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	ss := int64(sectorSize)
	mib := int64(1<<20) / ss
	each := (size/ss - mib) / int64(parts)
	each -= each % mib
	return (mib + int64(k-1)*each) * ss, each * ss
}

// Mkfs runs mkfs.ext4 -q on dev (a device or image file).
func Mkfs(t testing.TB, dev string) {
	t.Helper()
	RequireTool(t, "mkfs.ext4", "e2fsprogs")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", dev, err, out)
	}
}

// Mount mounts dev on a new directory under t.TempDir() and returns it. It
// is unmounted in cleanup (registered after the caller's Attach cleanup, so
// it runs before the detach).
func Mount(t testing.TB, dev string, opts ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt point") // a space, to exercise \040
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	args = append(args, dev, dir)
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Sha256File returns the hex SHA-256 of the file's contents.
func Sha256File(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("hash %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Blockdev runs blockdev(8) with one query flag (e.g. "--getsize64") on dev
// and returns its trimmed output, as the reference for our own ioctls.
func Blockdev(t testing.TB, flag, dev string) string {
	t.Helper()
	out, err := exec.Command("blockdev", flag, dev).CombinedOutput()
	if err != nil {
		t.Fatalf("blockdev %s %s: %v: %s", flag, dev, err, out)
	}
	return strings.TrimSpace(string(out))
}
