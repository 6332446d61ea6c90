package acquire

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/custodian-forensics/custodian/internal/looptest"
)

// folderDigest lists every file of dir with its size, mode and sha256: two
// equal digests mean nothing in the folder changed.
func folderDigest(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, _ := os.Lstat(filepath.Join(dir, e.Name()))
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		sum := sha256.Sum256(data)
		b.WriteString(e.Name() + " " + fi.Mode().String() + " " + hex.EncodeToString(sum[:8]) + "\n")
	}
	return b.String()
}

// interrupted runs an acquisition of src into dir and cancels it once
// stop bytes are imaged, leaving a journal with a checkpoint.
func interrupted(t testing.TB, src, dir string, stop int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := testOptions()
	o.SegmentSize, o.CheckpointEvery = 100_000, 64<<10
	a := New(src, dir, o)
	a.afterRead = func(off int64) {
		if off >= stop {
			cancel()
		}
	}
	if _, err := a.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
}

func resumeOptions() Options {
	o := testOptions()
	o.SegmentSize, o.CheckpointEvery, o.Resume = 100_000, 64<<10, true
	return o
}

// TestResumeRefusals: a resume whose kept files do not fit the journal, or
// whose source is not the one imaged, is refused with a usage error (exit
// 2), writes no report and leaves every file as it was. Each case was
// accepted before: the forged folder produced a complete report over bytes
// never read from the source.
func TestResumeRefusals(t *testing.T) {
	const size = 600_000
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir, src string) string // returns the source to resume from
		want   string
	}{
		{"kept segment changed", func(t *testing.T, dir, src string) string {
			p := filepath.Join(dir, "img.002.partial")
			os.Chmod(p, 0o640)
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt([]byte{0xff, 0x00, 0xff}, 500)
			f.Close()
			return src
		}, "differs from the journal"},
		{"kept segment truncated", func(t *testing.T, dir, src string) string {
			os.Truncate(filepath.Join(dir, "img.001.partial"), 99_000)
			return src
		}, "img.001.partial has 99000 bytes"},
		{"segment name in the journal leaves the folder", func(t *testing.T, dir, src string) string {
			rewriteJournal(t, dir, func(s string) string { return strings.Replace(s, `"img.001"`, `"../rootonly/evil.sh"`, 1) })
			return src
		}, "inconsistent"},
		{"symlink planted as the open segment", func(t *testing.T, dir, src string) string {
			victim := filepath.Join(t.TempDir(), "root-only")
			os.WriteFile(victim, []byte("do not touch"), 0o600)
			open := openSegment(t, dir)
			os.Remove(filepath.Join(dir, open))
			os.Symlink(victim, filepath.Join(dir, open))
			t.Cleanup(func() {
				if b, _ := os.ReadFile(victim); string(b) != "do not touch" {
					t.Error("the resume wrote through the planted link")
				}
			})
			return src
		}, "symbolic link"},
		{"another source of the same size", func(t *testing.T, dir, src string) string {
			other, _ := makeSource(t, size+1) // other content ...
			os.Truncate(other, size)          // ... same size
			return other
		}, "not the medium that was imaged"},
		{"a forged folder: segments and journal of another source", func(t *testing.T, dir, src string) string {
			// Everything consistent with itself (the hash states are those
			// of the planted bytes), but the bytes never came from src.
			other, _ := makeSource(t, size+1)
			os.Truncate(other, size)
			forged := filepath.Join(t.TempDir(), "forged")
			interrupted(t, other, forged, 300_000)
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			entries, _ = os.ReadDir(forged)
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(forged, e.Name()))
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o640)
			}
			rewriteJournal(t, dir, func(s string) string { return strings.ReplaceAll(s, other, src) })
			return src
		}, "not the medium that was imaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := makeSource(t, size)
			dir := filepath.Join(t.TempDir(), "ev")
			interrupted(t, src, dir, 300_000)
			from := tc.tamper(t, dir, src)
			before := folderDigest(t, dir)
			r, err := New(from, dir, resumeOptions()).Run(context.Background())
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resume: %v, want a refusal (ErrUsage) saying %q", err, tc.want)
			}
			if r != nil {
				t.Errorf("a refused resume returned a report: %+v", r.Status)
			}
			if after := folderDigest(t, dir); after != before {
				t.Errorf("the refused resume changed the folder:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func rewriteJournal(t *testing.T, dir string, edit func(string) string) {
	t.Helper()
	p := filepath.Join(dir, "img.journal")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(b))), 0o640); err != nil {
		t.Fatal(err)
	}
}

// openSegment is the partial segment the journal's checkpoint has open.
func openSegment(t *testing.T, dir string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "img.journal"))
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Closed []struct{} `json:"closed"`
	}
	json.Unmarshal(j.Check.Writer, &st)
	return "img.00" + string(rune('1'+len(st.Closed))) + ".partial"
}

// TestResumeBlockDeviceProof: on a block device, a journal without a
// continuity record is refused; the same medium re-attached (a new diskseq,
// so the counters prove nothing) resumes because samples of the source
// match the kept image; another medium of the same size in the same loop
// node is refused. Raw and EWF alike: EWF's kept image is read back from
// the E01 files as they stand at the checkpoint (it was refused outright
// before, having no reader of a partial set).
func TestResumeBlockDeviceProof(t *testing.T) {
	looptest.RequireRoot(t)
	mk := func(seed uint64) string {
		img := filepath.Join(t.TempDir(), "disk.img")
		looptest.MakeImage(t, img, 2<<20)
		fillImage(t, img, 0, seed)
		return img
	}
	reattach := func(t *testing.T, dev, img, dir string) string {
		// As a re-plugged USB disk that comes back as another /dev/sdX:
		// another node and diskseq, the same bytes.
		return looptest.Attach(t, img, looptest.Options{ReadOnly: true})
	}
	otherMedium := func(t *testing.T, dev, img, dir string) string {
		other := mk(99)
		f, _ := os.Open(other)
		defer f.Close()
		node, _ := os.Open(dev)
		defer node.Close()
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, node.Fd(), 0x4c06 /* LOOP_CHANGE_FD */, f.Fd()); e != 0 {
			t.Fatalf("LOOP_CHANGE_FD: %v", e)
		}
		return dev
	}
	for _, tc := range []struct {
		name   string
		act    func(t *testing.T, dev, img, dir string) string // returns the device to resume from
		want   string                                          // "" = the resume succeeds
		format string                                          // "" = raw
	}{
		{"journal without continuity", func(t *testing.T, dev, img, dir string) string {
			rewriteJournal(t, dir, func(s string) string {
				var j journal
				json.Unmarshal([]byte(s), &j)
				j.Source.Continuity = nil
				b, _ := json.Marshal(j)
				return string(b)
			})
			return dev
		}, "no record of the source's medium", ""},
		{"same medium re-attached under another name", reattach, "", ""},
		{"another medium in the same node", otherMedium, "not the medium that was imaged", ""},
		{"ewf: same medium re-attached under another name", reattach, "", "ewf"},
		{"ewf: another medium in the same node", otherMedium, "not the medium that was imaged", "ewf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mk(7)
			dev := looptest.Attach(t, img, looptest.Options{ReadOnly: true})
			dir := filepath.Join(t.TempDir(), "ev")
			ctx, cancel := context.WithCancel(context.Background())
			o := testOptions()
			o.ReadSize, o.CheckpointEvery, o.WriteBlock = 64<<10, 256<<10, true
			if tc.format != "" {
				o.Format, o.SegmentSize = tc.format, 600_000 // the checkpoint has a closed segment and an open one
			}
			a := New(dev, dir, o)
			a.afterRead = func(off int64) {
				if off >= 1<<20 {
					cancel()
				}
			}
			if _, err := a.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %v", err)
			}
			from := tc.act(t, dev, img, dir)
			before := folderDigest(t, dir)
			o.Resume = true
			r, err := New(from, dir, o).Run(context.Background())
			if tc.want != "" {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("resume: %v, want a refusal saying %q", err, tc.want)
				}
				if after := folderDigest(t, dir); after != before {
					t.Errorf("the refused resume changed the folder:\n%s\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if want := toolSum(t, "sha256sum", from); r.Hashes["sha256"] != want {
				t.Errorf("sha256 %s, want %s", r.Hashes["sha256"], want)
			}
			proof := false
			for _, e := range r.Events {
				proof = proof || strings.Contains(e.Message, "these samples are the proof")
			}
			if !proof {
				t.Errorf("no event says the samples proved the medium: %+v", r.Events)
			}
		})
	}
}

// TestSourceChangesDuringAcquisition: a medium swapped in the loop node
// mid-run (LOOP_CHANGE_FD, which O_EXCL does not stop) fails the
// acquisition at the next checkpoint instead of a complete report over two
// media; the read-only flag cleared mid-run is recorded (read_only_during
// false, an event) instead of claimed.
func TestSourceChangesDuringAcquisition(t *testing.T) {
	looptest.RequireRoot(t)
	mk := func(seed uint64) string {
		img := filepath.Join(t.TempDir(), "disk.img")
		looptest.MakeImage(t, img, 4<<20)
		fillImage(t, img, 0, seed)
		return img
	}
	t.Run("medium swapped", func(t *testing.T) {
		dev := looptest.Attach(t, mk(1), looptest.Options{ReadOnly: true})
		other := mk(2)
		o := testOptions()
		o.ReadSize, o.CheckpointEvery, o.WriteBlock = 64<<10, 256<<10, true
		a := New(dev, t.TempDir(), o)
		swapped := false
		a.afterRead = func(off int64) {
			if swapped || off < 1<<20 {
				return
			}
			swapped = true
			f, _ := os.Open(other)
			defer f.Close()
			node, _ := os.Open(dev)
			defer node.Close()
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, node.Fd(), 0x4c06 /* LOOP_CHANGE_FD */, f.Fd()); e != 0 {
				t.Errorf("LOOP_CHANGE_FD: %v", e)
			}
		}
		r, err := a.Run(context.Background())
		if !errors.Is(err, ErrSourceChanged) || r == nil || r.Status != "failed" || !strings.Contains(err.Error(), "different medium") {
			t.Fatalf("medium swapped mid-run: err %v, status %v", err, r)
		}
	})
	t.Run("read-only flag cleared", func(t *testing.T) {
		dev := looptest.Attach(t, mk(3), looptest.Options{})
		o := testOptions()
		o.ReadSize, o.CheckpointEvery, o.WriteBlock, o.RestoreWriteBlock = 64<<10, 256<<10, true, true
		a := New(dev, t.TempDir(), o)
		cleared := false
		a.afterRead = func(off int64) {
			if !cleared && off >= 1<<20 {
				cleared = true
				looptest.Blockdev(t, "--setrw", dev)
			}
		}
		r, err := a.Run(context.Background())
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		found := false
		for _, e := range r.Events {
			found = found || strings.Contains(e.Message, "read-only flag of "+filepath.Base(dev)+" was cleared")
		}
		if r.Source.ReadOnlyDuring || !found {
			t.Errorf("read_only_during %v, events %+v: the cleared flag was not recorded", r.Source.ReadOnlyDuring, r.Events)
		}
	})
}

// TestSourceThroughSymlink: a source named through a link (as
// /dev/disk/by-id/… names a disk) that is already read-only is recorded as
// read-only before, with the kernel's node beside the name given.
func TestSourceThroughSymlink(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakeImage(t, img, 1<<20)
	dev := looptest.Attach(t, img, looptest.Options{ReadOnly: true})
	link := filepath.Join(t.TempDir(), "usb-Vendor_Model_SERIAL-0:0")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	o := testOptions()
	o.WriteBlock = true
	r, err := New(link, t.TempDir(), o).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Source.ReadOnlyBefore || r.Source.Path != link || r.Source.Device != dev {
		t.Errorf("source %+v: want read_only_before true, path %s, device %s", r.Source, link, dev)
	}
}

// TestPlantedReportFIFO: a FIFO planted as NAME.report.json never hangs an
// acquisition (it used to, forever at 100 %): a new run refuses the name
// before reading, a resume refuses the folder before reading.
func TestPlantedReportFIFO(t *testing.T) {
	src, _ := makeSource(t, 300_000)
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "new", true: "resume"}[resume], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ev")
			if resume {
				interrupted(t, src, dir, 150_000)
			} else {
				os.Mkdir(dir, 0o700)
			}
			os.Remove(filepath.Join(dir, "img.report.json")) // the interrupted run's
			if err := unix.Mkfifo(filepath.Join(dir, "img.report.json"), 0o600); err != nil {
				t.Fatal(err)
			}
			o := resumeOptions()
			o.Resume = resume
			done := make(chan error, 1)
			go func() { _, err := New(src, dir, o).Run(context.Background()); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "img.report.json") {
					t.Fatalf("err %v, want a refusal naming img.report.json", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the acquisition hangs on the FIFO")
			}
		})
	}
}

// TestReadOnlyDestination: a destination that cannot be written is a
// refusal (exit 2, no report) whether the folder exists or must be made.
func TestReadOnlyDestination(t *testing.T) {
	looptest.RequireRoot(t)
	src, _ := makeSource(t, 100_000)
	img := filepath.Join(t.TempDir(), "fs.img")
	looptest.MakeImage(t, img, 8<<20)
	looptest.Mkfs(t, img)
	dev := looptest.Attach(t, img, looptest.Options{})
	mnt := looptest.Mount(t, dev)
	os.Mkdir(filepath.Join(mnt, "exists"), 0o700)
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v: %s", err, out)
	}
	for _, sub := range []string{"exists", "missing"} {
		_, err := New(src, filepath.Join(mnt, sub), testOptions()).Run(context.Background())
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%s folder on a read-only filesystem: %v, want a refusal (exit 2)", sub, err)
		}
	}
}

// TestResumeEWFKeptSegmentChanged: an interrupted EWF acquisition whose
// kept segment was changed since its checkpoint is refused on --resume,
// leaving the folder as it was.
func TestResumeEWFKeptSegmentChanged(t *testing.T) {
	src, _ := makeSource(t, 3<<20)
	dir := filepath.Join(t.TempDir(), "ev")
	ctx, cancel := context.WithCancel(context.Background())
	o := testOptions()
	o.Format, o.SegmentSize, o.CheckpointEvery, o.Compression = "ewf", 1<<20, 256<<10, "none"
	o.Hashes = append(o.Hashes[:0:0], o.Hashes...)
	a := New(src, dir, o)
	a.afterRead = func(off int64) {
		if off >= 2<<20 {
			cancel()
		}
	}
	if _, err := a.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	p := filepath.Join(dir, "img.E01.partial")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o640)
	before := folderDigest(t, dir)
	o.Resume = true
	if _, err := New(src, dir, o).Run(context.Background()); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "was changed") {
		t.Fatalf("resume over a changed kept segment: %v, want a refusal", err)
	}
	if after := folderDigest(t, dir); after != before {
		t.Errorf("the refused resume changed the folder:\n%s\n%s", before, after)
	}
}

// TestSwappedPartialNeverReported: the attack of a folder's owner (with
// --allow-foreign-folder, the only way into such a folder now): each new
// NAME.NNN.partial is swapped for a symlink to a root-only file while it
// is written. The image keeps going into the file custodian created (its
// descriptor), the root-only file is never written, chmod-ed or renamed,
// and the report never says complete over files that are not the image.
func TestSwappedPartialNeverReported(t *testing.T) {
	src, _ := makeSource(t, 600_000)
	dir := filepath.Join(t.TempDir(), "ev")
	victim := filepath.Join(t.TempDir(), "root-only")
	os.WriteFile(victim, []byte("secret"), 0o600)
	o := testOptions()
	o.SegmentSize, o.AllowForeignFolder = 100_000, true
	a := New(src, dir, o)
	swapped := 0
	a.afterRead = func(off int64) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".partial") && e.Type()&os.ModeSymlink == 0 {
				p := filepath.Join(dir, e.Name())
				os.Remove(p)
				os.Symlink(victim, p)
				swapped++
			}
		}
	}
	r, err := a.Run(context.Background())
	if swapped == 0 {
		t.Fatal("the test swapped nothing")
	}
	if err == nil || (r != nil && r.Status == "complete") {
		t.Fatalf("after %d swaps: err %v, status %v: a report said complete over swapped files", swapped, err, r.Status)
	}
	fi, _ := os.Stat(victim)
	if b, _ := os.ReadFile(victim); string(b) != "secret" || fi.Mode().Perm() != 0o600 {
		t.Errorf("the root-only file was written or chmod-ed: %q %v", b, fi.Mode().Perm())
	}
}
