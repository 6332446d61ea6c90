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
	Mounts  []string `json:"mounts"`
	Holders []string `json:"holders"`
	Since   *int64   `json:"sectors_written_since_protected"`
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
