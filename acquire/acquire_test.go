package acquire

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// makeSource writes n deterministic pseudo-random bytes to a file.
func makeSource(t testing.TB, n int64) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "source.img")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func sums(data []byte) report.Hashes {
	m, s1, s256 := md5.Sum(data), sha1.Sum(data), sha256.Sum256(data)
	return report.Hashes{"md5": hex.EncodeToString(m[:]), "sha1": hex.EncodeToString(s1[:]), "sha256": hex.EncodeToString(s256[:])}
}

func testOptions() Options {
	return Options{
		Name: "img", Format: "raw",
		Hashes:        hashing.Set{hashing.MD5, hashing.SHA1, hashing.SHA256},
		SegmentHashes: hashing.Set{hashing.SHA256},
		ReadSize:      8192, Buffers: 4, Retries: 1,
		Now:       func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
		tinySizes: true,
	}
}

func readReport(t *testing.T, dir, name string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".report.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// concat reads the segments of a report in order.
func concat(t *testing.T, dir string, r *report.Report) []byte {
	t.Helper()
	var all []byte
	for _, s := range r.Image.Segments {
		b, err := os.ReadFile(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// openImage opens the image a report describes through its format's
// reader (closed at the end of the test).
func openImage(t *testing.T, dir string, r *report.Report) format.Reader {
	t.Helper()
	f, err := LookupFormat(r.Image.Format)
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	var files []string
	for _, s := range r.Image.Segments {
		files = append(files, s.File)
	}
	im, err := f.Open(root, files)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

func TestAcquireSizes(t *testing.T) {
	for _, tc := range []struct {
		size, segment int64
		wantSegs      int
	}{
		{0, 0, 1},
		{1, 0, 1},
		{513, 0, 1},
		{513, 512, 2},
		{100_000, 0, 1},
		{100_000, 8192, 13},       // not a multiple of the segment size
		{100_000, 12_345, 9},      // segment size not a multiple of the read size
		{3 * 8192, 8192, 3},       // exact multiple: no empty trailing segment
		{65536 + 7, 65536 + 7, 1}, // one full segment
	} {
		t.Run(fmt.Sprintf("size%d_seg%d", tc.size, tc.segment), func(t *testing.T) {
			src, data := makeSource(t, tc.size)
			dir := filepath.Join(t.TempDir(), "out")
			o := testOptions()
			o.SegmentSize = tc.segment
			r, err := New(src, dir, o).Run(context.Background())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if r.Status != report.StatusComplete {
				t.Errorf("status %q", r.Status)
			}
			if diff := cmp.Diff(sums(data), r.Hashes); diff != "" {
				t.Errorf("hashes (-want +got):\n%s", diff)
			}
			if len(r.Image.Segments) != tc.wantSegs {
				t.Fatalf("%d segments, want %d", len(r.Image.Segments), tc.wantSegs)
			}
			var off int64
			for i, s := range r.Image.Segments {
				if want := fmt.Sprintf("img.%03d", i+1); s.File != want {
					t.Errorf("segment %d named %q, want %q", i, s.File, want)
				}
				if s.Offset != off {
					t.Errorf("segment %d offset %d, want %d", i, s.Offset, off)
				}
				if i < len(r.Image.Segments)-1 && s.Length != tc.segment {
					t.Errorf("segment %d length %d, want %d", i, s.Length, tc.segment)
				}
				seg := data[s.Offset : s.Offset+s.Length]
				want := sha256.Sum256(seg)
				if s.Hashes["sha256"] != hex.EncodeToString(want[:]) {
					t.Errorf("segment %d sha256 %s, want %x", i, s.Hashes["sha256"], want)
				}
				off += s.Length
			}
			if off != tc.size {
				t.Errorf("segments cover %d bytes, want %d", off, tc.size)
			}
			if got := concat(t, dir, r); !bytes.Equal(got, data) {
				t.Error("concatenated segments differ from the source")
			}
			// The on-disk report says the same, and no journal or partial remains.
			disk := readReport(t, dir, "img")
			if disk.Status != report.StatusComplete || disk.BytesAcquired != tc.size {
				t.Errorf("report on disk: status %q, bytes %d", disk.Status, disk.BytesAcquired)
			}
			left, _ := filepath.Glob(filepath.Join(dir, "*partial*"))
			if j, _ := filepath.Glob(filepath.Join(dir, "*.journal*")); len(j)+len(left) > 0 {
				t.Errorf("left behind: %v %v", left, j)
			}
		})
	}
}

func TestAcquireHashWindowsAndVerify(t *testing.T) {
	src, data := makeSource(t, 50_000)
	dir := t.TempDir()
	o := testOptions()
	o.HashWindow = 16384
	o.Verify = true
	r, err := New(src, dir, o).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []report.HashWindow
	for off := int64(0); off < int64(len(data)); off += 16384 {
		end := min(off+16384, int64(len(data)))
		want = append(want, report.HashWindow{Offset: off, Length: end - off, Hashes: sums(data[off:end])})
	}
	if diff := cmp.Diff(want, r.HashWindows); diff != "" {
		t.Errorf("hash windows (-want +got):\n%s", diff)
	}
	if !r.Verification.Performed || !r.Verification.Matched {
		t.Errorf("verification %+v", r.Verification)
	}
	if diff := cmp.Diff(r.Hashes, r.Verification.Hashes); diff != "" {
		t.Error(diff)
	}
}

func TestAcquireRefusals(t *testing.T) {
	src, _ := makeSource(t, 4096)
	dir := t.TempDir()
	if _, err := New(src, dir, testOptions()).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, dir)
	for name, mod := range map[string]func(*Options){
		"existing image":     func(o *Options) {},
		"ewf compress raw":   func(o *Options) { o.Compression = "best"; o.Name = "other" },
		"unknown format":     func(o *Options) { o.Format = "aff4"; o.Name = "other" },
		"no hashes":          func(o *Options) { o.Hashes = nil; o.Name = "other" },
		"name with slash":    func(o *Options) { o.Name = "../x" },
		"resume, no journal": func(o *Options) { o.Resume = true; o.Name = "other" },
	} {
		t.Run(name, func(t *testing.T) {
			o := testOptions()
			mod(&o)
			_, err := New(src, dir, o).Run(context.Background())
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("err = %v, want ErrUsage", err)
			}
			if diff := cmp.Diff(before, listDir(t, dir)); diff != "" {
				t.Errorf("the output folder changed:\n%s", diff)
			}
		})
	}
	// Refusing a non-existent source and a directory as source.
	for _, bad := range []string{filepath.Join(dir, "missing"), dir} {
		if _, err := New(bad, t.TempDir(), testOptions()).Run(context.Background()); !errors.Is(err, ErrUsage) {
			t.Errorf("source %s: err = %v, want ErrUsage", bad, err)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		fi, _ := e.Info()
		out = append(out, fmt.Sprintf("%s %d", e.Name(), fi.Size()))
	}
	return out
}

// TestInterruptAndResume cancels an acquisition part-way, checks that
// nothing claims to be complete, then resumes it from the journal and
// checks the result equals an uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	src, data := makeSource(t, 1_000_000+3)
	dir := t.TempDir()
	o := testOptions()
	o.SegmentSize = 300_000
	o.HashWindow = 100_000
	o.CheckpointEvery = 64 << 10

	ctx, cancel := context.WithCancel(context.Background())
	a := New(src, dir, o)
	a.afterRead = func(off int64) {
		if off >= 600_000 {
			cancel()
		}
	}
	r, err := a.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	if r.Status != report.StatusIncomplete {
		t.Errorf("status %q, want incomplete", r.Status)
	}
	disk := readReport(t, dir, "img")
	if disk.Status != report.StatusIncomplete || len(disk.Hashes) != 0 {
		t.Errorf("report on disk: status %q hashes %v", disk.Status, disk.Hashes)
	}
	for _, s := range disk.Image.Segments {
		if !strings.HasSuffix(s.File, ".partial") {
			t.Errorf("interrupted run has a segment with a final name: %s", s.File)
		}
	}
	if final, _ := filepath.Glob(filepath.Join(dir, "img.0[0-9][0-9]")); len(final) > 0 {
		t.Errorf("final segment names after interruption: %v", final)
	}
	jb, err := os.ReadFile(filepath.Join(dir, "img.journal"))
	if err != nil {
		t.Fatalf("no journal after interruption: %v", err)
	}
	var j journal
	if err := json.Unmarshal(jb, &j); err != nil || j.Check == nil || j.Check.Offset == 0 {
		t.Fatalf("journal has no checkpoint: %v %s", err, jb)
	}

	// Without --resume the leftovers are refused.
	if _, err := New(src, dir, testOptions()).Run(context.Background()); !errors.Is(err, ErrUsage) {
		t.Errorf("re-run without --resume: err = %v, want ErrUsage", err)
	}
	// With other settings, --resume is refused.
	bad := o
	bad.Resume = true
	bad.SegmentSize = 1 << 20
	if _, err := New(src, dir, bad).Run(context.Background()); !errors.Is(err, ErrUsage) {
		t.Errorf("resume with another segment size: err = %v, want ErrUsage", err)
	}

	o.Resume = true
	b := New(src, dir, o)
	var firstRead int64 = -1
	b.afterRead = func(off int64) {
		if firstRead < 0 {
			firstRead = off
		}
	}
	r2, err := b.Run(context.Background())
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if firstRead <= j.Check.Offset || firstRead > j.Check.Offset+int64(o.ReadSize) {
		t.Errorf("resume re-read from the start: first block ended at %d, checkpoint %d", firstRead, j.Check.Offset)
	}
	if diff := cmp.Diff(sums(data), r2.Hashes); diff != "" {
		t.Errorf("resumed hashes (-want +got):\n%s", diff)
	}
	if !bytes.Equal(concat(t, dir, r2), data) {
		t.Error("resumed image differs from the source")
	}
	if !r2.Settings.Resumed || r2.Status != report.StatusComplete {
		t.Errorf("resumed report: %+v %q", r2.Settings, r2.Status)
	}
	if len(r2.HashWindows) != 11 {
		t.Errorf("%d hash windows after resume, want 11", len(r2.HashWindows))
	}
	for _, w := range r2.HashWindows {
		if diff := cmp.Diff(sums(data[w.Offset:w.Offset+w.Length]), w.Hashes); diff != "" {
			t.Errorf("window at %d: %s", w.Offset, diff)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "img.journal")); !os.IsNotExist(err) {
		t.Errorf("journal still there after completion: %v", err)
	}
}

// BenchmarkPipeline images a page-cached 256 MiB file with md5+sha1+sha256
// into a folder under $BENCH_DIR (default the test's temp dir). Set
// BENCH_DIR=/dev/shm to take the destination disk out of the picture.
func BenchmarkPipeline(b *testing.B) {
	const size = 256 << 20
	src := filepath.Join(b.TempDir(), "src")
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	base := os.Getenv("BENCH_DIR")
	if base == "" {
		base = b.TempDir()
	}
	for _, seg := range []string{"none", "sha256"} {
		b.Run("segment-hash="+seg, func(b *testing.B) {
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				dir, err := os.MkdirTemp(base, "bench")
				if err != nil {
					b.Fatal(err)
				}
				o := testOptions()
				o.ReadSize, o.Buffers = DefaultReadSize, DefaultBuffers
				o.SegmentSize = 0
				if seg == "none" {
					o.SegmentHashes = nil
				}
				if _, err := New(src, dir, o).Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				i++
				b.StartTimer()
			}
		})
	}
}

// TestInterruptDuringVerify: a signal during --verify leaves a complete
// image described as complete (not "incomplete", which would invite a
// pointless --resume), with verification not performed and a warning.
func TestInterruptDuringVerify(t *testing.T) {
	src, data := makeSource(t, 100_000)
	dir := t.TempDir()
	o := testOptions()
	o.Verify = true
	ctx, cancel := context.WithCancel(context.Background())
	a := New(src, dir, o)
	a.beforeVerify = cancel
	r, err := a.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	disk := readReport(t, dir, "img")
	if disk.Status != report.StatusComplete || disk.Verification.Performed || r.Hashes["sha256"] != sums(data)["sha256"] {
		t.Errorf("status %q, verification %+v, hashes %v", disk.Status, disk.Verification, r.Hashes)
	}
	if !bytes.Equal(concat(t, dir, disk), data) {
		t.Error("image differs from the source")
	}
	if _, err := os.Stat(filepath.Join(dir, "img.journal")); !os.IsNotExist(err) {
		t.Errorf("journal kept for a complete image: %v", err)
	}
	found := false
	for _, e := range disk.Events {
		found = found || (e.Kind == "interrupted" && e.Level == "warning")
	}
	if !found {
		t.Errorf("no interrupted warning in %+v", disk.Events)
	}
}

// TestResumeBeforeFirstCheckpoint: interrupted before any checkpoint, the
// journal exists but holds no state; --resume starts over, replacing this
// image's partial segments (O_EXCL would otherwise refuse them).
func TestResumeBeforeFirstCheckpoint(t *testing.T) {
	src, data := makeSource(t, 500_000)
	dir := t.TempDir()
	o := testOptions()
	o.SegmentSize = 300_000
	o.CheckpointEvery = 1 << 30
	ctx, cancel := context.WithCancel(context.Background())
	a := New(src, dir, o)
	a.afterRead = func(off int64) {
		if off >= 100_000 {
			cancel()
		}
	}
	if _, err := a.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if p, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(p) == 0 {
		t.Fatal("no partial segment left by the interrupted run (test premise)")
	}
	o.Resume = true
	r, err := New(src, dir, o).Run(context.Background())
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if diff := cmp.Diff(sums(data), r.Hashes); diff != "" || !bytes.Equal(concat(t, dir, r), data) {
		t.Errorf("resumed image wrong: %s", diff)
	}
}

// TestForeignFolderRefused: an existing output folder that another user
// owns, or that group or others can write, is refused before anything is
// read or written (a real second uid owns it); --allow-foreign-folder
// proceeds and says so in the report.
func TestForeignFolderRefused(t *testing.T) {
	looptest.RequireRoot(t)
	src, data := makeSource(t, 100_000)
	for _, tc := range []struct {
		name  string
		uid   int
		mode  os.FileMode
		setup string
	}{
		{"owned by another user", 64999, 0o755, "owned by uid 64999"},
		{"group-writable", 0, 0o770, "writable by its group"},
		{"world-writable", 0, 0o777, "writable by others"},
		{"set-group-ID, another user's", 64999, 0o2750, "owned by uid 64999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ev")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, tc.uid, tc.uid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := New(src, dir, testOptions()).Run(context.Background())
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.setup) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.setup)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files were written into the refused folder: %v", entries)
			}
			o := testOptions()
			o.AllowForeignFolder = true
			r, err := New(src, dir, o).Run(context.Background())
			if err != nil {
				t.Fatalf("--allow-foreign-folder: %v", err)
			}
			if diff := cmp.Diff(sums(data), r.Hashes); diff != "" {
				t.Error(diff)
			}
			found := false
			for _, e := range r.Events {
				found = found || (e.Kind == "folder" && strings.Contains(e.Message, "--allow-foreign-folder"))
			}
			if !found {
				t.Errorf("no warning event about the folder: %+v", r.Events)
			}
		})
	}
}

// TestOneRunPerFolder: while an acquisition holds its folder, a second one
// into the same folder is refused with a usage error naming the lock.
func TestOneRunPerFolder(t *testing.T) {
	src, _ := makeSource(t, 400_000)
	dir := filepath.Join(t.TempDir(), "ev")
	o := testOptions()
	a := New(src, dir, o)
	second := make(chan error, 1)
	a.afterRead = func(off int64) {
		if off == int64(o.ReadSize) {
			o2 := testOptions()
			o2.Name = "other"
			_, err := New(src, dir, o2).Run(context.Background())
			second <- err
		}
	}
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "holds the folder's lock") {
		t.Fatalf("second run: %v, want a refusal naming the lock", err)
	}
}
