package ewf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format/formattest"
	"github.com/custodian-forensics/custodian/report"
)

// TestLibewfReadsWriterOutput: libewf 20140813 (ewfverify, ewfinfo,
// ewfexport) and The Sleuth Kit (img_stat) accept what the writer makes,
// in every shape: tiny, empty, a chunk count that is not a multiple of the
// group size, several segments, 4096-byte sectors, each compression, and
// unreadable ranges in error2.
func TestLibewfReadsWriterOutput(t *testing.T) {
	requireTools(t, "ewf-tools", "ewfverify", "ewfinfo", "ewfexport")
	requireTools(t, "sleuthkit", "img_stat")
	zerosWithData := func(n int64) []byte {
		b := make([]byte, n)
		copy(b[n/3:], formattest.Media(1<<20, 9))
		return b
	}
	cases := []struct {
		name       string
		size       int64
		sector     int
		seg        int64
		comp       string
		data       func(int64) []byte
		unreadable []report.Range
		export     bool
		removable  bool
	}{
		{name: "tiny", size: 512, sector: 512, comp: "fast", export: true},
		{name: "empty", size: 0, sector: 512, comp: "fast"},
		{name: "raw-groups", size: 600*32768 + 4096, sector: 512, comp: "none", export: true}, // 511 + 90 chunks
		{name: "group-cap", size: (maxGroupEntries + 100) * 32768, sector: 512, comp: "fast", data: zerosWithData},
		{name: "segments", size: 5 << 20, sector: 512, seg: 1 << 20, comp: "none", export: true},
		{name: "segments-fast", size: 6<<20 + 1536, sector: 512, seg: 300_000, comp: "fast", export: true},
		{name: "4k-best", size: 2<<20 + 8192, sector: 4096, comp: "best", export: true},
		{name: "4k-segments", size: 3 << 20, sector: 4096, seg: 1 << 20, comp: "none", export: true},
		{name: "empty-block", size: 3<<20 + 512, sector: 512, comp: "empty", export: true},
		{name: "default", size: 3<<20 + 512, sector: 512, comp: "", export: true},
		{name: "unreadable", size: 2 << 20, sector: 512, comp: "fast", export: true, removable: true,
			unreadable: []report.Range{{Offset: 4096, Length: 512}, {Offset: 1 << 20, Length: 65536}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := formattest.Media(c.size, uint64(c.size))
			if c.data != nil {
				data = c.data(c.size)
			}
			s := newSpec(t, c.size, c.sector, c.seg, c.comp)
			s.Case.Description = "Ünïcode descr"
			s.Source.Removable = c.removable
			im := writeImage(t, s, data, c.unreadable)
			if c.seg > 0 && len(im.files) < 2 {
				t.Fatalf("%d segment for a %d-byte segment size", len(im.files), c.seg)
			}
			first := abs(t, im.dir, im.files[0])

			out := run(t, im.dir, "ewfverify", "-q", "-d", "sha1", first)
			if !strings.Contains(out, "ewfverify: SUCCESS") {
				t.Errorf("ewfverify -d sha1:\n%s", out)
			}
			for _, h := range []string{"MD5 hash stored in file:\t\t" + im.sums["md5"], "SHA1 hash stored in file:\t\t" + im.sums["sha1"]} {
				if !strings.Contains(out, h) {
					t.Errorf("ewfverify lacks %q:\n%s", h, out)
				}
			}

			info := run(t, im.dir, "ewfinfo", first)
			want := []string{
				"File format:\t\tEnCase 6", "Case number:\t\tCASE-1", "Evidence number:\tEV-1",
				"Examiner name:\t\tExaminer", "Description:\t\tÜnïcode descr", "Notes:\t\t\tn",
				"Model:\t\t\tModel", "Serial number:\t\tSERIAL", "Software version used:\ttest",
				"Operating system used:\tLinux", "MD5:\t\t\t" + im.sums["md5"], "SHA1:\t\t\t" + im.sums["sha1"],
				fmt.Sprintf("Bytes per sector:\t%d", c.sector), fmt.Sprintf("(%d bytes)", c.size),
				"Acquisition date:\tTue Dec  1 10:00:00 2026", "Error granularity:\t1",
			}
			if c.removable {
				want = append(want, "Media type:\t\tremovable disk", "Is physical:\t\tno")
			} else {
				want = append(want, "Media type:\t\tfixed disk")
			}
			for _, r := range c.unreadable {
				first, end := r.Offset/int64(c.sector), (r.Offset+r.Length)/int64(c.sector)
				want = append(want, fmt.Sprintf("at sector(s): %d - %d number: %d", first, end-1, end-first))
			}
			if len(c.unreadable) > 0 {
				want = append(want, "Read errors during acquiry")
			}
			for _, w := range want {
				if !strings.Contains(info, w) {
					t.Errorf("ewfinfo lacks %q:\n%s", w, info)
				}
			}

			if c.export {
				target := filepath.Join(t.TempDir(), "export")
				run(t, im.dir, "ewfexport", "-q", "-u", "-f", "raw", "-t", target, first)
				got, err := os.ReadFile(target + ".raw")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("ewfexport gives %d bytes that differ from the %d written", len(got), len(data))
				}
			}

			if st := run(t, im.dir, "img_stat", first); !regexp.MustCompile(`Image Type:\s+ewf`).MatchString(st) ||
				!strings.Contains(st, fmt.Sprintf("Size of data in bytes:\t%d", c.size)) {
				t.Errorf("img_stat does not read it as EWF:\n%s", st)
			}

			// And our own reader agrees with Glob and Stored.
			files, err := Glob(im.root, im.files[0])
			if err != nil || strings.Join(files, ",") != strings.Join(im.files, ",") {
				t.Fatalf("Glob: %v, %v; want %v", files, err, im.files)
			}
		})
	}
}
