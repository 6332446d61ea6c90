package ewf

import (
	"fmt"
	"strings"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
)

// Compression settings. The default ("") is DefaultCompression.
const (
	CompressNone  = "none"  // every chunk stored as is, with its Adler-32
	CompressEmpty = "empty" // only constant chunks compressed (ewfacquire -c empty-block)
	CompressFast  = "fast"  // zlib level 1 (EWF "good")
	CompressBest  = "best"  // zlib level 9
)

// DefaultCompression is "fast": on mixed disk data it stores zero and
// constant chunks in a few dozen bytes and text at a fraction of its size
// while deflating at several hundred MB/s per core (see the package
// benchmarks), so an E01 of a sparse disk is small and the CPU is rarely
// the bottleneck; "best" gains about 1% on such data at a quarter of the
// speed.
const DefaultCompression = CompressFast

// compression is a resolved compression setting.
type compression struct {
	name string
	// level is the zlib level for ordinary chunks; 0 means they are never
	// compressed.
	level int
	// constLevel is the zlib level for constant chunks (every byte equal);
	// 0 means they are stored raw too.
	constLevel int
	// volume is the volume section's compression level byte.
	volume byte
}

func parseCompression(s string) (compression, bool) {
	if s == "" {
		s = DefaultCompression
	}
	switch s {
	case CompressNone:
		return compression{name: s}, true
	case CompressEmpty:
		return compression{name: s, constLevel: 6}, true
	case CompressFast:
		return compression{name: s, level: 1, constLevel: 1, volume: 1}, true
	case CompressBest:
		return compression{name: s, level: 9, constLevel: 9, volume: 2}, true
	}
	return compression{}, false
}

// layout is everything the writer derives from a spec, once.
type layout struct {
	sectorSize   int
	chunkSectors int
	chunkSize    int
	chunks       int64 // ceil(media size / chunk size)
	mediaSize    int64
	segSize      int64 // 0: one file
	comp         compression
	// header2 and header are the compressed bodies of those sections
	// (header2 is written twice).
	header2, header []byte
	volume          volume // without the GUID
}

// firstStart is the size of segment 1 before its first group: the file
// header, header2 twice, header and volume.
func (l *layout) firstStart() int64 {
	return fileHeaderSize + 2*(descSize+int64(len(l.header2))) + descSize + int64(len(l.header)) + volumeSize
}

// laterStart is the size of segment n >= 2 before its first group.
const laterStart = fileHeaderSize + volumeSize

// tailReserve is what a segment keeps free for the closing sections if it
// turns out to be the last: [data] digest hash done (error2 is not known in
// advance; when it does not fit, Finish moves the closing sections to a
// segment of their own). It is more than the 76 bytes of a next section.
func tailReserve(first bool) int64 {
	r := int64(digestSize + hashSize + doneSize)
	if first {
		r += volumeSize
	}
	return r
}

// groupPayloadCap bounds the chunk bytes of one group: a group is held in
// memory until its table can be written after it, so this is most of the
// writer's memory. 16 MiB is 512 raw chunks of 32 KiB; the per-group
// overhead (about 300 bytes) is then below 0.002%.
const groupPayloadCap = 16 << 20

// splitAllowance is the room Plan leaves for groups a checkpoint ends
// early (one group of overhead per MiB of media), so that MaxBytes and
// Segments stay upper bounds under any sane checkpoint interval.
const splitAllowancePerMiB = 300

func hinted(tip, f string, a ...any) error {
	return &format.Hinted{Err: fmt.Errorf("%w: "+f, append([]any{format.ErrSpec}, a...)...), Tip: tip}
}

// newLayout checks a spec and lays the image out.
func newLayout(s format.Spec) (*layout, error) {
	comp, ok := parseCompression(s.Compression)
	if !ok {
		return nil, hinted("use --compress "+compressionNames+" (or nothing for "+DefaultCompression+")", "--compress %q is not an EWF compression", s.Compression)
	}
	ss := s.SectorSize
	if ss <= 0 || ss%512 != 0 || ss > maxChunkSize {
		return nil, hinted("use --format raw", "EWF cannot store %d-byte sectors (a multiple of 512 up to 256 KiB is needed)", ss)
	}
	if s.MediaSize < 0 {
		return nil, fmt.Errorf("%w: negative media size %d", format.ErrSpec, s.MediaSize)
	}
	if s.MediaSize%int64(ss) != 0 {
		return nil, hinted("use --format raw, which keeps every byte",
			"the media has %d bytes, not a whole number of %d-byte sectors; EWF stores whole sectors only and would cut the last %d bytes",
			s.MediaSize, ss, s.MediaSize%int64(ss))
	}
	spc := max(1, 32768/ss)
	chunks := func(spc int) int64 { cs := int64(spc * ss); return (s.MediaSize + cs - 1) / cs }
	for chunks(spc) > maxVolumeChunks && 2*spc*ss <= maxChunkSize {
		spc *= 2
	}
	if chunks(spc) > maxVolumeChunks {
		return nil, hinted("use --format raw for media this large",
			"%d bytes need %d chunks of %d KiB; libewf opens at most %d chunks and chunks above 256 KiB are not readable by X-Ways",
			s.MediaSize, chunks(spc), spc*ss>>10, maxVolumeChunks)
	}
	if s.SegmentSize < 0 {
		return nil, fmt.Errorf("%w: negative segment size %d", format.ErrSpec, s.SegmentSize)
	}
	l := &layout{
		sectorSize: ss, chunkSectors: spc, chunkSize: spc * ss, chunks: chunks(spc),
		mediaSize: s.MediaSize, segSize: s.SegmentSize, comp: comp,
	}
	hv := headerValues{
		caseNumber: s.Case.CaseNumber, evidence: s.Case.EvidenceNumber, examiner: s.Case.Examiner,
		description: s.Case.Description, notes: s.Case.Notes, model: s.Source.Model, serial: s.Source.Serial,
		version: s.ToolVersion, os: "Linux", acquired: s.Started, system: s.Started,
	}
	l.header2 = deflateText(utf16le(header2Text(hv)))
	l.header = deflateText([]byte(headerText(hv)))
	l.volume = volume{
		mediaType: 0x01, chunks: uint32(l.chunks), chunkSectors: uint32(spc), sectorSize: uint32(ss),
		sectors: uint64(s.MediaSize / int64(ss)), flags: 0x01, level: comp.volume,
		// Error granularity 1: custodian narrows a failed read to single
		// logical sectors, so every error2 run is exact (Guymager and
		// EnCase 7 write 1 too; ewfacquire writes its chunk size).
		granularity: 1,
	}
	if s.Source.Removable {
		l.volume.mediaType = 0x00
	}
	if s.Source.Block && !s.Source.Partition && s.Source.PartitionTable {
		l.volume.flags |= 0x02 // physical: a whole disk with a partition table
	}
	if l.segSize > 0 {
		if least := l.minSegment(); l.segSize < least {
			return nil, hinted(fmt.Sprintf("raise --segment-size to at least %d bytes", least),
				"segments of %d bytes cannot hold an EWF segment with one %d-byte chunk", l.segSize, l.chunkSize)
		}
		if segs, _ := l.worst(); segs > maxSegments {
			return nil, hinted("raise --segment-size",
				"%d segments of %d bytes would be needed; EWF names end at .ZZZ (%d segments)", segs, l.segSize, maxSegments)
		}
	}
	return l, nil
}

// minSegment is the smallest segment size the layout can use: each kind of
// segment must hold one raw chunk in a group of its own and the closing
// sections.
func (l *layout) minSegment() int64 {
	g := groupOverhead(1) + int64(l.chunkSize) + 4
	return max(l.firstStart()+g+tailReserve(true), laterStart+g+tailReserve(false)) + l.allowance(l.segSize)
}

func (l *layout) allowance(bytes int64) int64 { return splitAllowancePerMiB * (bytes>>20 + 2) }

// worst returns the most segments and bytes the image can take: every
// chunk stored raw (compressed chunks are stored only when smaller), groups
// split at their caps and by checkpoints within the allowance, plus one
// segment for the closing sections when a long error2 does not fit.
func (l *layout) worst() (segments int, bytes int64) {
	raw := int64(l.chunkSize) + 4
	perGroup := min(int64(maxGroupEntries), groupPayloadCap/raw)
	groupBytes := func(n int64) int64 { // n chunks in full groups plus a partial one
		full := n / perGroup
		b := full * (groupOverhead(int(perGroup)) + perGroup*raw)
		if r := n % perGroup; r > 0 {
			b += groupOverhead(int(r)) + r*raw
		}
		return b
	}
	left := l.chunks
	if l.segSize == 0 {
		return 1, l.firstStart() + groupBytes(left) + tailReserve(true) + l.allowance(l.mediaSize)
	}
	// fit is how many raw chunks a segment with room bytes holds.
	fit := func(room int64) int64 {
		lo, hi := int64(0), room/raw+1
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if groupBytes(mid) <= room {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		return lo
	}
	allow := l.allowance(l.segSize)
	first := fit(l.segSize - l.firstStart() - tailReserve(true) - allow)
	later := fit(l.segSize - laterStart - tailReserve(false) - allow)
	if left <= first {
		return 2, l.firstStart() + groupBytes(left) + tailReserve(true) + allow + laterStart + tailReserve(false)
	}
	left -= first
	n := (left + later - 1) / later
	bytes = l.firstStart() + groupBytes(first) + doneSize
	bytes += (n-1)*(laterStart+groupBytes(later)+doneSize) + laterStart + groupBytes(left-(n-1)*later) + tailReserve(false)
	bytes += (n+1)*allow + laterStart + tailReserve(false)
	return int(min(n+2, maxSegments+1)), bytes
}

// plan is Plan's result for a layout.
func (l *layout) plan() format.Plan {
	segs, bytes := l.worst()
	p := format.Plan{
		MaxBytes: bytes, Segments: segs, NeedHashes: hashing.Set{hashing.MD5, hashing.SHA1}, Compression: l.comp.name,
		Notes: []string{fmt.Sprintf("EWF chunks of %d sectors (%d KiB)", l.chunkSectors, l.chunkSize>>10)},
	}
	if l.volume.sectors > 1<<32 {
		p.Notes = append(p.Notes, "EWF's error2 section stores sector numbers in 32 bits: read errors at or beyond sector 4294967296 cannot be recorded in the image, only in the report")
	}
	if l.segSize == 0 {
		p.Segments = 1
	}
	return p
}

// compressionNames lists the accepted --compress values.
var compressionNames = strings.Join([]string{CompressNone, CompressEmpty, CompressFast, CompressBest}, ", ")
