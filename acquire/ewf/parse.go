package ewf

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/report"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

// Caps on what a reader accepts, whatever a file claims: nothing is
// allocated from a size read from a file beyond these.
const (
	// maxReadChunk is the largest chunk (sectors per chunk × bytes per
	// sector) a reader accepts: libewf's largest, 32768 × 512.
	maxReadChunk = 16 << 20
	// maxTableEntries is the most entries one table may have (libewf
	// writes at most 65534; newer libewf reads at most 524288).
	maxTableEntries = 1 << 20
	// maxSmallSection bounds the body of the sections read whole (hash,
	// digest, error2, volume, data, session).
	maxSmallSection = 8 << 20
)

// maxStored is the largest stored form a chunk of chunkSize bytes may
// have: a raw chunk plus checksum, or a zlib stream that expanded a little.
func maxStored(chunkSize int) int { return chunkSize + chunkSize/8 + 1024 }

// meta is what a set records about itself, collected while its sections
// are read (by Open or Scan).
type meta struct {
	vol       *volume
	mediaSize int64
	chunkSize int
	chunks    int64 // chunks of media: ceil(mediaSize / chunkSize)
	header    map[string]string
	header2   map[string]string
	hashMD5   []byte // from hash
	digestMD5 []byte
	sha1      []byte
	runs      []sectorRun
	entries   int64 // table entries seen so far
	sawDone   bool
}

// setVolume takes segment 1's volume: chunk geometry and media size.
func (m *meta) setVolume(v volume) error {
	if v.sectorSize == 0 || v.chunkSectors == 0 {
		return errors.New("volume: zero bytes per sector or sectors per chunk")
	}
	cs := uint64(v.sectorSize) * uint64(v.chunkSectors)
	if cs > maxReadChunk {
		return fmt.Errorf("volume: chunks of %d bytes (more than %d are not supported)", cs, maxReadChunk)
	}
	if v.sectors > (1<<62)/uint64(v.sectorSize) {
		return fmt.Errorf("volume: %d sectors of %d bytes is out of range", v.sectors, v.sectorSize)
	}
	m.vol = &v
	m.chunkSize = int(cs)
	m.mediaSize = int64(v.sectors) * int64(v.sectorSize)
	m.chunks = (m.mediaSize + int64(cs) - 1) / int64(cs)
	if m.chunks > int64(v.chunks) {
		return fmt.Errorf("volume: %d sectors need %d chunks, the volume counts %d", v.sectors, m.chunks, v.chunks)
	}
	return nil
}

// chunkLen is the media length of chunk i.
func (m *meta) chunkLen(i int64) int {
	if i == m.chunks-1 {
		return int(m.mediaSize - i*int64(m.chunkSize))
	}
	return m.chunkSize
}

// small handles the sections read whole. It returns false for a type it
// does not handle.
func (m *meta) small(typ string, body []byte, segment int) (bool, error) {
	switch typ {
	case "header2", "header":
		if len(body) > maxHeaderStored {
			return true, fmt.Errorf("%s section of %d bytes", typ, len(body))
		}
		text, err := inflateLimited(body, maxHeaderText)
		if err != nil {
			return true, fmt.Errorf("%s section does not inflate: %w", typ, err)
		}
		vals := parseHeaderText(decodeHeaderText(text, typ == "header2"))
		if typ == "header2" && m.header2 == nil {
			m.header2 = vals
		} else if typ == "header" && m.header == nil {
			m.header = vals
		}
	case "volume", "disk":
		v, err := parseVolume(body, false)
		if err != nil {
			return true, fmt.Errorf("volume section: %w", err)
		}
		if segment != 1 || m.vol != nil {
			return true, errors.New("a volume section outside the start of the first segment")
		}
		return true, m.setVolume(v)
	case "data":
		d, err := parseVolume(body, true)
		if err != nil {
			return true, fmt.Errorf("data section: %w", err)
		}
		if m.vol == nil || !d.agrees(*m.vol) {
			return true, errors.New("the data section does not repeat the volume section")
		}
	case "hash":
		if len(body) < 36 || getU32(body[32:]) != adler32.Checksum(body[:32]) {
			return true, fmt.Errorf("hash section: %w or wrong size (%d bytes)", errChecksum, len(body))
		}
		m.hashMD5 = bytes.Clone(body[:16])
	case "digest":
		if len(body) < 80 || getU32(body[76:]) != adler32.Checksum(body[:76]) {
			return true, fmt.Errorf("digest section: %w or wrong size (%d bytes)", errChecksum, len(body))
		}
		m.digestMD5, m.sha1 = bytes.Clone(body[:16]), bytes.Clone(body[16:36])
	case "error2":
		runs, err := parseError2(body)
		if err != nil {
			return true, fmt.Errorf("error2 section: %w", err)
		}
		m.runs = append(m.runs, runs...)
	default:
		return false, nil
	}
	return true, nil
}

// smallSection reports whether a section type is read whole (capped).
func smallSection(typ string) bool {
	switch typ {
	case "header2", "header", "volume", "disk", "data", "hash", "digest", "error2":
		return true
	}
	return false
}

// table is a parsed table section.
type table struct {
	base    int64
	entries []uint32
}

// parseTable checks a table body: header checksum, entry count within the
// body and the caps, entries checksum.
func parseTable(body []byte, buf []uint32) (table, error) {
	if len(body) < tableHeadSize+4 {
		return table{}, fmt.Errorf("table body of %d bytes", len(body))
	}
	n, base, err := parseTableHead(body)
	if err != nil {
		return table{}, err
	}
	if n > maxTableEntries || tableHeadSize+4*int64(n)+4 > int64(len(body)) {
		return table{}, fmt.Errorf("%d table entries do not fit a body of %d bytes", n, len(body))
	}
	ent := body[tableHeadSize : tableHeadSize+4*int(n)]
	if getU32(body[tableHeadSize+4*int(n):]) != adler32.Checksum(ent) {
		return table{}, fmt.Errorf("table entries %w", errChecksum)
	}
	entries := buf[:0]
	for i := range int(n) {
		entries = append(entries, getU32(ent[4*i:]))
	}
	return table{base: base, entries: entries}, nil
}

// chunkSpan is where chunk k of a table is stored in its file.
type chunkSpan struct {
	off        int64
	size       int
	compressed bool
}

// span is the stored place of chunk k of a table whose descriptor is at
// tableOff: chunk k runs from its entry to the next entry, the last one to
// the table itself.
func (t table) span(k int, tableOff int64) chunkSpan {
	start := t.base + int64(t.entries[k]&entryOffsetMask)
	end := tableOff
	if k+1 < len(t.entries) {
		end = t.base + int64(t.entries[k+1]&entryOffsetMask)
	}
	return chunkSpan{off: start, size: int(end - start), compressed: t.entries[k]&entryCompressed != 0}
}

// check makes sure the table's chunks are in order, within [lo, tableOff)
// and of a plausible size.
func (t table) check(lo, tableOff int64, chunkSize int) error {
	prev := lo
	for k := range t.entries {
		sp := t.span(k, tableOff)
		if sp.off < prev || sp.off+int64(sp.size) > tableOff || sp.size <= 0 || sp.size > maxStored(chunkSize) {
			return fmt.Errorf("table entry %d: chunk at %d of %d bytes is out of place (chunks run from %d to the table at %d)", k, sp.off, sp.size, lo, tableOff)
		}
		prev = sp.off + int64(sp.size)
	}
	return nil
}

// inflater decodes stored chunks; one per goroutine.
type inflater struct {
	fr  io.ReadCloser // a deflate reader
	src bytes.Reader
	one [1]byte
	// constants are stored forms seen to inflate to a constant chunk
	// (see constant.go).
	constants map[string]constantChunk
}

var (
	errChunkSize = errors.New("wrong chunk size")
	errChunkZlib = errors.New("chunk does not inflate")
	errChunkLong = errors.New("chunk inflates to more than the chunk size")
)

// decode checks a stored chunk and returns its media bytes (want of them),
// in dst (cap >= chunkSize). The last chunk may hold more than the media
// needs, up to a whole chunk: padded by some writers, and ewfacquire
// stores the bytes of a final partial sector there although the media
// size (whole sectors) leaves them out.
func (z *inflater) decode(stored []byte, compressed bool, want, chunkSize int, last bool, dst []byte) ([]byte, error) {
	okLen := func(n int) bool { return n == want || (last && n > want && n <= chunkSize) }
	if !compressed {
		data, err := checkRaw(stored, want, chunkSize, last)
		if err != nil {
			return nil, err
		}
		return append(dst[:0], data...), nil
	}
	if out, ok := z.constantHit(stored, dst[:chunkSize]); ok {
		if !okLen(len(out)) {
			return nil, fmt.Errorf("%w: inflates to %d bytes, want %d", errChunkSize, len(out), want)
		}
		return out[:want], nil
	}
	n, err := z.inflate(stored, dst[:chunkSize])
	if err != nil {
		return nil, err
	}
	if !okLen(n) {
		return nil, fmt.Errorf("%w: inflates to %d bytes, want %d", errChunkSize, n, want)
	}
	z.constantLearn(stored, dst[:n])
	return dst[:want], nil
}

// inflate decodes a zlib stream (RFC 1950: header, deflate data, Adler-32
// of the data) into dst and returns its length. The stream must end within
// dst (errChunkLong otherwise); bytes after its checksum are ignored, as
// zlib readers do. The framing is done here rather than by a zlib reader
// so that the checksum runs through adler32Update.
func (z *inflater) inflate(stored, dst []byte) (int, error) {
	if len(stored) < 2+4 {
		return 0, fmt.Errorf("%w: a zlib stream of %d bytes", errChunkZlib, len(stored))
	}
	cmf, flg := stored[0], stored[1]
	if cmf&0x0f != 8 || cmf>>4 > 7 || (uint16(cmf)<<8|uint16(flg))%31 != 0 {
		return 0, fmt.Errorf("%w: %v", errChunkZlib, zlib.ErrHeader)
	}
	if flg&0x20 != 0 {
		return 0, fmt.Errorf("%w: %v", errChunkZlib, zlib.ErrDictionary)
	}
	z.src.Reset(stored[2:])
	if z.fr == nil {
		z.fr = flate.NewReader(&z.src)
	} else if err := z.fr.(flate.Resetter).Reset(&z.src, nil); err != nil {
		return 0, fmt.Errorf("%w: %v", errChunkZlib, err)
	}
	n := 0
	for {
		if n == len(dst) {
			// a whole chunk: the stream must end here
			k, err := z.fr.Read(z.one[:])
			if k > 0 {
				return 0, errChunkLong
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, fmt.Errorf("%w: %v", errChunkZlib, err)
			}
			continue
		}
		k, err := z.fr.Read(dst[n:])
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %v", errChunkZlib, err)
		}
	}
	// The deflate reader reads a byte reader no further than its stream:
	// the checksum follows.
	var sum [4]byte
	if _, err := io.ReadFull(&z.src, sum[:]); err != nil {
		return 0, fmt.Errorf("%w: the zlib checksum is missing", errChunkZlib)
	}
	if got, want := adler32Checksum(dst[:n]), binary.BigEndian.Uint32(sum[:]); got != want {
		return 0, fmt.Errorf("%w: %v", errChunkZlib, zlib.ErrChecksum)
	}
	return n, nil
}

// checkRaw checks a chunk stored uncompressed (its bytes and their
// Adler-32) and returns its media bytes, in stored.
func checkRaw(stored []byte, want, chunkSize int, last bool) ([]byte, error) {
	n := len(stored) - 4
	if n < 0 || (n != want && (!last || n < want || n > chunkSize)) {
		return nil, fmt.Errorf("%w: stored uncompressed in %d bytes, want %d and a checksum", errChunkSize, len(stored), want)
	}
	if got, sum := getU32(stored[n:]), adler32Checksum(stored[:n]); got != sum {
		return nil, fmt.Errorf("chunk %w (stored %#08x, computed %#08x)", errChecksum, got, sum)
	}
	return stored[:want:want], nil
}

// stored is what Stored reports, from the collected sections.
func (m *meta) stored() format.Stored {
	st := format.Stored{Hashes: report.Hashes{}, Unreadable: []report.Range{}, Fields: map[string]string{}}
	zero := func(b []byte) bool { return len(b) == 0 || bytes.Count(b, []byte{0}) == len(b) }
	if md5 := m.hashMD5; !zero(md5) {
		st.Hashes["md5"] = hex.EncodeToString(md5)
	} else if !zero(m.digestMD5) {
		st.Hashes["md5"] = hex.EncodeToString(m.digestMD5)
	}
	if !zero(m.sha1) {
		st.Hashes["sha1"] = hex.EncodeToString(m.sha1)
	}
	if m.vol != nil {
		ss := int64(m.vol.sectorSize)
		for _, r := range m.runs {
			st.Unreadable = append(st.Unreadable, report.Range{Offset: int64(r.start) * ss, Length: int64(r.count) * ss})
		}
		st.Fields["bytes_per_sector"] = strconv.Itoa(int(m.vol.sectorSize))
		st.Fields["sectors_per_chunk"] = strconv.Itoa(int(m.vol.chunkSectors))
		st.Fields["set_identifier"] = hex.EncodeToString(m.vol.guid[:])
	}
	// header first, then header2's non-empty values over it (libewf's
	// order).
	vals := map[string]string{}
	for _, src := range []map[string]string{m.header, m.header2} {
		for k, v := range src {
			if v != "" {
				vals[k] = v
			}
		}
	}
	st.Case = report.Case{CaseNumber: vals["c"], EvidenceNumber: vals["n"], Examiner: vals["e"], Description: vals["a"], Notes: vals["t"]}
	for id, label := range map[string]string{"md": "model", "sn": "serial", "av": "software_version", "ov": "os", "m": "acquisition_date", "u": "system_date"} {
		if v := vals[id]; v != "" {
			if id == "m" || id == "u" {
				v = headerTime(v)
			}
			st.Fields[label] = v
		}
	}
	return st
}

// headerTime renders a header date: a Unix time (header2) as RFC 3339 UTC;
// the header form "YYYY M D h m s" (the writer's local time, zone unknown)
// as "YYYY-MM-DD hh:mm:ss (local time)".
func headerTime(v string) string {
	if !strings.Contains(v, " ") {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(s, 0).UTC().Format(time.RFC3339)
		}
		return v
	}
	var y, mo, d, h, mi, s int
	if n, _ := fmt.Sscanf(v, "%d %d %d %d %d %d", &y, &mo, &d, &h, &mi, &s); n == 6 {
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d (local time)", y, mo, d, h, mi, s)
	}
	return v
}
