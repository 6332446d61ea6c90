package sampledisk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const testdataDir = "../../testdata"

var (
	buildOnce  sync.Once
	builtImg   []byte
	builtFiles []File
	builtErr   error
)

// built returns Build's output and the manifest, computed once per test run.
func built(t *testing.T) ([]byte, []File) {
	t.Helper()
	buildOnce.Do(func() {
		var buf bytes.Buffer
		if builtErr = Build(&buf); builtErr != nil {
			return
		}
		builtImg = buf.Bytes()
		builtFiles, builtErr = Files()
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtImg, builtFiles
}

const regenerate = "the sample disk changed: run 'go generate ./internal/sampledisk', update testdata/README.md from 'go run ./testdata/mksample.go -manifest', and commit all of testdata/sample.img*"

func TestBuildIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Build(&a); err != nil {
		t.Fatal(err)
	}
	if err := Build(&b); err != nil {
		t.Fatal(err)
	}
	if a.Len() != Size {
		t.Fatalf("Build wrote %d bytes, want %d", a.Len(), Size)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two Builds differ")
	}
}

func TestCommittedImageMatchesBuild(t *testing.T) {
	img, _ := built(t)
	sum := sha256.Sum256(img)
	got := hex.EncodeToString(sum[:])

	line, err := os.ReadFile(filepath.Join(testdataDir, "sample.img.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if want := got + "  sample.img\n"; string(line) != want {
		t.Errorf("testdata/sample.img.sha256 is %q, Build gives %q; %s", line, want, regenerate)
	}
	committed, err := os.ReadFile(filepath.Join(testdataDir, "sample.img"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, img) {
		csum := sha256.Sum256(committed)
		t.Errorf("testdata/sample.img has sha256 %x, Build gives %s; %s", csum, got, regenerate)
	}
}

// The README documents the hashes of the image and of every file; it must
// not drift from the code either.
func TestREADMEListsHashes(t *testing.T) {
	img, files := built(t)
	readme, err := os.ReadFile(filepath.Join(testdataDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	if !bytes.Contains(readme, []byte(hex.EncodeToString(sum[:]))) {
		t.Errorf("testdata/README.md does not mention the image's sha256 %x; %s", sum, regenerate)
	}
	for _, f := range files {
		fs := sha256.Sum256(f.Data)
		if !bytes.Contains(readme, []byte(hex.EncodeToString(fs[:]))) {
			t.Errorf("testdata/README.md does not mention %s's sha256 %x; %s", f.Path, fs, regenerate)
		}
	}
}

func TestMBR(t *testing.T) {
	img, _ := built(t)
	mbr := img[:SectorSize]
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		t.Fatalf("MBR signature % x, want 55 aa", mbr[510:])
	}
	if got := binary.LittleEndian.Uint32(mbr[440:]); got != DiskSignature {
		t.Errorf("disk signature %#x, want %#x", got, DiskSignature)
	}
	want := []struct {
		start, sectors uint32
		typ            byte
	}{{2048, 6144, 0x01}, {8704, 6144, 0x04}, {}, {}}
	for i, w := range want {
		e := mbr[446+16*i : 446+16*(i+1)]
		start, n := binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
		if e[0] != 0 || e[4] != w.typ || start != w.start || n != w.sectors {
			t.Errorf("partition %d: status %#x type %#x start %d sectors %d; want status 0 type %#x start %d sectors %d",
				i, e[0], e[4], start, n, w.typ, w.start, w.sectors)
		}
		if w.sectors != 0 && start+n > Sectors {
			t.Errorf("partition %d ends after the disk", i)
		}
	}
}

func TestFATBootSectors(t *testing.T) {
	img, _ := built(t)
	for _, p := range Partitions() {
		b := img[int(p.Start)*SectorSize:][:SectorSize]
		u16 := func(o int) uint32 { return uint32(binary.LittleEndian.Uint16(b[o:])) }
		switch {
		case b[0] != 0xEB || b[2] != 0x90:
			t.Errorf("%s: jump % x", p.Label, b[:3])
		case b[510] != 0x55 || b[511] != 0xAA:
			t.Errorf("%s: boot signature % x", p.Label, b[510:])
		case u16(11) != SectorSize || b[13] != p.SectorsPerCluster || u16(14) != 1 || b[16] != 2:
			t.Errorf("%s: BPB geometry wrong", p.Label)
		case u16(19) != p.Sectors || b[21] != 0xF8:
			t.Errorf("%s: total sectors %d media %#x", p.Label, u16(19), b[21])
		case binary.LittleEndian.Uint32(b[28:]) != p.Start:
			t.Errorf("%s: hidden sectors %d, want %d", p.Label, binary.LittleEndian.Uint32(b[28:]), p.Start)
		case b[38] != 0x29 || binary.LittleEndian.Uint32(b[39:]) != p.Serial:
			t.Errorf("%s: serial %#x, want %#x", p.Label, binary.LittleEndian.Uint32(b[39:]), p.Serial)
		case strings.TrimRight(string(b[43:54]), " ") != p.Label:
			t.Errorf("label %q, want %q", b[43:54], p.Label)
		}
		// The FAT type is decided by the cluster count alone.
		rootSectors := (u16(17)*32 + SectorSize - 1) / SectorSize
		clusters := (u16(19) - u16(14) - uint32(b[16])*u16(22) - rootSectors) / uint32(b[13])
		fatType := 16
		if clusters < 4085 {
			fatType = 12
		}
		if fatType != p.FAT || string(b[54:62]) != map[int]string{12: "FAT12   ", 16: "FAT16   "}[p.FAT] {
			t.Errorf("%s: %d clusters make FAT%d, type string %q; want FAT%d", p.Label, clusters, fatType, b[54:62], p.FAT)
		}
		// Both FAT copies are equal and start with the media byte.
		fatLen := int(u16(22)) * SectorSize
		fat1 := img[int(p.Start+1)*SectorSize:][:fatLen]
		fat2 := img[int(p.Start+1)*SectorSize+fatLen:][:fatLen]
		if !bytes.Equal(fat1, fat2) || fat1[0] != 0xF8 {
			t.Errorf("%s: FAT copies differ or lack the media byte", p.Label)
		}
	}
}

// Follow each live file's FAT chain in the image and compare its data;
// deleted files must have free FAT entries and intact data.
func TestFileChains(t *testing.T) {
	img, files := built(t)
	parts := Partitions()
	for _, f := range files {
		if f.Partition == 0 {
			got := img[int(f.LBA)*SectorSize:][:len(f.Data)]
			if !bytes.Equal(got, f.Data) {
				t.Errorf("%s at LBA %d: data differs", f.Path, f.LBA)
			}
			continue
		}
		p := parts[f.Partition-1]
		vol := img[int(p.Start)*SectorSize:][:int(p.Sectors)*SectorSize]
		fatSectors := int(binary.LittleEndian.Uint16(vol[22:]))
		fat := vol[SectorSize:][:fatSectors*SectorSize]
		next := func(c uint32) uint32 {
			if p.FAT == 16 {
				return uint32(binary.LittleEndian.Uint16(fat[2*c:]))
			}
			v := uint32(binary.LittleEndian.Uint16(fat[c+c/2:]))
			if c%2 == 1 {
				return v >> 4
			}
			return v & 0xFFF
		}
		eoc := uint32(0xFF8)
		if p.FAT == 16 {
			eoc = 0xFFF8
		}
		dataStart := 1 + 2*fatSectors + 512*32/SectorSize
		cb := int(p.SectorsPerCluster) * SectorSize
		var data []byte
		for i, c := range f.Clusters {
			data = append(data, vol[(dataStart+int(c-2)*int(p.SectorsPerCluster))*SectorSize:][:cb]...)
			n := next(c)
			switch {
			case f.Deleted && n != 0:
				t.Errorf("%s (deleted): cluster %d is not free in the FAT (%#x)", f.Path, c, n)
			case !f.Deleted && i+1 < len(f.Clusters) && n != f.Clusters[i+1]:
				t.Errorf("%s: FAT[%d] = %d, want %d", f.Path, c, n, f.Clusters[i+1])
			case !f.Deleted && i+1 == len(f.Clusters) && n < eoc:
				t.Errorf("%s: FAT[%d] = %#x, want end of chain", f.Path, c, n)
			}
		}
		if len(data) < len(f.Data) || !bytes.Equal(data[:len(f.Data)], f.Data) {
			t.Errorf("%s: data in its clusters differs from the manifest", f.Path)
		}
	}
}

func TestManifestHasTheAdvertisedFeatures(t *testing.T) {
	_, files := built(t)
	var deleted, fragmented, empty, big int
	for _, f := range files {
		if f.Deleted {
			deleted++
		}
		for i := 1; i < len(f.Clusters); i++ {
			if f.Clusters[i] != f.Clusters[i-1]+1 {
				fragmented++
				break
			}
		}
		if f.Partition != 0 && len(f.Data) == 0 {
			empty++
		}
		if len(f.Data) >= 256<<10 {
			big++
		}
	}
	if deleted != 1 || fragmented != 1 || empty != 1 || big != 1 {
		t.Errorf("deleted %d, fragmented %d, empty %d, large %d files; want one each", deleted, fragmented, empty, big)
	}
}

func TestPNGsDecode(t *testing.T) {
	for name, b := range map[string][]byte{"GRADIENT.PNG": gradientPNG(), "lost PNG": lostPNG()} {
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestUnallocatedPattern(t *testing.T) {
	img, _ := built(t)
	for _, lba := range []uint32{8192, 8207, 8703, 14848, Sectors - 1} {
		sec := img[lba*SectorSize:][:SectorSize]
		if !bytes.HasPrefix(sec, []byte(UnallocatedPattern(lba))) {
			t.Errorf("sector %d starts %q", lba, sec[:40])
		}
	}
	// The MBR gap stays zero, as partitioning tools leave it.
	if !bytes.Equal(img[SectorSize:2048*SectorSize], make([]byte, 2047*SectorSize)) {
		t.Error("sectors 1-2047 are not all zero")
	}
}

func TestSplitmix64IsStable(t *testing.T) {
	// Reference values of splitmix64 seeded with 0 (Vigna's splitmix64.c).
	s := uint64(0)
	for i, want := range []uint64{0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F} {
		if got := splitmix64(&s); got != want {
			t.Errorf("splitmix64 output %d = %#x, want %#x", i, got, want)
		}
	}
}
