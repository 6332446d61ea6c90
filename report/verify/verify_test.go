package verify

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/raw"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

func testData() []byte {
	b := make([]byte, 3<<20+777)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// makeEvidence writes data as a raw image of segSize segments through the
// raw format, and a complete report, into dir.
func makeEvidence(t *testing.T, dir, name string, data []byte, segSize int64) *report.Report {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	w, err := raw.Format{}.Create(format.Spec{Root: root, Dir: dir, Name: name, MediaSize: int64(len(data)), SectorSize: 512,
		SegmentSize: segSize, SegmentHashes: hashing.Set{hashing.SHA256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	m := hashing.NewMulti(hashing.Set{hashing.MD5, hashing.SHA256})
	m.Write(data)
	segs, err := w.Finish(format.Summary{Hashes: report.Hashes(m.Sums())})
	if err != nil {
		t.Fatal(err)
	}
	env := report.Env{Now: func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }, Hostname: "lab", Kernel: "linux", Version: "test"}
	r := report.New(env)
	r.Status = report.StatusComplete
	r.Source = report.Source{Path: "/dev/loop7", Kind: "block device", Size: int64(len(data)), LogicalSectorSize: 512, PhysicalSectorSize: 512}
	r.Image = report.Image{Format: "raw", Name: name, SegmentSize: segSize, Compression: "none", Segments: segs}
	r.BytesAcquired = int64(len(data))
	r.Hashes = report.Hashes(m.Sums())
	r.FinishedAt = r.StartedAt
	if err := report.WriteFilesIn(root, name, r, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func rewriteReport(t *testing.T, dir, name string, r *report.Report) {
	t.Helper()
	for _, suf := range []string{report.JSONSuffix, report.TextSuffix} {
		os.Remove(filepath.Join(dir, name+suf))
	}
	if err := report.WriteFiles(dir, name, r, nil); err != nil {
		t.Fatal(err)
	}
}

func statusOf(res *Result, name, subject string) string {
	for _, c := range res.Checks {
		if c.Name == name && (subject == "" || c.Subject == subject) {
			return c.Status
		}
	}
	return "(no check)"
}

func TestVerifyGoodEvidence(t *testing.T) {
	dir := t.TempDir()
	makeEvidence(t, dir, "ev", testData(), 1<<20)
	res, err := Verify(context.Background(), dir, Options{})
	if !errors.Is(err, ErrUntrusted) || res.Result != ResultUntrusted {
		t.Fatalf("unsigned evidence without --no-trust: %v, result %s; want ErrUntrusted", err, res.Result)
	}
	v := New(dir, Options{NoTrust: true})
	res, err = v.Run(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v %+v", err, res.Checks)
	}
	if res.Result != ResultOK || statusOf(res, "image", "") != report.CheckOK || statusOf(res, "signature", "") != report.CheckUnsigned {
		t.Errorf("result %s, checks %+v", res.Result, res.Checks)
	}
	if p := v.Progress(); p.Phase != PhaseDone || p.Done != p.Total || p.Total != int64(len(testData())) {
		t.Errorf("progress at the end: %+v, want every image byte counted once (%d)", p, len(testData()))
	}
}

// TestVerifyRawReadsSegmentsOnce: for a raw image the whole-image hashes
// are computed from the same reads as the segment checks: the progress
// counts each file's bytes once, and a wrong whole-image hash (segments
// fine) is still found.
func TestVerifyRawReadsSegmentsOnce(t *testing.T) {
	dir := t.TempDir()
	r := makeEvidence(t, dir, "ev", testData(), 1<<20)
	r.Hashes["sha256"] = "00" + r.Hashes["sha256"][2:]
	rewriteReport(t, dir, "ev", r)
	v := New(dir, Options{})
	res, err := v.Run(context.Background())
	if !errors.Is(err, report.ErrMismatch) || statusOf(res, "image", "") != report.CheckMismatch {
		t.Fatalf("wrong whole-image hash: err = %v, checks %+v", err, res.Checks)
	}
	if got := v.Progress().Done; got != int64(len(testData())) {
		t.Errorf("%d bytes read for %d bytes of segments: the files were not read exactly once", got, len(testData()))
	}
}

func TestVerifyTamper(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(dir string)
		status string // of the check on ev.002
		result string
	}{
		{"flipped byte", func(dir string) { flip(t, filepath.Join(dir, "ev.002"), 1000) }, report.CheckMismatch, ResultMismatch},
		{"truncated", func(dir string) { os.Truncate(filepath.Join(dir, "ev.002"), 100) }, report.CheckMismatch, ResultMismatch},
		{"deleted", func(dir string) { os.Remove(filepath.Join(dir, "ev.002")) }, report.CheckMissing, ResultMissing},
		{"symlink to a file outside", func(dir string) {
			outside := filepath.Join(t.TempDir(), "secret")
			os.WriteFile(outside, bytes.Repeat([]byte{1}, 1<<20), 0o600)
			os.Remove(filepath.Join(dir, "ev.002"))
			os.Symlink(outside, filepath.Join(dir, "ev.002"))
		}, report.CheckMismatch, ResultMismatch},
		{"fifo", func(dir string) {
			os.Remove(filepath.Join(dir, "ev.002"))
			syscall.Mkfifo(filepath.Join(dir, "ev.002"), 0o600)
		}, report.CheckMismatch, ResultMismatch},
		{"hard link", func(dir string) {
			os.Link(filepath.Join(dir, "ev.002"), filepath.Join(t.TempDir(), "elsewhere"))
		}, report.CheckMismatch, ResultMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeEvidence(t, dir, "ev", testData(), 1<<20)
			tc.tamper(dir)
			done := make(chan struct{})
			var res *Result
			var err error
			go func() { res, err = Verify(context.Background(), dir, Options{}); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("verify hangs")
			}
			if res == nil {
				t.Fatal(err)
			}
			if got := statusOf(res, "segment", "ev.002"); got != tc.status || res.Result != tc.result {
				t.Errorf("segment ev.002: %s, result %s; want %s, %s (%+v)", got, res.Result, tc.status, tc.result, res.Checks)
			}
			if statusOf(res, "image", "") != report.CheckSkipped {
				t.Errorf("the image check ran over a bad segment: %+v", res.Checks)
			}
			if tc.name == "symlink to a file outside" && strings.Contains(res.Checks[len(res.Checks)-1].Detail, "sha256 is") {
				t.Errorf("the hash of a file outside the folder was printed: %+v", res.Checks)
			}
		})
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	os.Chmod(path, 0o640)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	f.WriteAt(b, off)
}

// TestVerifyBoundsTheReport: a huge file named like a report is refused
// without reading it into memory, and a report that is a symlink is not
// followed.
func TestVerifyBoundsTheReport(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(MaxReportSize + 1)
	f.Close()
	res, err := Verify(context.Background(), dir, Options{})
	if res == nil || statusOf(res, "report", "big.report.json") != report.CheckError || err == nil {
		t.Fatalf("oversized report: %v %+v", err, res)
	}

	dir2 := t.TempDir()
	other := t.TempDir()
	makeEvidence(t, other, "ev", testData()[:10000], 0)
	os.Symlink(filepath.Join(other, "ev.report.json"), filepath.Join(dir2, "ev.report.json"))
	res, err = Verify(context.Background(), dir2, Options{})
	if res == nil || statusOf(res, "report", "ev.report.json") != report.CheckError || !strings.Contains(err.Error(), "report") {
		t.Fatalf("symlinked report: %v %+v", err, res)
	}
}

func TestVerifyOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Verify(context.Background(), dir, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty folder: %v", err)
	}
	makeEvidence(t, dir, "a", testData()[:1000], 0)
	makeEvidence(t, dir, "b", testData()[:1000], 0)
	if _, err := Verify(context.Background(), dir, Options{}); !errors.Is(err, ErrOptions) {
		t.Errorf("two reports: %v", err)
	}
	if _, err := Verify(context.Background(), filepath.Join(dir, "a.report.json"), Options{Trust: report.Trust{Identity: "x"}}); !errors.Is(err, ErrOptions) {
		t.Errorf("identity without allowed signers: %v", err)
	}
	res, err := Verify(context.Background(), filepath.Join(dir, "a.report.json.sig"), Options{NoTrust: true})
	if err != nil || res.Result != ResultOK {
		t.Errorf("a .sig path names its report: %v %+v", err, res)
	}
}

// TestVerifySource re-reads a source file and finds a change in it.
func TestVerifySource(t *testing.T) {
	dir := t.TempDir()
	data := testData()
	makeEvidence(t, dir, "ev", data, 1<<20)
	src := filepath.Join(t.TempDir(), "src.img")
	os.WriteFile(src, data, 0o600)
	res, err := Verify(context.Background(), dir, Options{Source: src, NoTrust: true})
	if err != nil || statusOf(res, "source", src) != report.CheckOK {
		t.Fatalf("source: %v %+v", err, res.Checks)
	}
	data[12345] ^= 1
	os.WriteFile(src, data, 0o600)
	res, err = Verify(context.Background(), dir, Options{Source: src})
	if !errors.Is(err, report.ErrMismatch) || statusOf(res, "source", src) != report.CheckMismatch {
		t.Fatalf("changed source: %v %+v", err, res.Checks)
	}
}
