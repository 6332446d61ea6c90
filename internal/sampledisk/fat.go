package sampledisk

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

// FAT directory entry attributes.
const (
	attrReadOnly  = 0x01
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLFN       = 0x0F
)

const dirEntrySize = 32

// fatParams describes one FAT12/FAT16 volume to format.
type fatParams struct {
	fatBits           int    // 12 or 16
	totalSectors      uint32 // volume size in sectors (< 65536)
	hiddenSectors     uint32 // LBA of the volume on the disk
	sectorsPerCluster uint8
	rootEntries       uint16
	serial            uint32
	label             string // up to 11 characters
	formatted         time.Time
}

// fatVolume is a FAT12/FAT16 volume under construction, held in memory.
type fatVolume struct {
	p           fatParams
	img         []byte
	fatSectors  uint32
	rootStart   uint32 // first sector of the root directory region
	dataStart   uint32 // first sector of cluster 2
	clusters    uint32 // number of data clusters
	fat         []uint32
	nextCluster uint32
	root        *fatDir
	dirs        []*fatDir // subdirectories, in creation order
	files       []File    // manifest of what was written, in creation order
	partition   int
}

// fatDir is a directory under construction; its entries are serialized
// by finish.
type fatDir struct {
	v        *fatVolume
	path     string   // long-name path from the root, "" for the root
	clusters []uint32 // nil for the FAT12/16 fixed root directory
	entries  [][]byte
}

// newFATVolume lays out the volume (reserved sector, FATs, root directory,
// data) and checks that the cluster count really gives the FAT type asked for.
func newFATVolume(partition int, p fatParams) (*fatVolume, error) {
	const reserved, numFATs = 1, 2
	rootSectors := (uint32(p.rootEntries)*dirEntrySize + SectorSize - 1) / SectorSize
	spc := uint32(p.sectorsPerCluster)
	// Smallest FAT size that can map all the clusters left after it.
	var fatSectors, clusters uint32
	for fatSectors = 1; ; fatSectors++ {
		clusters = (p.totalSectors - reserved - numFATs*fatSectors - rootSectors) / spc
		need := (clusters + 2) * uint32(p.fatBits)
		if (need+7)/8 <= fatSectors*SectorSize {
			break
		}
	}
	switch {
	case p.fatBits == 12 && clusters < 4085:
	case p.fatBits == 16 && clusters >= 4085 && clusters < 65525:
	default:
		return nil, fmt.Errorf("sampledisk: %d clusters do not make a FAT%d volume", clusters, p.fatBits)
	}
	v := &fatVolume{
		p:           p,
		img:         make([]byte, int(p.totalSectors)*SectorSize),
		fatSectors:  fatSectors,
		rootStart:   reserved + numFATs*fatSectors,
		clusters:    clusters,
		fat:         make([]uint32, clusters+2),
		nextCluster: 2,
		partition:   partition,
	}
	v.dataStart = v.rootStart + rootSectors
	v.fat[0] = v.eoc()&^0xFF | 0xF8 // media descriptor in the low byte
	v.fat[1] = v.eoc()
	v.root = &fatDir{v: v}
	v.root.entries = append(v.root.entries, shortEntry(padName(p.label), attrVolumeID, 0, 0, stamp{modified: p.formatted, created: p.formatted}))
	return v, nil
}

func (v *fatVolume) eoc() uint32 {
	if v.p.fatBits == 12 {
		return 0xFFF
	}
	return 0xFFFF
}

func (v *fatVolume) clusterBytes() int { return int(v.p.sectorsPerCluster) * SectorSize }

func (v *fatVolume) clustersFor(n int) int {
	return (n + v.clusterBytes() - 1) / v.clusterBytes()
}

// alloc reserves the next n clusters (in ascending order, contiguous). Whether
// they are allocated in the FAT is up to the caller (see chain).
func (v *fatVolume) alloc(n int) []uint32 {
	cs := make([]uint32, n)
	for i := range cs {
		if v.nextCluster >= v.clusters+2 {
			panic("sampledisk: volume full") // a bug in the content, caught by tests
		}
		cs[i] = v.nextCluster
		v.nextCluster++
	}
	return cs
}

// chain links clusters into one FAT chain ending in end-of-chain.
func (v *fatVolume) chain(cs []uint32) {
	for i, c := range cs {
		if i+1 < len(cs) {
			v.fat[c] = cs[i+1]
		} else {
			v.fat[c] = v.eoc()
		}
	}
}

// writeData copies data into the clusters cs, in order.
func (v *fatVolume) writeData(cs []uint32, data []byte) {
	cb := v.clusterBytes()
	for i, c := range cs {
		off := int(v.dataStart+(c-2)*uint32(v.p.sectorsPerCluster)) * SectorSize
		lo := i * cb
		if lo >= len(data) {
			break
		}
		copy(v.img[off:off+cb], data[lo:min(lo+cb, len(data))])
	}
}

// stamp holds the three FAT timestamps of an entry.
type stamp struct {
	created, modified, accessed time.Time
}

func fatDate(t time.Time) uint16 {
	return uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
}

func fatTime(t time.Time) uint16 {
	return uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
}

// padName turns a label into the 11-byte space-padded form.
func padName(s string) [11]byte {
	var b [11]byte
	for i := range b {
		b[i] = ' '
	}
	copy(b[:], s)
	return b
}

// shortName turns "NAME.EXT" into the 11-byte 8.3 directory form.
func shortName(s string) [11]byte {
	b := padName("")
	base, ext := s, ""
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '.' {
			base, ext = s[:i], s[i+1:]
			break
		}
	}
	if s == "." || s == ".." {
		base, ext = s, ""
	}
	if len(base) > 8 || len(ext) > 3 {
		panic("sampledisk: not an 8.3 name: " + s)
	}
	copy(b[:8], base)
	copy(b[8:], ext)
	return b
}

func shortEntry(name [11]byte, attr byte, cluster uint32, size uint32, st stamp) []byte {
	e := make([]byte, dirEntrySize)
	copy(e[0:11], name[:])
	e[11] = attr
	if st.accessed.IsZero() {
		st.accessed = st.modified
	}
	if st.created.IsZero() {
		st.created = st.modified
	}
	// Creation time in 10 ms units beyond the 2-second resolution.
	e[13] = byte(st.created.Second()%2*100 + st.created.Nanosecond()/10_000_000)
	binary.LittleEndian.PutUint16(e[14:], fatTime(st.created))
	binary.LittleEndian.PutUint16(e[16:], fatDate(st.created))
	binary.LittleEndian.PutUint16(e[18:], fatDate(st.accessed))
	binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16)) // 0 on FAT12/16
	binary.LittleEndian.PutUint16(e[22:], fatTime(st.modified))
	binary.LittleEndian.PutUint16(e[24:], fatDate(st.modified))
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

func lfnChecksum(name [11]byte) byte {
	var sum byte
	for _, c := range name {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

// lfnEntries returns the VFAT long-name entries that precede the short
// entry short, in on-disk order (last part first).
func lfnEntries(long string, short [11]byte) [][]byte {
	u := utf16.Encode([]rune(long))
	n := (len(u) + 12) / 13
	if len(u)%13 != 0 {
		u = append(u, 0)
	}
	for len(u) < n*13 {
		u = append(u, 0xFFFF)
	}
	sum := lfnChecksum(short)
	offs := [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	var out [][]byte
	for i := n; i >= 1; i-- {
		e := make([]byte, dirEntrySize)
		e[0] = byte(i)
		if i == n {
			e[0] |= 0x40
		}
		e[11] = attrLFN
		e[13] = sum
		for j, o := range offs {
			binary.LittleEndian.PutUint16(e[o:], u[(i-1)*13+j])
		}
		out = append(out, e)
	}
	return out
}

func (d *fatDir) childPath(name string) string { return d.path + "/" + name }

func (d *fatDir) firstCluster() uint32 {
	if d.clusters == nil {
		return 0
	}
	return d.clusters[0]
}

// add appends the entries for one name. long is "" when short says it all.
func (d *fatDir) add(long, short string, attr byte, cluster, size uint32, st stamp, deleted bool) {
	sn := shortName(short)
	var es [][]byte
	if long != "" {
		es = lfnEntries(long, sn)
	}
	es = append(es, shortEntry(sn, attr, cluster, size, st))
	if deleted {
		for _, e := range es {
			e[0] = 0xE5
		}
	}
	d.entries = append(d.entries, es...)
}

func displayName(long, short string) string {
	if long != "" {
		return long
	}
	return short
}

// addFile stores data in freshly allocated contiguous clusters.
func (d *fatDir) addFile(long, short string, data []byte, attr byte, st stamp) {
	d.addFileAt(long, short, data, attr, st, d.v.alloc(d.v.clustersFor(len(data))))
}

// addFileAt stores data in the given clusters, which may be fragmented.
func (d *fatDir) addFileAt(long, short string, data []byte, attr byte, st stamp, cs []uint32) {
	if len(cs) != d.v.clustersFor(len(data)) {
		panic("sampledisk: wrong cluster count for " + short)
	}
	d.v.chain(cs)
	d.v.writeData(cs, data)
	var first uint32
	if len(cs) > 0 {
		first = cs[0]
	}
	d.add(long, short, attr|attrArchive, first, uint32(len(data)), st, false)
	d.v.record(d.childPath(displayName(long, short)), short, data, st, false, cs)
}

// addDeleted stores a file as a deleting DOS leaves it: data still in
// its clusters, FAT entries zeroed (free), first name byte 0xE5.
func (d *fatDir) addDeleted(short string, data []byte, st stamp) {
	cs := d.v.alloc(d.v.clustersFor(len(data)))
	d.v.writeData(cs, data)
	d.add("", short, attrArchive, cs[0], uint32(len(data)), st, true)
	d.v.record(d.childPath(short), short, data, st, true, cs)
}

// mkdir creates a subdirectory of nclusters clusters.
func (d *fatDir) mkdir(long, short string, nclusters int, st stamp) *fatDir {
	cs := d.v.alloc(nclusters)
	d.v.chain(cs)
	sub := &fatDir{v: d.v, path: d.childPath(displayName(long, short)), clusters: cs}
	sub.entries = append(sub.entries,
		shortEntry(shortName("."), attrDirectory, cs[0], 0, st),
		shortEntry(shortName(".."), attrDirectory, d.firstCluster(), 0, st))
	d.add(long, short, attrDirectory, cs[0], 0, st, false)
	d.v.dirs = append(d.v.dirs, sub)
	return sub
}

// record adds a file to the manifest.
func (v *fatVolume) record(path, short string, data []byte, st stamp, deleted bool, cs []uint32) {
	v.files = append(v.files, File{
		Partition: v.partition,
		Path:      path,
		ShortName: short,
		Data:      data,
		Deleted:   deleted,
		Modified:  st.modified,
		Clusters:  cs,
	})
}

// writeDir serializes d's entries into its clusters or the root region.
func (v *fatVolume) writeDir(d *fatDir) error {
	var buf []byte
	for _, e := range d.entries {
		buf = append(buf, e...)
	}
	if d.clusters == nil {
		if len(d.entries) > int(v.p.rootEntries) {
			return fmt.Errorf("sampledisk: root directory overflow")
		}
		copy(v.img[int(v.rootStart)*SectorSize:], buf)
		return nil
	}
	if len(buf) > len(d.clusters)*v.clusterBytes() {
		return fmt.Errorf("sampledisk: directory %s overflows its clusters", d.path)
	}
	v.writeData(d.clusters, buf)
	return nil
}

// finish writes the boot sector, both FATs and all directories and returns
// the volume image.
func (v *fatVolume) finish() ([]byte, error) {
	for _, d := range append([]*fatDir{v.root}, v.dirs...) {
		if err := v.writeDir(d); err != nil {
			return nil, err
		}
	}
	v.writeBootSector()
	fat := make([]byte, int(v.fatSectors)*SectorSize)
	for n, val := range v.fat {
		if v.p.fatBits == 16 {
			binary.LittleEndian.PutUint16(fat[2*n:], uint16(val))
			continue
		}
		off := n + n/2
		if n%2 == 0 {
			fat[off] = byte(val)
			fat[off+1] = fat[off+1]&0xF0 | byte(val>>8)&0x0F
		} else {
			fat[off] = fat[off]&0x0F | byte(val<<4)
			fat[off+1] = byte(val >> 4)
		}
	}
	for i := range 2 {
		copy(v.img[(1+i*int(v.fatSectors))*SectorSize:], fat)
	}
	return v.img, nil
}

func (v *fatVolume) writeBootSector() {
	b := v.img[:SectorSize]
	copy(b[0:], []byte{0xEB, 0x3C, 0x90}) // jmp short 0x3E; nop
	copy(b[3:11], "CUSTODN ")
	binary.LittleEndian.PutUint16(b[11:], SectorSize)
	b[13] = v.p.sectorsPerCluster
	binary.LittleEndian.PutUint16(b[14:], 1) // reserved sectors
	b[16] = 2                                // FATs
	binary.LittleEndian.PutUint16(b[17:], v.p.rootEntries)
	binary.LittleEndian.PutUint16(b[19:], uint16(v.p.totalSectors))
	b[21] = 0xF8 // fixed disk
	binary.LittleEndian.PutUint16(b[22:], uint16(v.fatSectors))
	binary.LittleEndian.PutUint16(b[24:], sectorsPerTrack)
	binary.LittleEndian.PutUint16(b[26:], heads)
	binary.LittleEndian.PutUint32(b[28:], v.p.hiddenSectors)
	binary.LittleEndian.PutUint32(b[32:], 0) // total sectors fit in 16 bits
	b[36] = 0x80                             // BIOS drive number
	b[38] = 0x29                             // extended boot signature
	binary.LittleEndian.PutUint32(b[39:], v.p.serial)
	lab := padName(v.p.label)
	copy(b[43:54], lab[:])
	copy(b[54:62], fmt.Sprintf("FAT%-5d", v.p.fatBits))
	copy(b[0x3E:], bootStub(0x7C00+0x3E, "This is a custodian forensic sample volume, not a bootable disk.\r\n"))
	b[510], b[511] = 0x55, 0xAA
}

// bootStub is real-mode code that prints msg via the BIOS and halts; load is
// the address the stub itself is loaded at.
func bootStub(load uint16, msg string) []byte {
	const codeLen = 25
	m := load + codeLen
	code := []byte{
		0xFA,       // cli
		0x31, 0xC0, // xor ax, ax
		0x8E, 0xD8, // mov ds, ax
		0xBE, byte(m), byte(m >> 8), // mov si, msg
		0xAC,       // lodsb
		0x84, 0xC0, // test al, al
		0x74, 0x09, // jz halt
		0xB4, 0x0E, // mov ah, 0x0e
		0xBB, 0x07, 0x00, // mov bx, 7
		0xCD, 0x10, // int 0x10
		0xEB, 0xF2, // jmp lodsb
		0xF4,       // halt: hlt
		0xEB, 0xFD, // jmp halt
	}
	return append(append(code, msg...), 0)
}
