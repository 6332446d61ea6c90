package acquire

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/custodian-forensics/custodian/report"
)

// readPartitionTable reads the source's partition table for the report,
// from its first sectors (and, for GPT, its entry array; for MBR, the
// chain of extended boot records) through the source's read-only
// descriptor. It never fails: what cannot be read is recorded as such.
func readPartitionTable(dev interface {
	io.ReaderAt
	Size() int64
	LogicalSectorSize() int
}) *report.PartitionTable {
	pt, err := parsePartitionTable(dev, dev.Size(), int64(dev.LogicalSectorSize()))
	if err != nil {
		return &report.PartitionTable{Type: "unreadable", Partitions: []report.Partition{}, Error: err.Error()}
	}
	return pt
}

// Bounds on what a partition table may make us read.
const (
	maxGPTEntries = 1024
	maxLogical    = 128
)

// parsePartitionTable reads a GPT (header at LBA 1) or an MBR (with its
// extended partitions). A sector 0 without a table is "none".
func parsePartitionTable(r io.ReaderAt, size, ss int64) (*report.PartitionTable, error) {
	if ss < 512 || size < 2*ss {
		return &report.PartitionTable{Type: "none", Partitions: []report.Partition{}}, nil
	}
	b := make([]byte, 2*ss)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read the first two sectors: %w", err)
	}
	if string(b[ss:ss+8]) == "EFI PART" {
		return parseGPT(r, b[ss:], size, ss)
	}
	if !isMBR(b) {
		return &report.PartitionTable{Type: "none", Partitions: []report.Partition{}}, nil
	}
	pt := &report.PartitionTable{Type: "mbr", Partitions: []report.Partition{}}
	var ext int64 = -1
	for i := range 4 {
		e := b[446+16*i : 446+16*i+16]
		p, ok := mbrEntry(e, 0, ss, i+1)
		if !ok {
			continue
		}
		pt.Partitions = append(pt.Partitions, p)
		if isExtended(e[4]) && ext < 0 {
			ext = p.Offset / ss
		}
	}
	if ext > 0 {
		if err := readLogical(r, pt, ext, size, ss); err != nil {
			pt.Error = "extended partition: " + err.Error()
		}
	}
	return pt, nil
}

// isMBR: a boot signature, valid status bytes, at least one used entry, and
// not a volume boot record (a filesystem written to the whole medium).
func isMBR(b []byte) bool {
	if b[510] != 0x55 || b[511] != 0xAA {
		return false
	}
	if oem := string(b[3:11]); oem == "NTFS    " || oem == "EXFAT   " || string(b[54:57]) == "FAT" || string(b[82:85]) == "FAT" {
		return false
	}
	used := false
	for i := range 4 {
		e := b[446+16*i : 446+16*i+16]
		if e[0] != 0 && e[0] != 0x80 {
			return false
		}
		used = used || e[4] != 0
	}
	return used
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

// mbrEntry decodes a 16-byte MBR entry whose start is relative to base
// (in sectors).
func mbrEntry(e []byte, base, ss int64, n int) (report.Partition, bool) {
	if e[4] == 0 {
		return report.Partition{}, false
	}
	start := int64(binary.LittleEndian.Uint32(e[8:12]))
	count := int64(binary.LittleEndian.Uint32(e[12:16]))
	t := fmt.Sprintf("0x%02x", e[4])
	return report.Partition{Number: n, Offset: (base + start) * ss, Length: count * ss, Type: t,
		TypeName: mbrTypes[e[4]], Bootable: e[0] == 0x80}, true
}

// readLogical follows the chain of extended boot records from the
// extended partition at sector ext; logical partitions are numbered from 5.
func readLogical(r io.ReaderAt, pt *report.PartitionTable, ext, size, ss int64) error {
	b := make([]byte, 512)
	next := ext
	for n := 5; n < 5+maxLogical; n++ {
		if next*ss+512 > size {
			return fmt.Errorf("boot record at sector %d lies beyond the end", next)
		}
		if _, err := r.ReadAt(b, next*ss); err != nil {
			return fmt.Errorf("read boot record at sector %d: %w", next, err)
		}
		if b[510] != 0x55 || b[511] != 0xAA {
			return fmt.Errorf("no boot signature at sector %d", next)
		}
		if p, ok := mbrEntry(b[446:462], next, ss, n); ok {
			pt.Partitions = append(pt.Partitions, p)
		}
		link := b[462:478]
		if link[4] == 0 || !isExtended(link[4]) {
			return nil
		}
		nx := ext + int64(binary.LittleEndian.Uint32(link[8:12]))
		if nx <= next {
			return fmt.Errorf("boot record chain loops back at sector %d", nx)
		}
		next = nx
	}
	return fmt.Errorf("more than %d logical partitions", maxLogical)
}

// parseGPT decodes a GPT header h (LBA 1) and its entries.
func parseGPT(r io.ReaderAt, h []byte, size, ss int64) (*report.PartitionTable, error) {
	pt := &report.PartitionTable{Type: "gpt", Partitions: []report.Partition{}, DiskGUID: guid(h[56:72])}
	entryLBA := int64(binary.LittleEndian.Uint64(h[72:80]))
	count := int64(binary.LittleEndian.Uint32(h[80:84]))
	esize := int64(binary.LittleEndian.Uint32(h[84:88]))
	if esize < 128 || esize > 4096 || esize%8 != 0 || count > maxGPTEntries || entryLBA < 2 || entryLBA > size/ss {
		pt.Error = fmt.Sprintf("implausible header: %d entries of %d bytes at LBA %d", count, esize, entryLBA)
		return pt, nil
	}
	if entryLBA*ss+count*esize > size {
		pt.Error = "the entry array lies beyond the end of the source"
		return pt, nil
	}
	arr := make([]byte, count*esize)
	if _, err := r.ReadAt(arr, entryLBA*ss); err != nil {
		return nil, fmt.Errorf("read the GPT entries at LBA %d: %w", entryLBA, err)
	}
	for i := range count {
		e := arr[i*esize : (i+1)*esize]
		if allZero(e[0:16]) {
			continue
		}
		first := int64(binary.LittleEndian.Uint64(e[32:40]))
		last := int64(binary.LittleEndian.Uint64(e[40:48]))
		p := report.Partition{Number: int(i + 1), Type: guid(e[0:16]), GUID: guid(e[16:32]), Name: utf16Name(e[56:128])}
		p.TypeName = gptTypes[p.Type]
		if first >= 0 && last >= first && last < size/ss+1 {
			p.Offset, p.Length = first*ss, (last-first+1)*ss
		}
		pt.Partitions = append(pt.Partitions, p)
	}
	return pt, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// guid formats a GPT GUID (mixed-endian) as upper-case text.
func guid(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// utf16Name decodes a GPT partition name (UTF-16LE, NUL-padded).
func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD")
}

var gptTypes = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS+",
	"7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple APFS",
}

var mbrTypes = map[byte]string{
	0x01: "FAT12", 0x04: "FAT16 <32M", 0x05: "Extended", 0x06: "FAT16", 0x07: "NTFS/exFAT/HPFS",
	0x0b: "W95 FAT32", 0x0c: "W95 FAT32 (LBA)", 0x0e: "W95 FAT16 (LBA)", 0x0f: "W95 extended (LBA)",
	0x82: "Linux swap", 0x83: "Linux", 0x85: "Linux extended", 0x8e: "Linux LVM",
	0xa5: "FreeBSD", 0xaf: "HFS/HFS+", 0xee: "GPT protective", 0xef: "EFI System", 0xfd: "Linux RAID",
}
