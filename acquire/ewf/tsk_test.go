package ewf

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// TestSampleDiskReadByTSK: the sample disk (testdata/sample.img: an MBR
// with two FAT volumes and a deleted SECRET.TXT), written through the
// writer in small segments, is read by The Sleuth Kit through libewf:
// img_stat sees an EWF image of the whole size, mmls finds both
// partitions, and icat recovers the deleted file (inode 10 of the first
// volume) across the segments, with the sha256 testdata/README.md gives.
func TestSampleDiskReadByTSK(t *testing.T) {
	requireTools(t, "sleuthkit", "img_stat", "mmls", "icat")
	data, err := os.ReadFile("../../testdata/sample.img")
	if err != nil {
		t.Fatal(err)
	}
	s := newSpec(t, int64(len(data)), 512, 100<<10, "fast")
	s.Source = format.Source{Path: "/dev/sample", Model: "Sample", Serial: "S1", Block: true, PartitionTable: true}
	im := writeImage(t, s, data, nil)
	if len(im.files) < 3 {
		t.Fatalf("%d segments; the test wants several", len(im.files))
	}
	first := abs(t, im.dir, im.files[0])
	st := run(t, im.dir, "img_stat", "-i", "ewf", first)
	if !regexp.MustCompile(`Image Type:\s+ewf`).MatchString(st) || !strings.Contains(st, "Size of data in bytes:\t8388608") {
		t.Errorf("img_stat:\n%s", st)
	}
	mm := run(t, im.dir, "mmls", "-i", "ewf", first)
	for _, want := range []string{"0000002048   0000008191   0000006144   DOS FAT12", "0000008704   0000014847   0000006144   DOS FAT16"} {
		if !strings.Contains(mm, want) {
			t.Errorf("mmls lacks %q:\n%s", want, mm)
		}
	}
	secret := run(t, im.dir, "icat", "-i", "ewf", "-o", "2048", first, "10")
	if sum := sha256.Sum256([]byte(secret)); hex.EncodeToString(sum[:]) != "296a7abbbc8ef9593b3b5325199b76f4ac8c340effd8832b55be2a4fad1ee8cf" {
		t.Errorf("deleted SECRET.TXT recovered through the E01 segments has sha256 %x (%d bytes)", sum, len(secret))
	}
	if info := run(t, im.dir, "ewfinfo", first); !strings.Contains(info, "Is physical:\t\tyes") {
		t.Errorf("a whole disk with a partition table is not marked physical:\n%s", info)
	}
}
