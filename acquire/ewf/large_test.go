package ewf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/report"
)

// largeEnv opts in to TestLargeSparseEWF: it writes 4 TiB of media
// through the writer (minutes of CPU, some GB on disk), too long for every
// run of the suite. CUSTODIAN_LARGE_EWF_DIR chooses the folder (default
// the test's temporary folder).
const largeEnv = "CUSTODIAN_LARGE_EWF"

// TestLargeSparseEWF: a media of 4 TiB, one chunk more than libewf
// 20140813 opens at 64 sectors per chunk (134,217,728 > 134,217,727), is
// planned with 128 sectors per chunk, written through the writer (zeros,
// as a sparse disk is: every chunk a constant chunk) and opened by ewfinfo,
// which shows its size and sectors per chunk, and by this package's reader.
// The pipeline's hashing is left out (MD5 of 4 TiB takes about two hours
// here), so the set stores no hash; the planner's rule is unit-tested in
// plan_test.go. Opt-in: CUSTODIAN_LARGE_EWF=1.
func TestLargeSparseEWF(t *testing.T) {
	if os.Getenv(largeEnv) != "1" {
		t.Skipf("opt-in (writes 4 TiB of media through the writer, several minutes): set %s=1", largeEnv)
	}
	requireTools(t, "ewf-tools", "ewfinfo")
	const size = 4 << 40
	s := newSpec(t, size, 512, 0, "fast")
	if dir := os.Getenv(largeEnv + "_DIR"); dir != "" {
		dir, err := os.MkdirTemp(dir, "large-ewf")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		s.Root, s.Dir = root, dir
	}
	s.SegmentHashes = nil
	plan, err := Format{}.Plan(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan.Notes, " "), "128 sectors") {
		t.Fatalf("plan notes %q: want 128 sectors per chunk for 4 TiB", plan.Notes)
	}
	w, err := Format{}.Create(s)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	t0 := time.Now()
	var peak uint64
	var ms runtime.MemStats
	for off := int64(0); off < size; off += int64(len(buf)) {
		if err := w.Write(buf); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
		if off%(256<<30) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	segs, err := w.Finish(format.Summary{Hashes: report.Hashes{}, Unreadable: []report.Range{}})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	var files []string
	var total int64
	for _, sg := range segs {
		files = append(files, sg.File)
		total += sg.FileSize
	}
	t.Logf("4 TiB written in %v (%.1f GB/s of media): %d segments, %d bytes; heap in use at most %d MiB",
		took.Round(time.Second), float64(size)/took.Seconds()/1e9, len(segs), total, peak>>20)
	if peak > 200<<20 {
		t.Errorf("heap in use reached %d MiB", peak>>20)
	}

	t0 = time.Now()
	info := run(t, s.Dir, "ewfinfo", filepath.Join(s.Dir, files[0]))
	t.Logf("ewfinfo took %v:\n%s", time.Since(t0).Round(time.Second), info)
	for _, want := range []string{"File format:\t\tEnCase 6", "Sectors per chunk:\t128", "Bytes per sector:\t512",
		fmt.Sprintf("Number of sectors:\t%d", size/512), fmt.Sprintf("(%d bytes)", int64(size))} {
		if !strings.Contains(info, want) {
			t.Errorf("ewfinfo lacks %q", want)
		}
	}

	r, err := Format{}.Open(s.Root, files)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != size {
		t.Errorf("reader size %d, want %d", r.Size(), int64(size))
	}
	if got := r.(format.StoredReader).Stored().Fields["sectors_per_chunk"]; got != "128" {
		t.Errorf("stored sectors per chunk %q, want 128", got)
	}
	p := make([]byte, 1<<20)
	for _, off := range []int64{0, size / 2, size - int64(len(p))} {
		for i := range p {
			p[i] = 0xee
		}
		if n, err := r.ReadAt(p, off); n != len(p) || err != nil || !bytes.Equal(p, make([]byte, len(p))) {
			t.Errorf("ReadAt(1 MiB at %d): %d, %v, zeros %v", off, n, err, bytes.Equal(p, make([]byte, len(p))))
		}
	}
	if out, err := exec.Command("du", "-sh", s.Dir).Output(); err == nil {
		t.Logf("on disk: %s", out)
	}
}
