package ewf

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
)

// requireTools skips the test when a Debian tool is missing, and fails it
// under CI=true.
func requireTools(t testing.TB, pkg string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		looptest.RequireTool(t, tool, pkg)
	}
}

// written is a set written by the writer under test.
type written struct {
	dir   string
	root  *os.Root
	files []string
	segs  []report.Segment
	data  []byte
	sums  report.Hashes
	spec  format.Spec
}

// writeImage writes data through the writer in pieces of step bytes.
func writeImage(t testing.TB, s format.Spec, data []byte, unreadable []report.Range) *written {
	t.Helper()
	w, err := Format{}.Create(s)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	for p := data; len(p) > 0; {
		k := min(len(p), 700_001)
		if err := w.Write(p[:k]); err != nil {
			t.Fatalf("write: %v", err)
		}
		p = p[k:]
	}
	m := hashing.NewMulti(hashing.Set{hashing.MD5, hashing.SHA1})
	m.Write(data)
	sums := report.Hashes(m.Sums())
	if unreadable == nil {
		unreadable = []report.Range{}
	}
	segs, err := w.Finish(format.Summary{Hashes: sums, Unreadable: unreadable})
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	im := &written{dir: s.Dir, root: s.Root, segs: segs, data: data, sums: sums, spec: s}
	for _, sg := range segs {
		im.files = append(im.files, sg.File)
	}
	return im
}

func newMultiMD5SHA1() *hashing.Multi {
	return hashing.NewMulti(hashing.Set{hashing.MD5, hashing.SHA1})
}

func newSpec(t testing.TB, size int64, sector int, seg int64, comp string) format.Spec {
	return formattest.Spec(t, "ev", size, sector, seg, comp)
}

// run runs a tool in dir and returns its stdout; a non-zero exit fails
// the test with stderr.
func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(dir, name string, args ...string) (string, error) {
	c := exec.Command(name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

// readAll reads the whole media of an open set.
func readAll(t testing.TB, r format.Reader) []byte {
	t.Helper()
	b := make([]byte, r.Size())
	if n, err := r.ReadAt(b, 0); int64(n) != r.Size() || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d of %d bytes: %v", n, r.Size(), err)
	}
	return b
}

// scanVisitor collects what Scan hands on.
type scanVisitor struct {
	files []bytes.Buffer
	sizes []int64
	errs  []error
	media bytes.Buffer
}

func newScanVisitor(n int) *scanVisitor {
	return &scanVisitor{files: make([]bytes.Buffer, n), sizes: make([]int64, n), errs: make([]error, n)}
}
func (v *scanVisitor) BeginFile(i int) io.Writer { return &v.files[i] }
func (v *scanVisitor) EndFile(i int, size int64, err error) {
	v.sizes[i], v.errs[i] = size, err
}
func (v *scanVisitor) Media(p []byte) error { v.media.Write(p); return nil }

func scanAll(t testing.TB, root *os.Root, files []string) *scanVisitor {
	t.Helper()
	v := newScanVisitor(len(files))
	if err := (Format{}).Scan(context.Background(), root, files, v); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return v
}

func abs(t testing.TB, dir, file string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
