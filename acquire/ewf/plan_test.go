package ewf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
)

func TestPlanGeometry(t *testing.T) {
	const tib = int64(1) << 40
	for _, c := range []struct {
		size   int64
		sector int
		note   string
	}{
		{1 << 30, 512, "EWF chunks of 64 sectors (32 KiB)"},
		{maxVolumeChunks * 32768, 512, "EWF chunks of 64 sectors (32 KiB)"},
		{maxVolumeChunks*32768 + 512, 512, "EWF chunks of 128 sectors (64 KiB)"},
		{10 * tib, 512, "EWF chunks of 256 sectors (128 KiB)"},
		{20 * tib, 512, "EWF chunks of 512 sectors (256 KiB)"},
		{1 << 30, 4096, "EWF chunks of 8 sectors (32 KiB)"},
		{6 * tib, 4096, "EWF chunks of 16 sectors (64 KiB)"},
	} {
		s := format.Spec{MediaSize: c.size, SectorSize: c.sector, Name: "ev"}
		p, err := Format{}.Plan(s)
		if err != nil {
			t.Errorf("%d bytes of %d-byte sectors: %v", c.size, c.sector, err)
			continue
		}
		if p.Notes[0] != c.note {
			t.Errorf("%d bytes of %d-byte sectors: %q, want %q", c.size, c.sector, p.Notes[0], c.note)
		}
		if !slices.Equal(p.NeedHashes, hashing.Set{hashing.MD5, hashing.SHA1}) || p.Compression != "fast" || p.Segments != 1 {
			t.Errorf("plan %+v", p)
		}
		if p.MaxBytes < c.size {
			t.Errorf("MaxBytes %d below the media size %d", p.MaxBytes, c.size)
		}
		if has := len(p.Notes) > 1 && strings.Contains(p.Notes[1], "4294967296"); has != (c.size/int64(c.sector) > 1<<32) {
			t.Errorf("%d bytes: notes %q", c.size, p.Notes)
		}
	}
}

func TestPlanRefuses(t *testing.T) {
	const tib = int64(1) << 40
	for _, c := range []struct {
		name string
		spec format.Spec
		hint string
	}{
		{"partial sector", format.Spec{MediaSize: 1000, SectorSize: 512}, "--format raw"},
		{"unknown compression", format.Spec{MediaSize: 1 << 20, SectorSize: 512, Compression: "zstd"}, "--compress none"},
		{"tiny segments", format.Spec{MediaSize: 1 << 20, SectorSize: 512, SegmentSize: 20_000}, "raise --segment-size"},
		{"past ZZZ", format.Spec{MediaSize: 1 << 30, SectorSize: 512, SegmentSize: 40_000}, "raise --segment-size"},
		{"too many chunks", format.Spec{MediaSize: 40 * tib, SectorSize: 512}, "--format raw"},
		{"odd sector", format.Spec{MediaSize: 520 * 10, SectorSize: 520}, "--format raw"},
	} {
		c.spec.Name = "ev"
		_, err := Format{}.Plan(c.spec)
		var h interface{ Hint() string }
		if !errors.Is(err, format.ErrSpec) || !errors.As(err, &h) || !strings.Contains(h.Hint(), c.hint) {
			t.Errorf("%s: %v (hint %q), want ErrSpec with a hint %q", c.name, err, hint(h), c.hint)
		}
	}
}

func hint(h interface{ Hint() string }) string {
	if h == nil {
		return ""
	}
	return h.Hint()
}

// TestPlanSegmentsBound: the planned segment count and size are upper
// bounds for incompressible media.
func TestPlanSegmentsBound(t *testing.T) {
	s := newSpec(t, 3<<20, 512, 200_000, "none")
	p, err := Format{}.Plan(s)
	if err != nil {
		t.Fatal(err)
	}
	im := writeImage(t, s, make([]byte, 3<<20), nil)
	var total int64
	for _, sg := range im.segs {
		total += sg.FileSize
	}
	if len(im.segs) > p.Segments || total > p.MaxBytes {
		t.Errorf("%d segments, %d bytes; the plan said at most %d, %d", len(im.segs), total, p.Segments, p.MaxBytes)
	}
	if p.Segments > len(im.segs)+2 {
		t.Errorf("plan of %d segments for %d written: too pessimistic", p.Segments, len(im.segs))
	}
}

func TestNames(t *testing.T) {
	for n, want := range map[int]string{1: "E01", 9: "E09", 99: "E99", 100: "EAA", 101: "EAB", 125: "EAZ", 126: "EBA", 775: "EZZ", 776: "FAA", 14971: "ZZZ"} {
		if got, ok := extension(n); !ok || got != want {
			t.Errorf("segment %d: %q, want %q", n, got, want)
		}
	}
	if _, ok := extension(14972); ok {
		t.Error("segment 14972 has a name")
	}
	for n := 1; n <= maxSegments; n++ {
		ext, _ := extension(n)
		if back, ok := extensionNumber(ext); !ok || back != n {
			t.Fatalf("%s parses as %d, want %d", ext, back, n)
		}
	}
	f := Format{}
	for _, own := range []string{"ev.E01", "ev.E99", "ev.EAA", "ev.ZZZ", "ev.E01.partial", "ev.FAB.partial"} {
		if !f.Owns("ev", own) {
			t.Errorf("does not own %s", own)
		}
	}
	for _, other := range []string{"ev.E00", "ev.e01", "ev.E1", "ev.E001", "ev.D01", "ev.EA1", "ev.E01.part", "ev.E01.partial.partial", "evx.E01", "ev.E01x", "ev.001", "other.E01", "ev"} {
		if f.Owns("ev", other) {
			t.Errorf("owns %s", other)
		}
	}
}

func TestGlob(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	touch := func(names ...string) {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	for n := 1; n <= 101; n++ {
		names = append(names, SegmentName("a", n))
	}
	touch(names...)
	touch("a.E103", "a.EAC.partial", "b.e01", "b.e02", "b.e04")
	if got, err := Glob(root, "a.E01"); err != nil || !slices.Equal(got, names) {
		t.Errorf("Glob a.E01: %d files (%v), want %d ending in a.EAB", len(got), err, len(names))
	}
	if got, err := Glob(root, "b.e01"); err != nil || !slices.Equal(got, []string{"b.e01", "b.e02"}) {
		t.Errorf("Glob b.e01: %v, %v", got, err)
	}
	if _, err := Glob(root, "a.E02"); err == nil {
		t.Error("Glob accepted a first name that is not .E01")
	}
	if _, err := Glob(root, "c.E01"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Glob of a missing set: %v", err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "d.E01")); err != nil {
		t.Fatal(err)
	}
	if _, err := Glob(root, "d.E01"); err == nil {
		t.Error("Glob accepted a symbolic link")
	}
}

func TestNoSpaceIsMarked(t *testing.T) {
	err := ioErr("write", "ev.E01.partial", &os.PathError{Op: "write", Path: "ev.E01.partial", Err: syscall.ENOSPC})
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%v does not wrap ErrNoSpace and ENOSPC", err)
	}
	if err := ioErr("write", "x", syscall.EIO); errors.Is(err, ErrNoSpace) {
		t.Errorf("EIO marked as a full destination: %v", err)
	}
}
