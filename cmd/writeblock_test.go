package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// attachClearRO attaches through looptest and clears the read-only flags
// before looptest detaches (the flag of a loop disk survives detaching).
func attachClearRO(t *testing.T, img string, o looptest.Options) string {
	t.Helper()
	dev := looptest.Attach(t, img, o)
	t.Cleanup(func() {
		for _, p := range append(looptest.Partitions(dev), dev) {
			if err := blockdev.SetReadOnly(p, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("clear read-only flag of %s: %v", p, err)
			}
		}
	})
	return dev
}

func partitionedDisk(t *testing.T) string {
	t.Helper()
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 32<<20, 512, 2)
	dev := attachClearRO(t, img, looptest.Options{Partscan: true})
	if len(looptest.Partitions(dev)) != 2 {
		t.Fatalf("%s: partitions %v", dev, looptest.Partitions(dev))
	}
	return dev
}

type statusJSON struct {
	Path       string `json:"path"`
	ReadOnly   bool   `json:"read_only"`
	Partitions []struct {
		Path     string `json:"path"`
		ReadOnly bool   `json:"read_only"`
	} `json:"partitions"`
	Mounts   []string `json:"mounts"`
	Holders  []string `json:"holders"`
	Since    *int64   `json:"sectors_written_since_protected"`
	Counters []string `json:"counters_compared"`
}

func statusOf(t *testing.T, state, dev string) (int, statusJSON, string) {
	t.Helper()
	code, out, errs := runCLI(t, "writeblock", "status", "--json", "--state-dir", state, dev)
	var list []statusJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("status --json: %v (%d objects)\n%s\n%s", err, len(list), out, errs)
	}
	return code, list[0], errs
}

// checkMatchesBlockdev compares status --json with blockdev --getro.
func checkMatchesBlockdev(t *testing.T, s statusJSON) {
	t.Helper()
	if want := looptest.Blockdev(t, "--getro", s.Path) == "1"; s.ReadOnly != want {
		t.Errorf("%s: read_only %v, blockdev --getro says %v", s.Path, s.ReadOnly, want)
	}
	for _, p := range s.Partitions {
		if want := looptest.Blockdev(t, "--getro", p.Path) == "1"; p.ReadOnly != want {
			t.Errorf("%s: read_only %v, blockdev --getro says %v", p.Path, p.ReadOnly, want)
		}
	}
}

func TestWriteblockOnStatusOff(t *testing.T) {
	dev := partitionedDisk(t)
	parts := looptest.Partitions(dev)
	state := t.TempDir()

	code, out, errs := runCLI(t, "writeblock", "on", "--state-dir", state, parts[1])
	if code != 0 {
		t.Fatalf("on: exit %d\n%s%s", code, out, errs)
	}
	for _, d := range append([]string{dev}, parts...) {
		if !strings.Contains(out, d) || looptest.Blockdev(t, "--getro", d) != "1" {
			t.Errorf("on %s: %s not in the table or not read-only:\n%s", parts[1], d, out)
		}
	}
	if strings.Count(out, "read-only (confirmed)") != 3 {
		t.Errorf("table:\n%s", out)
	}
	code, s, _ := statusOf(t, state, dev)
	if code != 0 || !s.ReadOnly || s.Since == nil || *s.Since != 0 {
		t.Errorf("status after on: exit %d, %+v", code, s)
	}
	checkMatchesBlockdev(t, s)

	// off refuses without --yes when stdin is not a terminal.
	code, _, errs = runCLI(t, "writeblock", "off", "--state-dir", state, dev)
	if code != 2 || !strings.Contains(errs, "hint: pass --yes") || looptest.Blockdev(t, "--getro", dev) != "1" {
		t.Errorf("off without --yes: exit %d, still ro %s\n%s", code, looptest.Blockdev(t, "--getro", dev), errs)
	}
	code, out, errs = runCLI(t, "writeblock", "off", "--yes", "--state-dir", state, dev)
	if code != 0 || strings.Count(out, "writable (confirmed)") != 3 {
		t.Fatalf("off --yes: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, dev+": 0 sectors written while protected since ") || !strings.Contains(out, "(protected by on; counters of ") {
		t.Errorf("off does not say what it measured (issue 13 #11):\n%s", out)
	}
	code, s, _ = statusOf(t, state, dev)
	if code != 0 || s.ReadOnly || s.Since != nil {
		t.Errorf("status after off: exit %d, %+v", code, s)
	}
	checkMatchesBlockdev(t, s)
}

func TestWriteblockBadInput(t *testing.T) {
	looptest.RequireRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f.img")
	if err := os.WriteFile(file, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	for _, args := range [][]string{
		{"on"}, {"on", filepath.Join(dir, "missing")}, {"on", file}, {"on", dir}, {"on", "/dev/null"},
		{"on", "/dev/loop9999p3"}, {"off", "--yes", file}, {"status", "/dev/null"}, {"status", filepath.Join(dir, "missing")},
		{"udev-rule", "--exclude", `x"y`}, {"watch", "extra"},
	} {
		code, out, errs := runCLI(t, append([]string{"writeblock", "--state-dir", state}, args...)...)
		if code != 2 || !strings.Contains(errs, "custodian: error:") || out != "" {
			t.Errorf("writeblock %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if _, err := os.Stat(state); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state directory created by refused commands: %v", err)
	}
}

// TestWriteblockMountedReadWrite: refused while an ext4 partition is
// mounted rw; with --force its writes show in status and in the report of
// an acquisition running at the time.
func TestWriteblockMountedReadWrite(t *testing.T) {
	dev := partitionedDisk(t)
	parts := looptest.Partitions(dev)
	looptest.Mkfs(t, parts[0])
	mnt := looptest.Mount(t, parts[0])
	state := t.TempDir()

	code, out, errs := runCLI(t, "writeblock", "on", "--state-dir", state, dev)
	if code != 1 || !strings.Contains(errs, mnt) || !strings.Contains(errs, "hint:") || !strings.Contains(errs, "--force") {
		t.Errorf("on with a rw mount: exit %d\n%s%s", code, out, errs)
	}
	if looptest.Blockdev(t, "--getro", dev) != "0" {
		t.Error("refused, but the disk is read-only")
	}
	code, out, errs = runCLI(t, "writeblock", "on", "--force", "--state-dir", state, dev)
	if code != 0 || !strings.Contains(errs, "warning") || !strings.Contains(errs, mnt) {
		t.Errorf("on --force: exit %d\n%s%s", code, out, errs)
	}

	// An acquisition while the mounted filesystem writes.
	write := func() {
		if err := os.WriteFile(filepath.Join(mnt, "late"), bytes.Repeat([]byte("y"), 256<<10), 0o644); err != nil {
			t.Error(err)
		}
		if out, err := exec.Command("sync", "-f", mnt).CombinedOutput(); err != nil {
			t.Errorf("sync: %v: %s", err, out)
		}
	}
	var once sync.Once
	a := acquire.New(dev, t.TempDir(), acquire.Options{Name: "ev", Format: "raw", Hashes: hashing.Set{hashing.SHA256},
		WriteBlock: true, AllowBusy: true,
		OnEvent: func(e report.Event) {
			if e.Kind == "writeblock" {
				once.Do(write)
			}
		}})
	r, err := a.Run(context.Background())
	if err == nil || r == nil || r.Source.SectorsWrittenDuring <= 0 || r.Status != report.StatusFailed {
		t.Errorf("acquire during writes: err %v, report %+v", err, r)
	} else {
		t.Logf("acquire: sectors_written_during %d, status %s, err %v", r.Source.SectorsWrittenDuring, r.Status, err)
	}

	code, s, errs := statusOf(t, state, dev)
	if code != 1 || s.Since == nil || *s.Since <= 0 || !strings.Contains(errs, "sectors written since protection began") {
		t.Errorf("status after writes: exit %d, %+v\n%s", code, s, errs)
	}
	checkMatchesBlockdev(t, s)
}

// writeThroughDisk writes 4 KiB of 0xAA through the disk node dev at byte
// offset off with dd oflag=direct, and checks with an O_DIRECT read that
// the bytes reached partition part at partOff.
func writeThroughDisk(t *testing.T, dev string, off int64, part string, partOff int64) {
	t.Helper()
	const n = 4096
	src := filepath.Join(t.TempDir(), "aa")
	if err := os.WriteFile(src, bytes.Repeat([]byte{0xAA}, n), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dd", "if="+src, "of="+dev, "bs=4096", "count=1", "seek="+strconv.FormatInt(off/n, 10),
		"oflag=direct", "conv=notrunc,fsync", "status=none").CombinedOutput()
	if err != nil {
		t.Fatalf("dd into %s at %d: %v: %s", dev, off, err, out)
	}
	d, err := blockdev.Open(part, blockdev.OpenOptions{Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := blockdev.AlignedBuffer(n, n)
	if _, err := d.ReadAt(buf, partOff); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, bytes.Repeat([]byte{0xAA}, n)) {
		t.Fatalf("the write through %s at %d did not reach %s at %d", dev, off, part, partOff)
	}
}

// TestWriteblockStatusPartitionOnlyDiskNodeWrite: after on --partition-only
// the disk stays writable, and a write through the disk node into the
// partition's sectors counts on the disk's counter only. status of the
// partition must report it (exit 1) and name the counters compared; a write
// through the sibling partition's own node must not count.
func TestWriteblockStatusPartitionOnlyDiskNodeWrite(t *testing.T) {
	dev := partitionedDisk(t)
	parts := looptest.Partitions(dev)
	state := t.TempDir()
	disk, p1, p2 := filepath.Base(dev), filepath.Base(parts[0]), filepath.Base(parts[1])

	code, out, errs := runCLI(t, "writeblock", "on", "--partition-only", "--state-dir", state, parts[0])
	if code != 0 {
		t.Fatalf("on --partition-only: exit %d\n%s%s", code, out, errs)
	}
	if looptest.Blockdev(t, "--getro", dev) != "0" || looptest.Blockdev(t, "--getro", parts[0]) != "1" {
		t.Fatalf("on --partition-only: disk ro %s, partition ro %s", looptest.Blockdev(t, "--getro", dev), looptest.Blockdev(t, "--getro", parts[0]))
	}
	code, s, errs := statusOf(t, state, parts[0])
	if code != 0 || s.Since == nil || *s.Since != 0 {
		t.Fatalf("status right after on: exit %d, %+v\n%s", code, s, errs)
	}
	if !cmp.Equal(s.Counters, []string{disk, p1, p2}) {
		t.Errorf("status right after on: counters compared %v, want %v", s.Counters, []string{disk, p1, p2})
	}

	// The sibling is not protected: writes through its own node are its
	// business and do not count for the protected partition.
	_, p2Len := looptest.PartitionLayout(32<<20, 512, 2, 2)
	writeThroughDisk(t, parts[1], 0, parts[1], 0)
	writeThroughDisk(t, parts[1], p2Len-4096, parts[1], p2Len-4096)
	if code, s, errs := statusOf(t, state, parts[0]); code != 0 || s.Since == nil || *s.Since != 0 {
		t.Errorf("status after writes through %s: exit %d, %+v\n%s", parts[1], code, s, errs)
	}

	// Through the disk node, at the partition's first sector.
	start, _ := looptest.PartitionLayout(32<<20, 512, 2, 1)
	writeThroughDisk(t, dev, start, parts[0], 0)
	code, s, errs = statusOf(t, state, parts[0])
	if code != 1 || s.Since == nil || *s.Since < 8 || !strings.Contains(errs, "sectors written since protection began") {
		t.Errorf("status after a write through the disk node into %s: exit %d, %+v\n%s", parts[0], code, s, errs)
	} else {
		t.Logf("status %s: %d sectors written since protected, counters %v", parts[0], *s.Since, s.Counters)
	}
	if !cmp.Equal(s.Counters, []string{disk, p1, p2}) || !strings.Contains(errs, "counters of "+disk+", "+p1) {
		t.Errorf("counters compared %v, stderr %q; want the disk's named", s.Counters, errs)
	}
	code, out, _ = runCLI(t, "writeblock", "status", "--state-dir", state, parts[0])
	if code != 1 || !strings.Contains(out, disk+"+"+p1+"+"+p2) || !strings.Contains(out, "COUNTERS COMPARED") {
		t.Errorf("status text: exit %d\n%s", code, out)
	}
	// The disk's own status: the protected partition's writes and the disk
	// node's, not the sibling's.
	if code, s, _ := statusOf(t, state, dev); code != 1 || s.Since == nil || *s.Since != 8 {
		t.Errorf("status of the disk: exit %d, %+v", code, s)
	}
}

// TestWriteblockStatusDiskFlagCleared: whole-disk protection, but the
// disk's flag is cleared for a while (blockdev --setrw): a write through the
// disk node into a partition, which keeps its own flag, must show in the
// partition's status.
func TestWriteblockStatusDiskFlagCleared(t *testing.T) {
	dev := partitionedDisk(t)
	parts := looptest.Partitions(dev)
	state := t.TempDir()
	if code, out, errs := runCLI(t, "writeblock", "on", "--state-dir", state, dev); code != 0 {
		t.Fatalf("on: exit %d\n%s%s", code, out, errs)
	}
	if out, err := exec.Command("blockdev", "--setrw", dev).CombinedOutput(); err != nil {
		t.Fatalf("blockdev --setrw: %v: %s", err, out)
	}
	start, _ := looptest.PartitionLayout(32<<20, 512, 2, 2)
	writeThroughDisk(t, dev, start+8192, parts[1], 8192)
	if out, err := exec.Command("blockdev", "--setro", dev).CombinedOutput(); err != nil {
		t.Fatalf("blockdev --setro: %v: %s", err, out)
	}
	code, s, errs := statusOf(t, state, parts[1])
	if code != 1 || s.Since == nil || *s.Since < 8 || len(s.Counters) != 3 || s.Counters[0] != filepath.Base(dev) {
		t.Errorf("status of %s after a write through the disk node: exit %d, %+v\n%s", parts[1], code, s, errs)
	}
	if code, s, _ := statusOf(t, state, dev); code != 1 || s.Since == nil || *s.Since < 8 || !cmp.Equal(s.Counters, []string{filepath.Base(dev)}) {
		t.Errorf("status of the disk: exit %d, %+v", code, s)
	}
}

// syncBuffer is a bytes.Buffer safe for the watch goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriteblockWatchJSON(t *testing.T) {
	looptest.RequireRoot(t)
	dir := t.TempDir()
	var out, errb syncBuffer
	g := &globalOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	opts := writeblockOptions{json: true, stateDir: filepath.Join(dir, "state"), interval: 50 * time.Millisecond,
		match: func(d blockdev.WatchDevice) bool {
			b, err := os.ReadFile("/sys/block/" + d.Disk + "/loop/backing_file")
			return err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), dir+"/")
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWriteblockWatch(ctx, g, opts) }()
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); !ok(out.String()); {
			if time.Now().After(deadline) {
				t.Fatalf("watch: no %s in:\n%s\nstderr: %s", what, out.String(), errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("ready", func(s string) bool { return strings.Contains(s, `"event":"ready"`) })
	img := filepath.Join(dir, "w.img")
	looptest.MakePartitionedImage(t, img, 8<<20, 512, 2)
	dev := attachClearRO(t, img, looptest.Options{Partscan: true})
	t.Cleanup(func() { cancel(); <-done })
	nodes := append([]string{dev}, looptest.Partitions(dev)...)
	for _, n := range nodes {
		waitFor("protected "+n, func(s string) bool { return strings.Contains(s, `"device":"`+n+`"`) })
		if looptest.Blockdev(t, "--getro", n) != "1" {
			t.Errorf("%s not read-only", n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch: %v", err)
	}
	done <- nil
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil || e["event"] == nil || e["time"] == nil {
			t.Errorf("not a JSON event line: %q (%v)", line, err)
		}
	}
}

func TestWriteblockUdevRule(t *testing.T) {
	code, out, errs := runCLI(t, "writeblock", "udev-rule", "--exclude", "vda*", "--exclude", "SERIAL1")
	if code != 0 || !strings.Contains(out, `KERNELS=="vda*"`) || !strings.Contains(out, `ENV{ID_SERIAL_SHORT}=="SERIAL1"`) || !strings.Contains(out, "--setro $devnode") {
		t.Errorf("udev-rule: exit %d\n%s%s", code, out, errs)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "61-custodian-writeblock.rules")
	// A restrictive umask must not make the rule unreadable for udevd's
	// tools, and an existing rule is replaced whole.
	if err := os.WriteFile(path, []byte("old rule\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o077)
	code, _, errs = runCLI(t, "writeblock", "udev-rule", "--install", "--path", path)
	syscall.Umask(old)
	b, err := os.ReadFile(path)
	if code != 0 || err != nil || !strings.Contains(string(b), "RUN+=") || strings.Contains(string(b), "old rule") {
		t.Errorf("--install: exit %d, %v\n%s", code, err, errs)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("installed rule mode: %v %v, want 0644", fi.Mode(), err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("left over files next to the rule: %v", es)
	}
	// A folder that does not exist: exit 1, nothing written.
	code, _, errs = runCLI(t, "writeblock", "udev-rule", "--install", "--path", filepath.Join(dir, "missing", "x.rules"))
	if code != 1 || !strings.Contains(errs, "install udev rule") {
		t.Errorf("--install into a missing folder: exit %d\n%s", code, errs)
	}
}

// TestUdevRuleWarnsSystemDisk: without an --exclude that matches it, the
// rule would make the disk holding / read-only at the next boot: a
// warning names it (issue 13 #12); a matching --exclude silences it.
func TestUdevRuleWarnsSystemDisk(t *testing.T) {
	root := rootDiskName(t)
	code, out, errs := runCLI(t, "writeblock", "udev-rule")
	if code != 0 || !strings.Contains(out, "RUN+=") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	want := "custodian: warning: no --exclude: the rule makes every block device read-only"
	if root != "" {
		want = "custodian: warning: no --exclude: the rule makes " + root + ", which holds /, read-only"
		if !strings.Contains(errs, "hint: add --exclude "+root) {
			t.Errorf("no hint:\n%s", errs)
		}
	}
	if !strings.Contains(errs, want) {
		t.Errorf("want %q:\n%s", want, errs)
	}
	if root == "" {
		return
	}
	if _, _, errs := runCLI(t, "writeblock", "udev-rule", "--exclude", "sdz"); !strings.Contains(errs, "no --exclude matches it: the rule makes "+root) {
		t.Errorf("non-matching --exclude:\n%s", errs)
	}
	if _, _, errs := runCLI(t, "writeblock", "udev-rule", "--exclude", root[:2]+"*"); errs != "" {
		t.Errorf("matching --exclude still warns:\n%s", errs)
	}
	var b strings.Builder
	warnSystemDisk(&b, nil, []string{"nvme0n1"})
	if !strings.Contains(b.String(), "makes nvme0n1, which holds /") {
		t.Errorf("%s", b.String())
	}
}
