package ewf

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
)

// wordText is n bytes of random words: every chunk compresses, none is
// constant.
func wordText(n int, seed uint64) []byte {
	words := strings.Fields("custodian forensic image evidence sector chunk table volume examiner case notes serial model device acquisition hash")
	rng := rand.New(rand.NewPCG(seed, 1))
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, ' ')
	}
	return b[:n]
}

// sections lists the descriptors of a segment file.
func sections(t *testing.T, b []byte) []desc {
	t.Helper()
	var out []desc
	for off := int64(fileHeaderSize); ; {
		d, err := parseDesc(b[off:off+descSize], off, int64(len(b)))
		if err != nil {
			t.Fatalf("section at %d: %v", off, err)
		}
		out = append(out, d)
		if d.typ == "done" || d.typ == "next" {
			return out
		}
		off = d.next
	}
}

func findSection(t *testing.T, b []byte, typ string) desc {
	t.Helper()
	for _, d := range sections(t, b) {
		if d.typ == typ {
			return d
		}
	}
	t.Fatalf("no %s section", typ)
	return desc{}
}

// TestDamageIsNamed: a flipped byte in a chunk, in a table's entry array
// or in a section descriptor of the second segment gives a *format.Damage
// naming that file and the chunk or section, from Open/ReadAt and from
// Scan; the first file scans clean.
func TestDamageIsNamed(t *testing.T) {
	text := wordText(1<<20, 4)
	for _, c := range []struct {
		name, comp string
		data       []byte
	}{{"raw", "none", formattest.Media(1<<20, 3)}, {"zlib", "fast", text}} {
		for _, what := range []string{"chunk", "table", "descriptor"} {
			t.Run(c.name+"/"+what, func(t *testing.T) {
				t.Parallel()
				seg := int64(300_000)
				if c.comp == "fast" {
					seg = 80_000
				}
				s := newSpec(t, int64(len(c.data)), 512, seg, c.comp)
				im := writeImage(t, s, c.data, nil)
				if len(im.files) < 2 {
					t.Fatalf("%d segments", len(im.files))
				}
				target := im.files[1]
				path := filepath.Join(im.dir, target)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var pos int64
				var where string
				switch what {
				case "chunk":
					d := findSection(t, b, "sectors")
					pos = d.off + descSize + 10
					where = fmt.Sprintf("chunk %d", im.segs[1].Offset/32768)
				case "table":
					d := findSection(t, b, "table")
					pos = d.off + descSize + tableHeadSize + 1
					where = fmt.Sprintf("table at offset %#x", d.off)
				case "descriptor":
					d := findSection(t, b, "table2")
					pos = d.off + 17
					where = fmt.Sprintf("section header at offset %#x", d.off)
				}
				b[pos] ^= 0x40
				if err := os.Chmod(path, 0o640); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o640); err != nil {
					t.Fatal(err)
				}

				checkDamage := func(from string, err error) {
					t.Helper()
					var d *format.Damage
					if !errors.As(err, &d) {
						t.Fatalf("%s: %v is not a *format.Damage", from, err)
					}
					if d.File != target || d.Where != where {
						t.Errorf("%s: damage in %s at %q, want %s at %q (%v)", from, d.File, d.Where, target, where, err)
					}
				}
				r, err := Format{}.Open(im.root, im.files)
				if what == "chunk" {
					if err != nil {
						t.Fatalf("open: %v", err)
					}
					buf := make([]byte, r.Size())
					_, err = r.ReadAt(buf, 0)
					r.Close()
				}
				checkDamage("open/read", err)

				v := scanAll(t, im.root, im.files)
				if v.errs[0] != nil {
					t.Errorf("scan of the intact first file: %v", v.errs[0])
				}
				checkDamage("scan", v.errs[1])
				if int64(v.files[1].Len()) != int64(len(b)) || v.sizes[1] != int64(len(b)) {
					t.Errorf("scan hashed %d bytes of the damaged file (size %d), it has %d", v.files[1].Len(), v.sizes[1], len(b))
				}
				if v.media.Len() >= len(c.data) {
					t.Errorf("scan handed on the whole media despite the damage")
				}
			})
		}
	}
}

// TestIncompleteSet: a set missing its last segment, or followed by a
// stale extra one, is damage naming the file where the chain breaks.
func TestIncompleteSet(t *testing.T) {
	data := formattest.Media(1<<20, 6)
	s := newSpec(t, int64(len(data)), 512, 300_000, "none")
	im := writeImage(t, s, data, nil)
	if len(im.files) < 3 {
		t.Fatalf("%d segments", len(im.files))
	}
	short := im.files[:len(im.files)-1]
	_, err := Format{}.Open(im.root, short)
	var d *format.Damage
	if !errors.As(err, &d) || d.File != short[len(short)-1] || !strings.Contains(err.Error(), "later segment is missing") {
		t.Errorf("open without the last segment: %v", err)
	}
	v := scanAll(t, im.root, short)
	if !errors.As(v.errs[len(short)-1], &d) || d.File != short[len(short)-1] {
		t.Errorf("scan without the last segment: %v", v.errs)
	}

	stale := SegmentName("ev", len(im.files)+1)
	if err := os.WriteFile(filepath.Join(im.dir, stale), []byte("EVF\x09\x0d\x0a\xff\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := Glob(im.root, "ev.E01")
	if err != nil || len(files) != len(im.files)+1 {
		t.Fatalf("Glob: %v, %v", files, err)
	}
	if _, err := (Format{}).Open(im.root, files); !errors.As(err, &d) || d.File != im.files[len(im.files)-1] {
		t.Errorf("open with a stale extra segment: %v", err)
	}
}
