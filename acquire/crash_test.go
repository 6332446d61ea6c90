package acquire

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custodian-forensics/custodian/report"
)

// crashEnv makes the test binary an acquisition that kills itself with
// SIGKILL at a crash point (see Acquisition.crashPoint), or once the
// reader has read past byte N (POINT "read:N"): SOURCE|DIR|POINT[|FORMAT].
const crashEnv = "GO_TEST_ACQUIRE_CRASH"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		f := strings.Split(spec, "|")
		o := testOptions()
		o.SegmentSize, o.CheckpointEvery, o.Verify = 100_000, 64<<10, true
		if len(f) > 3 {
			o.Format = f[3]
		}
		a := New(f[0], f[1], o)
		a.crashPoint = func(p string) {
			if p == f[2] {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		if at, ok := strings.CutPrefix(f[2], "read:"); ok {
			stop, err := strconv.ParseInt(at, 10, 64)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			a.afterRead = func(off int64) {
				if off >= stop {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
		if _, err := a.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCrashPoints kills a real acquisition process with SIGKILL at each of
// the moments after imaging where a crash once lost everything (the end
// checkpoint written, the final hashes recorded and nothing renamed, some
// or all segments renamed, the complete report written and the journal
// not yet removed), then resumes: every case ends complete with the
// source's hashes, or is refused because it already is.
func TestCrashPoints(t *testing.T) {
	src, data := makeSource(t, 1_000_000+512)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		point   string
		renamed int // partial segments renamed by hand after the crash, as a crash inside the rename loop leaves them
	}{
		{"end", 0}, {"final", 0}, {"final", 1}, {"final", 5}, {"final", 11}, {"report", 0},
	} {
		t.Run(fmt.Sprintf("%s/renamed%d", tc.point, tc.renamed), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ev")
			c := exec.Command(exe)
			c.Env = append(os.Environ(), crashEnv+"="+src+"|"+dir+"|"+tc.point)
			out, err := c.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Exited() {
				t.Fatalf("the process was not killed at %q: %v\n%s", tc.point, err, out)
			}
			entries, _ := os.ReadDir(dir)
			var partials []string
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".partial") {
					partials = append(partials, e.Name())
				}
			}
			slices.Sort(partials)
			for _, p := range partials[:min(tc.renamed, len(partials))] {
				os.Chmod(filepath.Join(dir, p), 0o440)
				if err := os.Rename(filepath.Join(dir, p), filepath.Join(dir, strings.TrimSuffix(p, ".partial"))); err != nil {
					t.Fatal(err)
				}
			}
			o := testOptions()
			o.SegmentSize, o.CheckpointEvery, o.Resume = 100_000, 64<<10, true
			r, err := New(src, dir, o).Run(context.Background())
			if tc.point == "report" {
				if err == nil || !strings.Contains(err.Error(), "already complete") {
					t.Fatalf("resume after the report was written: %v, want a refusal saying it is complete", err)
				}
				r = readReport(t, dir, "img")
			} else if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if r.Status != report.StatusComplete {
				t.Fatalf("status %s", r.Status)
			}
			if diff := cmp.Diff(sums(data), r.Hashes); diff != "" {
				t.Errorf("hashes (-want +got):\n%s", diff)
			}
			if len(r.Image.Segments) != 11 {
				t.Errorf("%d segments, want 11", len(r.Image.Segments))
			}
			var img []byte
			for _, s := range r.Image.Segments {
				b, err := os.ReadFile(filepath.Join(dir, s.File))
				if err != nil {
					t.Fatal(err)
				}
				img = append(img, b...)
			}
			if string(img) != string(data) {
				t.Error("the image differs from the source")
			}
			if _, err := os.Stat(filepath.Join(dir, "img.journal")); tc.point != "report" && !os.IsNotExist(err) {
				t.Error("journal left beside the complete report")
			}
		})
	}
}

// TestCrashResumeEWF kills a real EWF acquisition with SIGKILL while it
// images (inside a group, past segment boundaries) and after it (the end
// checkpoint, the rename loop), then resumes: the resume reads the kept
// E01 files back as they stand at the checkpoint (the open segment only up
// to its synced length, whatever the killed process wrote after it),
// re-hashes them against the journal's states and samples the source
// before it writes anything, and ends complete with the source's hashes
// and a set whose media is the source.
func TestCrashResumeEWF(t *testing.T) {
	src, data := makeSource(t, 1<<20+3*512) // whole sectors, a short last chunk
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, point := range []string{"read:150000", "read:420000", "read:777777", "end", "final"} {
		t.Run(point, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ev")
			c := exec.Command(exe)
			c.Env = append(os.Environ(), crashEnv+"="+src+"|"+dir+"|"+point+"|ewf")
			out, err := c.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Exited() {
				t.Fatalf("the process was not killed at %q: %v\n%s", point, err, out)
			}
			o := testOptions()
			o.Format, o.SegmentSize, o.CheckpointEvery, o.Resume = "ewf", 100_000, 64<<10, true
			r, err := New(src, dir, o).Run(context.Background())
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if r.Status != report.StatusComplete {
				t.Fatalf("status %s", r.Status)
			}
			if diff := cmp.Diff(sums(data), r.Hashes); diff != "" {
				t.Errorf("hashes (-want +got):\n%s", diff)
			}
			rehashed := false
			for _, e := range r.Events {
				rehashed = rehashed || strings.Contains(e.Message, "was read back and matches the journal's hash states")
			}
			if !rehashed {
				t.Errorf("no event says the kept image was read back: %+v", r.Events)
			}
			im := openImage(t, dir, r)
			media := make([]byte, im.Size())
			if n, err := im.ReadAt(media, 0); n != len(media) || string(media) != string(data) {
				t.Errorf("the E01 media (%d bytes, %v) differs from the source", n, err)
			}
		})
	}
}
