// Package formattest is the conformance suite every image format passes:
// the same streams, written, checkpointed, aborted, resumed, finished and
// read back, must give the same media through every reader of the format.
package formattest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// Options adapt the suite to a format.
type Options struct {
	// SegmentSizes to try; 0 is always tried too.
	SegmentSizes []int64
	// SectorSizes to try (default 512).
	SectorSizes []int
	// Compressions to try (default: "").
	Compressions []string
	// Lengths of media to try (default: a set of odd and even lengths).
	// Formats that need whole sectors get lengths rounded down to one.
	Lengths []int64
	// WholeSectors is true for formats whose media must be a whole number
	// of sectors.
	WholeSectors bool
	// KeptReader is true for formats whose resumed writers implement
	// format.KeptReader: the suite then fails if one does not, and reads
	// the kept media back at random offsets after every resume.
	KeptReader bool
}

func (o *Options) defaults() {
	if len(o.SectorSizes) == 0 {
		o.SectorSizes = []int{512}
	}
	if len(o.Compressions) == 0 {
		o.Compressions = []string{""}
	}
	if !slices.Contains(o.SegmentSizes, 0) {
		o.SegmentSizes = append([]int64{0}, o.SegmentSizes...)
	}
	if len(o.Lengths) == 0 {
		o.Lengths = []int64{0, 1, 511, 512, 4096, 65535, 1 << 20, 3<<20 + 1536}
	}
}

// Media returns n bytes of test media: runs of zeros, runs of one byte
// value, text, and random bytes, so compressing formats see every kind of
// chunk.
func Media(n int64, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for off := int64(0); off < n; {
		run := min(n-off, int64(1+rng.IntN(200_000)))
		switch rng.IntN(4) {
		case 0: // zeros
		case 1:
			v := byte(rng.IntN(256))
			for i := off; i < off+run; i++ {
				b[i] = v
			}
		case 2:
			for i := off; i < off+run; i++ {
				b[i] = "custodian forensic image text "[i%30]
			}
		default:
			for i := off; i < off+run; i++ {
				b[i] = byte(rng.Uint32())
			}
		}
		off += run
	}
	return b
}

// Spec returns a spec for a test image in a new folder.
func Spec(t testing.TB, name string, size int64, sector int, segSize int64, compression string) format.Spec {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return format.Spec{
		Root: root, Dir: dir, Name: name, MediaSize: size, SectorSize: sector,
		SegmentSize: segSize, SegmentHashes: hashing.Set{hashing.SHA256}, Compression: compression,
		Case:    report.Case{CaseNumber: "CASE-1", EvidenceNumber: "EV-1", Examiner: "Examiner", Description: "conformance", Notes: "n"},
		Source:  format.Source{Path: "/dev/test", Model: "Model", Serial: "SERIAL"},
		Started: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), ToolVersion: "test", DirectIO: true,
	}
}

// Run runs the whole suite on f.
func Run(t *testing.T, f format.Format, o Options) {
	o.defaults()
	for _, sector := range o.SectorSizes {
		for _, comp := range o.Compressions {
			for _, seg := range o.SegmentSizes {
				for _, n := range o.Lengths {
					if o.WholeSectors {
						n -= n % int64(sector)
					}
					if seg > 0 && n/seg > 2000 {
						continue // thousands of files prove nothing more than dozens
					}
					name := fmt.Sprintf("sector%d/%s/seg%d/len%d", sector, comp, seg, n)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						data := Media(n, uint64(n)+uint64(seg))
						s := Spec(t, "ev", n, sector, seg, comp)
						if _, err := f.Plan(s); err != nil {
							t.Skipf("the format refuses this spec: %v", err)
						}
						RoundTrip(t, f, s, data, uint64(n)^uint64(seg), o.KeptReader)
					})
				}
			}
		}
	}
	t.Run("owns", func(t *testing.T) { ownsOnlyItsOwn(t, f) })
}

// RoundTrip writes data with random write sizes, a checkpoint, an abort and
// a resume at random offsets, then finishes and reads the image back
// through every reader the format has. With needKept, the resumed writer
// must implement format.KeptReader.
func RoundTrip(t *testing.T, f format.Format, s format.Spec, data []byte, seed uint64, needKept bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	plan, err := f.Plan(s)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	w, err := f.Create(s)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	// Write up to a random point, checkpoint, write past it, abort:
	// everything after the checkpoint must be discarded by the resume.
	n := int64(len(data))
	cut := n
	if n > 0 {
		cut = rng.Int64N(n + 1)
	}
	writeAll(t, w, data[:cut], rng)
	state, err := w.Checkpoint()
	if err != nil {
		t.Fatalf("checkpoint at %d: %v", cut, err)
	}
	state = bytes.Clone(state)
	beyond := min(n, cut+rng.Int64N(300_000))
	garbage := bytes.Repeat([]byte{0xA5}, int(beyond-cut))
	writeAll(t, w, garbage, rng)
	if err := w.Abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	checkPartialNames(t, f, s, w.Partial())
	aborted := folderDigest(t, s.Root)

	w, err = f.Resume(s, state)
	if err != nil {
		t.Fatalf("resume at %d: %v", cut, err)
	}
	kr, ok := w.(format.KeptReader)
	if !ok && needKept {
		t.Fatalf("the resumed writer (%T) does not implement format.KeptReader", w)
	}
	if ok {
		checkKept(t, kr, data[:cut], rng)
	}
	if now := folderDigest(t, s.Root); now != aborted {
		t.Fatalf("Resume and ReadKeptAt changed the folder before the first write:\nafter Abort:\n%s\nnow:\n%s", aborted, now)
	}
	writeAll(t, w, data[cut:], rng)
	sum := format.Summary{Hashes: hashesOf(data), Unreadable: []report.Range{}}
	end, err := w.Checkpoint()
	if err != nil {
		t.Fatalf("checkpoint at the end: %v", err)
	}
	end = bytes.Clone(end)
	segs, err := w.Finish(sum)
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	// A crash after Finish (before the report): resuming the checkpoint
	// taken at the end and finishing again gives the same image.
	w2, err := f.Resume(s, end)
	if err != nil {
		t.Fatalf("resume after finish: %v", err)
	}
	again, err := w2.Finish(sum)
	if err != nil {
		t.Fatalf("finish after resume: %v", err)
	}
	if !slices.EqualFunc(segs, again, func(a, b report.Segment) bool {
		return a.File == b.File && a.Offset == b.Offset && a.Length == b.Length && a.FileSize == b.FileSize && maps.Equal(a.Hashes, b.Hashes)
	}) {
		t.Fatalf("finish after a resume at the end gave %+v, the first finish %+v", again, segs)
	}
	files := checkSegments(t, f, s, plan, segs, n)

	r, err := f.Open(s.Root, files)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	if r.Size() != n {
		t.Fatalf("reader size %d, want %d", r.Size(), n)
	}
	checkReadAt(t, r, data, rng)
	if sr, ok := r.(format.StoredReader); ok {
		st := sr.Stored()
		for alg, want := range st.Hashes {
			if got := sum.Hashes[alg]; got != "" && got != want {
				t.Errorf("stored %s %s, the stream's is %s", alg, want, got)
			}
		}
	}
	if sc, ok := f.(format.Scanner); ok {
		checkScan(t, sc, s, files, segs, data)
	}
}

// checkKept reads the kept media (kept: the stream up to the checkpoint)
// whole, at random offsets and lengths, across and at its end.
func checkKept(t *testing.T, kr format.KeptReader, kept []byte, rng *rand.Rand) {
	t.Helper()
	n := int64(len(kept))
	all := make([]byte, n)
	if k, err := kr.ReadKeptAt(all, 0); int64(k) != n || (err != nil && err != io.EOF) {
		t.Fatalf("ReadKeptAt(all %d kept bytes): %d, %v", n, k, err)
	}
	if !bytes.Equal(all, kept) {
		t.Fatalf("the kept media differs from the stream (first difference at %d)", firstDiff(all, kept))
	}
	for range 20 {
		if n == 0 {
			break
		}
		off := rng.Int64N(n)
		p := make([]byte, rng.Int64N(min(n-off, 200_000))+1)
		if k, err := kr.ReadKeptAt(p, off); k != len(p) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadKeptAt(%d bytes at %d of %d kept): %d, %v", len(p), off, n, k, err)
		}
		if !bytes.Equal(p, kept[off:off+int64(len(p))]) {
			t.Fatalf("ReadKeptAt(%d bytes at %d) differs from the stream", len(p), off)
		}
	}
	// Nothing past the checkpoint is kept, whatever the files hold there.
	if k, err := kr.ReadKeptAt(make([]byte, 10), n); k != 0 || err != io.EOF {
		t.Errorf("ReadKeptAt at the checkpoint (%d): %d, %v; want 0, io.EOF", n, k, err)
	}
	if n > 0 {
		p := make([]byte, 1000)
		off := max(0, n-500)
		k, err := kr.ReadKeptAt(p, off)
		if int64(k) != n-off || err != io.EOF || !bytes.Equal(p[:k], kept[off:]) {
			t.Errorf("ReadKeptAt(1000 bytes at %d, across the checkpoint at %d): %d, %v; want %d bytes, io.EOF", off, n, k, err, n-off)
		}
	}
}

// folderDigest names every file of the folder with its size, mode and
// SHA-256: equal digests mean nothing in it changed.
func folderDigest(t *testing.T, root *os.Root) string {
	t.Helper()
	d, err := root.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, name := range names {
		fi, err := root.Lstat(name)
		if err != nil {
			t.Fatal(err)
		}
		content, _ := root.ReadFile(name)
		sum := sha256.Sum256(content)
		fmt.Fprintf(&b, "%s %v %d %x\n", name, fi.Mode(), fi.Size(), sum[:8])
	}
	return b.String()
}

func writeAll(t *testing.T, w format.Writer, p []byte, rng *rand.Rand) {
	t.Helper()
	for len(p) > 0 {
		k := min(len(p), 1+rng.IntN(1<<20))
		buf := bytes.Clone(p[:k])
		if err := w.Write(buf); err != nil {
			t.Fatalf("write: %v", err)
		}
		// The caller owns p after Write: a writer that kept it would see
		// this.
		for i := range buf {
			buf[i] = 0xEE
		}
		p = p[k:]
	}
}

func hashesOf(data []byte) report.Hashes {
	m := hashing.NewMulti(hashing.Set{hashing.MD5, hashing.SHA1, hashing.SHA256})
	m.Write(data)
	return report.Hashes(m.Sums())
}

func checkPartialNames(t *testing.T, f format.Format, s format.Spec, partial []report.Segment) {
	t.Helper()
	for _, p := range partial {
		fi, err := s.Root.Lstat(p.File)
		if err != nil {
			t.Errorf("partial segment %s: %v", p.File, err)
			continue
		}
		if !f.Owns(s.Name, p.File) {
			t.Errorf("the format does not own its partial file %s", p.File)
		}
		if fi.Size() < p.FileSize {
			t.Errorf("partial %s has %d bytes, Partial says %d", p.File, fi.Size(), p.FileSize)
		}
	}
}

// checkSegments checks the finished segment list against the folder and
// returns the file names in order.
func checkSegments(t *testing.T, f format.Format, s format.Spec, plan format.Plan, segs []report.Segment, n int64) []string {
	t.Helper()
	if len(segs) == 0 {
		t.Fatal("no segments")
	}
	if len(segs) > plan.Segments {
		t.Errorf("%d segments, the plan said at most %d", len(segs), plan.Segments)
	}
	var total, off int64
	var files []string
	for _, sg := range segs {
		files = append(files, sg.File)
		if !f.Owns(s.Name, sg.File) {
			t.Errorf("the format does not own its segment %s", sg.File)
		}
		if sg.Offset != off {
			t.Errorf("segment %s at media offset %d, want %d", sg.File, sg.Offset, off)
		}
		off += sg.Length
		fi, err := s.Root.Lstat(sg.File)
		if err != nil {
			t.Fatalf("segment %s: %v", sg.File, err)
		}
		if fi.Size() != sg.FileSize {
			t.Errorf("segment %s has %d bytes, the list says %d", sg.File, fi.Size(), sg.FileSize)
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("finished segment %s is writable (%v)", sg.File, fi.Mode().Perm())
		}
		if s.SegmentSize > 0 && sg.FileSize > s.SegmentSize && len(segs) > 1 {
			t.Errorf("segment %s has %d bytes, more than the segment size %d", sg.File, sg.FileSize, s.SegmentSize)
		}
		b, err := s.Root.ReadFile(sg.File)
		if err != nil {
			t.Fatal(err)
		}
		if want := sg.Hashes["sha256"]; want != "" {
			got := sha256.Sum256(b)
			if hex.EncodeToString(got[:]) != want {
				t.Errorf("segment %s sha256 differs from the list's", sg.File)
			}
		} else {
			t.Errorf("segment %s has no sha256 although SegmentHashes asked for one", sg.File)
		}
		total += fi.Size()
	}
	if off != n {
		t.Errorf("segments cover %d media bytes, want %d", off, n)
	}
	if total > plan.MaxBytes+64<<10 && n > 0 {
		t.Errorf("the image takes %d bytes, the plan said at most %d", total, plan.MaxBytes)
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(files, e.Name()) {
			t.Errorf("left in the folder after Finish: %s", e.Name())
		}
	}
	return files
}

func checkReadAt(t *testing.T, r format.Reader, data []byte, rng *rand.Rand) {
	t.Helper()
	n := int64(len(data))
	all := make([]byte, n)
	if k, err := r.ReadAt(all, 0); int64(k) != n || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(all): %d bytes, %v", k, err)
	}
	if !bytes.Equal(all, data) {
		t.Fatalf("the image's media differs from the stream written (first difference at %d)", firstDiff(all, data))
	}
	for range 50 {
		if n == 0 {
			break
		}
		off := rng.Int64N(n)
		p := make([]byte, rng.Int64N(min(n-off, 200_000))+1)
		k, err := r.ReadAt(p, off)
		if k != len(p) {
			t.Fatalf("ReadAt(%d bytes at %d): %d, %v", len(p), off, k, err)
		}
		if !bytes.Equal(p, data[off:off+int64(len(p))]) {
			t.Fatalf("ReadAt(%d bytes at %d) differs from the stream", len(p), off)
		}
	}
	if k, err := r.ReadAt(make([]byte, 10), n); k != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end: %d, %v; want 0, io.EOF", k, err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

type visitor struct {
	t     *testing.T
	files []*bytes.Buffer
	sizes []int64
	errs  []error
	media bytes.Buffer
}

func (v *visitor) BeginFile(i int) io.Writer { return v.files[i] }
func (v *visitor) EndFile(i int, size int64, err error) {
	v.sizes[i], v.errs[i] = size, err
}
func (v *visitor) Media(p []byte) error { v.media.Write(p); return nil }

func checkScan(t *testing.T, sc format.Scanner, s format.Spec, files []string, segs []report.Segment, data []byte) {
	t.Helper()
	v := &visitor{t: t, files: make([]*bytes.Buffer, len(files)), sizes: make([]int64, len(files)), errs: make([]error, len(files))}
	for i := range files {
		v.files[i] = new(bytes.Buffer)
	}
	if err := sc.Scan(context.Background(), s.Root, files, v); err != nil {
		t.Fatalf("scan: %v", err)
	}
	for i, name := range files {
		if v.errs[i] != nil {
			t.Errorf("scan of %s: %v", name, v.errs[i])
		}
		b, _ := s.Root.ReadFile(name)
		if !bytes.Equal(v.files[i].Bytes(), b) || v.sizes[i] != segs[i].FileSize {
			t.Errorf("scan handed on %d bytes of %s (size %d), the file has %d", v.files[i].Len(), name, v.sizes[i], len(b))
		}
	}
	if !bytes.Equal(v.media.Bytes(), data) {
		t.Errorf("scan's media differs from the stream (%d bytes, want %d; first difference at %d)", v.media.Len(), len(data), firstDiff(v.media.Bytes(), data))
	}
}

// ownsOnlyItsOwn: files of another image name, or reports, are not the
// format's.
func ownsOnlyItsOwn(t *testing.T, f format.Format) {
	for _, file := range []string{"ev.report.json", "ev.journal", "ev", "other.001", "other.E01", "ev.txt", "evx.001", "ev.map", "ev.lock"} {
		if f.Owns("ev", file) {
			t.Errorf("%s claims %q for an image named ev", f.Name(), file)
		}
	}
}
