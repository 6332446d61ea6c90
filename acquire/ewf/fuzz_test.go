package ewf

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
)

// fuzzMediaCap is how much media a fuzz case reads: a few table entries
// may claim gigabytes of zeros.
const fuzzMediaCap = 4 << 20

var errEnough = errors.New("enough media")

type capVisitor struct{ n int }

func (v *capVisitor) BeginFile(int) io.Writer   { return io.Discard }
func (v *capVisitor) EndFile(int, int64, error) {}
func (v *capVisitor) Media(p []byte) error {
	v.n += len(p)
	if v.n > fuzzMediaCap {
		return errEnough
	}
	return nil
}

// FuzzOpen opens arbitrary bytes as a one-segment set, reads its media
// (up to a cap) and what it stores, and scans it: errors, never panics,
// and no allocation beyond the readers' caps.
func FuzzOpen(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, one exec per
	// candidate, which takes minutes for files of 100 KB.
	for _, c := range []struct {
		size int64
		comp string
	}{{0, "fast"}, {512, "none"}, {1024, "best"}, {33280, "fast"}, {66048, "empty"}} {
		s := newSpec(f, c.size, 512, 0, c.comp)
		im := writeImage(f, s, formattest.Media(c.size, 1), nil)
		b, err := os.ReadFile(filepath.Join(im.dir, im.files[0]))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// One folder for every case of this process (cases run one at a time).
	dir := f.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { root.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "ev.E01"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		files := []string{"ev.E01"}
		if r, err := (Format{}).Open(root, files); err == nil {
			buf := make([]byte, 64<<10)
			for off := int64(0); off < min(r.Size(), fuzzMediaCap); off += int64(len(buf)) {
				if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
					var d *format.Damage
					if !errors.As(err, &d) {
						t.Fatalf("read error that is not damage: %v", err)
					}
					break
				}
			}
			_ = r.(format.StoredReader).Stored()
			r.Close()
		}
		if err := (Format{}).Scan(context.Background(), root, files, &capVisitor{}); err != nil && !errors.Is(err, errEnough) {
			t.Fatalf("scan: %v", err)
		}
	})
}
