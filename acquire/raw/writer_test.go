package raw

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
)

// aligned returns n random bytes starting at a 4096-aligned address, as the
// acquisition pipeline's pooled buffers do.
func aligned(n int) []byte {
	b := blockdev.AlignedBuffer(n, directAlign)
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func supportsDirect(t *testing.T, dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(filepath.Join(dir, "probe"))
	return true
}

// TestDirectWrites: aligned data goes through the O_DIRECT descriptor
// (checked, not assumed), unaligned segment boundaries fall back to the
// buffered one, and the files hold exactly the stream.
func TestDirectWrites(t *testing.T) {
	dir := t.TempDir()
	if !supportsDirect(t, dir) {
		t.Skipf("%s has no O_DIRECT", dir)
	}
	data := aligned(1<<20 + 100)
	w := NewWriter(openRoot(t, dir), "img", 300_000, hashing.Set{hashing.SHA256}) // 300000 is not a multiple of 4096
	w.UseDirectIO()
	if err := w.Write(data[:65536]); err != nil {
		t.Fatal(err)
	}
	if w.dcur == nil {
		t.Fatal("no O_DIRECT descriptor on a filesystem that supports it")
	}
	fl, err := unixFcntlFlags(w.dcur)
	if err != nil || fl&syscall.O_DIRECT == 0 {
		t.Fatalf("the direct descriptor lacks O_DIRECT: flags %#o, %v", fl, err)
	}
	for off := 65536; off < len(data); off += 65536 {
		if err := w.Write(data[off:min(off+65536, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 4", len(segs))
	}
	var all []byte
	for _, s := range segs {
		b, err := os.ReadFile(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(dir, s.File))
		if fi.Mode().Perm() != 0o440 {
			t.Errorf("%s mode %v, want 0440", s.File, fi.Mode().Perm())
		}
		all = append(all, b...)
	}
	if !bytes.Equal(all, data) {
		t.Fatal("segments differ from the stream")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*"+PartialSuffix)); len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
}

// TestNoOverwrite: a segment file that exists is never overwritten.
func TestNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "img.001"+PartialSuffix)
	os.WriteFile(victim, []byte("evidence"), 0o600)
	w := NewWriter(openRoot(t, dir), "img", 0, nil)
	if err := w.Write([]byte("x")); err == nil {
		t.Fatal("wrote over an existing segment file")
	}
	if b, _ := os.ReadFile(victim); string(b) != "evidence" {
		t.Fatalf("existing file changed: %q", b)
	}
	os.Remove(victim)
	os.WriteFile(filepath.Join(dir, "img.001"), []byte("older image"), 0o600)
	w = NewWriter(openRoot(t, dir), "img", 0, nil)
	if err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); err == nil {
		t.Fatal("Finish renamed over an existing final segment")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "img.001")); string(b) != "older image" {
		t.Fatalf("existing final segment changed: %q", b)
	}
}

// TestResumeTruncatesAfterCheckpoint: bytes written after the saved state
// are discarded on resume, and the result equals an uninterrupted write.
func TestResumeTruncatesAfterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	data := aligned(200_000)
	w := NewWriter(openRoot(t, dir), "img", 70_000, hashing.Set{hashing.MD5})
	w.UseDirectIO()
	w.Write(data[:100_000])
	st, err := w.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[100_000:150_000]) // lost in the "crash"
	w.Abort()

	r, err := Resume(openRoot(t, dir), "img", 70_000, hashing.Set{hashing.MD5}, st)
	if err != nil {
		t.Fatal(err)
	}
	r.UseDirectIO()
	if err := r.Write(data[100_000:]); err != nil {
		t.Fatal(err)
	}
	segs, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	ref := NewWriter(openRoot(t, t.TempDir()), "ref", 70_000, hashing.Set{hashing.MD5})
	ref.Write(data)
	want, _ := ref.Finish()
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d", len(segs), len(want))
	}
	for i := range segs {
		if segs[i].Hashes["md5"] != want[i].Hashes["md5"] || segs[i].Length != want[i].Length {
			t.Errorf("segment %d: %+v, want %+v", i, segs[i], want[i])
		}
	}
}

// TestResumeAtSegmentBoundary: a state saved right after a segment was
// closed says the next segment holds nothing yet (an earlier version kept
// the closed segment's length), and resuming from it works.
func TestResumeAtSegmentBoundary(t *testing.T) {
	dir := t.TempDir()
	data := aligned(300_000)
	w := NewWriter(openRoot(t, dir), "img", 100_000, hashing.Set{hashing.SHA1})
	w.Write(data[:200_000])
	st, err := w.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Closed) != 2 || st.Current != 0 || st.Offset != 200_000 {
		t.Fatalf("state at a segment boundary: %d closed, current %d, offset %d; want 2, 0, 200000", len(st.Closed), st.Current, st.Offset)
	}
	w.Write(data[200_000:250_000]) // started segment 3, lost in the "crash"
	w.Abort()
	r, err := Resume(openRoot(t, dir), "img", 100_000, hashing.Set{hashing.SHA1}, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(data[200_000:]); err != nil {
		t.Fatal(err)
	}
	segs, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, segs[2].File))
	if len(segs) != 3 || !bytes.Equal(got, data[200_000:]) {
		t.Fatalf("%d segments; third holds %d bytes", len(segs), len(got))
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
