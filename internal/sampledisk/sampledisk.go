package sampledisk

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	// SectorSize is the logical sector size of the sample disk.
	SectorSize = 512
	// Size is the size of the sample disk in bytes: 8 MiB, 16384 sectors.
	Size = 8 << 20
	// Sectors is Size in sectors.
	Sectors = Size / SectorSize
	// DiskSignature is the MBR disk signature (offset 440).
	DiskSignature = 0xC0570D1A

	// CHS geometry used for the MBR CHS fields and the FAT BPBs.
	heads           = 64
	sectorsPerTrack = 32
)

// Partition describes one MBR partition of the sample disk.
type Partition struct {
	Slot    int    // 0-based MBR slot
	Start   uint32 // first LBA
	Sectors uint32 // length in sectors
	Type    byte   // MBR partition type
	FAT     int    // 12 or 16
	Label   string // volume label
	Serial  uint32 // volume serial number
	// SectorsPerCluster of the FAT volume.
	SectorsPerCluster uint8
}

// Partitions returns the partition table of the sample disk.
func Partitions() []Partition {
	return []Partition{
		{Slot: 0, Start: 2048, Sectors: 6144, Type: 0x01, FAT: 12, Label: "EVIDENCE1", Serial: 0xC0DE0001, SectorsPerCluster: 2},
		{Slot: 1, Start: 8704, Sectors: 6144, Type: 0x04, FAT: 16, Label: "EVIDENCE2", Serial: 0xC0DE0002, SectorsPerCluster: 1},
	}
}

// Unallocated regions of the disk outside the MBR gap (sectors 1-2047,
// all zero) are filled with UnallocatedPattern, one line per sector start.
var unallocated = [][2]uint32{{8192, 8704}, {14848, Sectors}}

// LostPNGLBA is where a PNG that belongs to no file system lies in the
// unallocated gap between the partitions, for carving demos.
const LostPNGLBA = 8208

// File is one file the sample disk holds, as the manifest lists it.
type File struct {
	// Partition is 1 or 2 for files in a volume, 0 for data in
	// unallocated disk space (then LBA says where it starts).
	Partition int
	// Path is the long-name path from the volume root, e.g.
	// "/DOCS/Chain of Custody.csv".
	Path      string
	ShortName string // 8.3 name in the directory entry
	Data      []byte
	Deleted   bool // directory entry marked 0xE5, clusters free
	Modified  time.Time
	Clusters  []uint32 // data clusters in order (fragmented ones included)
	LBA       uint32   // only for Partition 0
}

// Build writes the sample disk image to w. Same output on every run, every
// machine.
func Build(w io.Writer) error {
	img, _, err := build()
	if err != nil {
		return err
	}
	_, err = w.Write(img)
	return err
}

// Files returns the manifest: every file on the disk, deleted and lost
// ones included, in the order they were written.
func Files() ([]File, error) {
	_, files, err := build()
	return files, err
}

func build() ([]byte, []File, error) {
	img := make([]byte, Size)
	parts := Partitions()
	writeMBR(img[:SectorSize], parts)
	for _, r := range unallocated {
		for lba := r[0]; lba < r[1]; lba++ {
			fillPattern(img[lba*SectorSize:(lba+1)*SectorSize], lba)
		}
	}
	lost := lostPNG()
	copy(img[LostPNGLBA*SectorSize:], lost)
	files := []File{}
	for i, p := range parts {
		vol, vf, err := buildVolume(i+1, p)
		if err != nil {
			return nil, nil, err
		}
		copy(img[int(p.Start)*SectorSize:], vol)
		files = append(files, vf...)
	}
	files = append(files, File{Path: "(unallocated)", Data: lost, LBA: LostPNGLBA})
	return img, files, nil
}

// UnallocatedPattern returns the text a sector at lba of unallocated disk
// space starts with; the sector repeats it to its end.
func UnallocatedPattern(lba uint32) string {
	return fmt.Sprintf("CUSTODIAN-UNALLOCATED LBA %08d ", lba)
}

func fillPattern(sec []byte, lba uint32) {
	p := UnallocatedPattern(lba)
	for i := 0; i < len(sec); {
		i += copy(sec[i:], p)
	}
	sec[len(sec)-1] = '\n'
}

// chs encodes lba as the 3-byte MBR CHS address.
func chs(lba uint32) [3]byte {
	c := lba / (heads * sectorsPerTrack)
	h := lba / sectorsPerTrack % heads
	s := lba%sectorsPerTrack + 1
	if c > 1023 {
		c, h, s = 1023, 254, 63
	}
	return [3]byte{byte(h), byte(s) | byte(c>>8&3)<<6, byte(c)}
}

func writeMBR(b []byte, parts []Partition) {
	copy(b, bootStub(0x7C00, "custodian sample disk: there is no operating system here.\r\n"))
	binary.LittleEndian.PutUint32(b[440:], DiskSignature)
	for _, p := range parts {
		e := b[446+16*p.Slot:]
		e[0] = 0x00 // not active
		first, last := chs(p.Start), chs(p.Start+p.Sectors-1)
		copy(e[1:4], first[:])
		e[4] = p.Type
		copy(e[5:8], last[:])
		binary.LittleEndian.PutUint32(e[8:], p.Start)
		binary.LittleEndian.PutUint32(e[12:], p.Sectors)
	}
	b[510], b[511] = 0x55, 0xAA
}

// at returns a fixed time on 14 March 2024 (FAT times are local times
// without a zone; UTC is only a carrier here).
func at(h, m, s int) time.Time { return time.Date(2024, 3, 14, h, m, s, 0, time.UTC) }

func st(created, modified time.Time) stamp {
	return stamp{created: created, modified: modified, accessed: modified}
}

func buildVolume(n int, p Partition) ([]byte, []File, error) {
	v, err := newFATVolume(n, fatParams{
		fatBits:           p.FAT,
		totalSectors:      p.Sectors,
		hiddenSectors:     p.Start,
		sectorsPerCluster: p.SectorsPerCluster,
		rootEntries:       512,
		serial:            p.Serial,
		label:             p.Label,
		formatted:         at(9, 0, 0),
	})
	if err != nil {
		return nil, nil, err
	}
	if n == 1 {
		fillVolume1(v)
	} else {
		fillVolume2(v)
	}
	img, err := v.finish()
	return img, v.files, err
}

// Volume 1 (FAT12): a README, a long file name, a subdirectory, a large
// pseudo-random file and a deleted file.
func fillVolume1(v *fatVolume) {
	r := v.root
	r.addFile("", "README.TXT", []byte(readme1), attrReadOnly, st(at(9, 1, 0), at(9, 1, 0)))
	r.addFile("Case Notes.txt", "CASENO~1.TXT", []byte(caseNotes), 0, st(at(9, 26, 53), at(10, 5, 12)))
	docs := r.mkdir("", "DOCS", 1, st(at(9, 2, 0), at(9, 2, 0)))
	docs.addFile("", "MEMO.TXT", []byte(memo), 0, st(at(9, 3, 10), at(9, 4, 22)))
	docs.addFile("Chain of Custody.csv", "CHAINO~1.CSV", []byte(custodyCSV), 0, st(at(9, 5, 0), at(9, 33, 41)))
	r.addFile("", "RANDOM.BIN", randomBytes(RandomSeed, 300<<10), 0, st(at(9, 10, 0), at(9, 10, 0)))
	r.addDeleted("SECRET.TXT", []byte(secret()), st(at(9, 15, 30), at(9, 15, 30)))
}

// Volume 2 (FAT16): a README, a PNG, a fragmented log file and an empty file.
func fillVolume2(v *fatVolume) {
	r := v.root
	r.addFile("", "README.TXT", []byte(readme2), attrReadOnly, st(at(9, 1, 0), at(9, 1, 0)))
	photos := r.mkdir("", "PHOTOS", 1, st(at(9, 6, 0), at(9, 6, 0)))
	photos.addFile("", "GRADIENT.PNG", gradientPNG(), 0, st(at(9, 7, 14), at(9, 7, 14)))
	logs := r.mkdir("", "LOGS", 1, st(at(9, 8, 0), at(9, 8, 0)))
	access := []byte(accessLog())
	// ACCESS.LOG is fragmented: ERROR.LOG sits between its two runs.
	n := v.clustersFor(len(access))
	run1 := v.alloc(5)
	errCl := v.alloc(v.clustersFor(len(errorLog)))
	run2 := v.alloc(n - 5)
	logs.addFileAt("", "ACCESS.LOG", access, 0, st(at(8, 0, 0), at(9, 59, 58)), append(run1, run2...))
	logs.addFileAt("", "ERROR.LOG", []byte(errorLog), 0, st(at(8, 0, 0), at(9, 41, 7)), errCl)
	r.addFile("", "EMPTY.TXT", nil, 0, st(at(9, 9, 0), at(9, 9, 0)))
}

// RandomSeed seeds RANDOM.BIN's splitmix64 stream ("custodia" in ASCII).
const RandomSeed = 0x637573746F646961

// randomBytes returns n bytes of splitmix64 output from seed, each 64-bit
// word little-endian. Implemented here so it never changes with Go.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, (n+7)/8*8)
	s := seed
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], splitmix64(&s))
	}
	return b[:n]
}

func splitmix64(s *uint64) uint64 {
	*s += 0x9E3779B97F4A7C15
	z := *s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

const readme1 = `CUSTODIAN SAMPLE DISK - VOLUME EVIDENCE1 (FAT12)
================================================

This volume is part of the sample disk that ships with custodian
(testdata/sample.img). The Go package internal/sampledisk writes it byte
for byte, so its hashes never change. Nothing here is real evidence: it
exists so that you can practise an acquisition and then check the result
with independent tools, for example The Sleuth Kit:

  mmls sample.img                 partition table (two FAT partitions)
  fls -r -p -o 2048 sample.img    files of this volume
  fls -d -o 2048 sample.img       deleted entries (there is one)
  icat -o 2048 sample.img N       content of inode N

Files on this volume:
  README.TXT                 this text (read-only)
  Case Notes.txt             a long file name over CASENO~1.TXT
  DOCS/MEMO.TXT              a memo in a subdirectory
  DOCS/Chain of Custody.csv  a long file name over CHAINO~1.CSV
  RANDOM.BIN                 300 KiB of splitmix64 output
  and one deleted file       find it with fls -d, recover it with icat
`

const readme2 = `CUSTODIAN SAMPLE DISK - VOLUME EVIDENCE2 (FAT16)
================================================

The second volume of custodian's sample disk (testdata/sample.img).
It starts at sector 8704:

  fls -r -p -o 8704 sample.img

Files on this volume:
  README.TXT           this text (read-only)
  PHOTOS/GRADIENT.PNG  a 64x48 PNG picture
  LOGS/ACCESS.LOG      a web server log stored in two fragments
  LOGS/ERROR.LOG       a short log that sits between those fragments
  EMPTY.TXT            a file of zero bytes (no clusters)

Between the two partitions (sectors 8192-8703) and after the second one
(sectors 14848-16383) the disk is unallocated and every sector there
starts with "CUSTODIAN-UNALLOCATED LBA <n>". A PNG picture that belongs
to no file system lies at sector 8208: carve it.
`

const caseNotes = `Case 2024-0314 -- examiner notes (fictitious)

09:26  Received the custodian sample disk for a practice acquisition.
09:31  Attached it read-only; imaged it with custodian, three hashes.
09:40  Volume EVIDENCE1 has a deleted file in its root; see fls -d.
09:52  Volume EVIDENCE2 has a fragmented log file, LOGS/ACCESS.LOG.
10:05  The unallocated gap between the partitions holds a lost PNG.
`

const memo = `MEMO

To:      All examiners
From:    Evidence room
Date:    14 March 2024
Subject: Sample disk

Please image the sample disk before you touch a real one, and compare
your hashes with testdata/README.md. If they differ, something between
the disk and your image changed data: find out what before going on.
`

const custodyCSV = `item,date,time,released_by,received_by,purpose
SAMPLE-001,2024-03-14,09:05,Evidence room,Examiner A,acquisition
SAMPLE-001,2024-03-14,09:33,Examiner A,Evidence room,storage after imaging
`

// secret is the deleted file: several lines so it spans two clusters.
func secret() string {
	var b strings.Builder
	b.WriteString("If you can read this, you recovered a deleted file.\n")
	b.WriteString("Its directory entry starts with 0xE5 and its FAT entries are free,\n")
	b.WriteString("but its data clusters were never overwritten.\n\n")
	for i := 1; i <= 24; i++ {
		fmt.Fprintf(&b, "secret line %02d: the quick brown fox jumps over the lazy dog\n", i)
	}
	return b.String()
}

// accessLog is a deterministic web server log, long enough to need
// fourteen 512-byte clusters.
func accessLog() string {
	var b strings.Builder
	s := uint64(0x414343455353) // "ACCESS"
	paths := []string{"/index.html", "/evidence/list", "/login", "/static/app.js", "/report/42"}
	codes := []int{200, 200, 200, 304, 404, 403}
	t := at(8, 0, 0)
	for i := 0; b.Len() < 6900; i++ {
		r := splitmix64(&s)
		t = t.Add(time.Duration(r%29+1) * time.Second)
		fmt.Fprintf(&b, "%s 192.0.2.%d GET %s %d %d\n",
			t.Format("2006-01-02T15:04:05Z"), r>>8%254+1, paths[r>>16%uint64(len(paths))],
			codes[r>>24%uint64(len(codes))], r>>32%9000+100)
	}
	return b.String()
}

const errorLog = `2024-03-14T08:17:02Z error: /report/42: permission denied
2024-03-14T09:41:07Z error: /login: too many attempts from 192.0.2.77
`
