package ewf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/klauspost/compress/zlib"
)

// Sizes and limits of the EWF-E01 layout (see /work/shared/ewf.md).
const (
	fileHeaderSize = 13
	descSize       = 76
	volumeBodySize = 1052
	volumeSize     = descSize + volumeBodySize // volume and data sections
	tableHeadSize  = 24
	hashSize       = descSize + 36
	digestSize     = descSize + 80
	doneSize       = descSize // next and done: a descriptor only
	error2HeadSize = 520

	// maxGroupEntries is the most chunks one {sectors, table, table2}
	// group holds: 16375 is what every EWF reader accepts (FTK 1 breaks
	// above it; libewf writes up to 65534 in EnCase 6 mode).
	maxGroupEntries = 16375
	// maxVolumeChunks is the most chunks libewf 20140813 (Debian 12) and
	// the Sleuth Kit linked against it can open.
	maxVolumeChunks = 134_217_727
	// maxChunkSize is the largest chunk the writer uses: X-Ways rejects
	// larger ones.
	maxChunkSize = 256 << 10
	// maxSegments is the last name, NAME.ZZZ.
	maxSegments = 14971
	// entryOffsetMask keeps the offset bits of a table entry; bit 31 marks
	// a compressed chunk.
	entryOffsetMask = 0x7fffffff
	entryCompressed = 0x80000000
)

// signature starts every segment file ("EVF\t\r\n\xff\0").
var signature = [8]byte{'E', 'V', 'F', 0x09, 0x0d, 0x0a, 0xff, 0x00}

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }
func putU64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }
func getU32(b []byte) uint32    { return binary.LittleEndian.Uint32(b) }
func getU64(b []byte) uint64    { return binary.LittleEndian.Uint64(b) }

// fileHeader is the 13 bytes that open segment n.
func fileHeader(n int) []byte {
	b := make([]byte, fileHeaderSize)
	copy(b, signature[:])
	b[8] = 1
	binary.LittleEndian.PutUint16(b[9:], uint16(n))
	return b
}

// appendDesc appends a section descriptor of type typ at file offset off
// whose section (descriptor included) is size bytes long. next and done
// point at themselves with size 0, as libewf and EnCase write them.
func appendDesc(dst []byte, typ string, off, size int64) []byte {
	var d [descSize]byte
	copy(d[:16], typ)
	next := off + size
	if typ == "next" || typ == "done" {
		next, size = off, 0
	}
	putU64(d[16:], uint64(next))
	putU64(d[24:], uint64(size))
	putU32(d[72:], adler32.Checksum(d[:72]))
	return append(dst, d[:]...)
}

// desc is a parsed section descriptor.
type desc struct {
	typ        string
	off        int64 // where the descriptor is
	next, size int64
}

// errChecksum is the cause of every checksum mismatch.
var errChecksum = errors.New("checksum mismatch")

// parseDesc checks the descriptor at offset off of a file of fileSize bytes
// and returns it. The rules are libewf's: every section but next/done ends
// where the next starts (next = off + size, size >= 76); next and done
// point at themselves.
func parseDesc(b []byte, off, fileSize int64) (desc, error) {
	if got, want := getU32(b[72:]), adler32.Checksum(b[:72]); got != want {
		return desc{}, fmt.Errorf("descriptor %w (stored %#08x, computed %#08x)", errChecksum, got, want)
	}
	typ := string(bytes.TrimRight(b[:16], "\x00"))
	for _, c := range []byte(typ) {
		if c < 0x20 || c > 0x7e {
			return desc{}, fmt.Errorf("section type %q is not text", typ)
		}
	}
	d := desc{typ: typ, off: off, next: int64(getU64(b[16:])), size: int64(getU64(b[24:]))}
	if d.next < 0 || d.size < 0 {
		return desc{}, fmt.Errorf("%s section: next %d, size %d out of range", typ, uint64(d.next), uint64(d.size))
	}
	if typ == "next" || typ == "done" {
		if d.next != off || (d.size != 0 && d.size != descSize) {
			return desc{}, fmt.Errorf("%s section at %d points at %d with size %d; it must point at itself", typ, off, d.next, d.size)
		}
		return d, nil
	}
	if d.size < descSize || d.next != off+d.size {
		return desc{}, fmt.Errorf("%s section at %d: next %d and size %d do not agree", typ, off, d.next, d.size)
	}
	if d.next > fileSize {
		return desc{}, fmt.Errorf("%s section at %d runs to %d, past the end of the file (%d bytes)", typ, off, d.next, fileSize)
	}
	return d, nil
}

// volume is the body of the volume and data sections.
type volume struct {
	mediaType    byte
	chunks       uint32
	chunkSectors uint32
	sectorSize   uint32
	sectors      uint64
	flags        byte
	level        byte // compression level: 0 none, 1 fast, 2 best
	granularity  uint32
	guid         [16]byte
}

func (v volume) appendBody(dst []byte) []byte {
	b := make([]byte, volumeBodySize)
	b[0] = v.mediaType
	putU32(b[4:], v.chunks)
	putU32(b[8:], v.chunkSectors)
	putU32(b[12:], v.sectorSize)
	putU64(b[16:], v.sectors)
	b[36] = v.flags
	b[52] = v.level
	putU32(b[56:], v.granularity)
	copy(b[64:80], v.guid[:])
	putU32(b[1048:], adler32.Checksum(b[:1048]))
	return append(dst, b...)
}

// parseVolume reads a volume (or data) body. A data section may carry a
// zero checksum (a Logicube quirk libewf accepts).
func parseVolume(b []byte, isData bool) (volume, error) {
	if len(b) != volumeBodySize {
		return volume{}, fmt.Errorf("body of %d bytes, want %d", len(b), volumeBodySize)
	}
	if got := getU32(b[1048:]); got != adler32.Checksum(b[:1048]) && (!isData || got != 0) {
		return volume{}, fmt.Errorf("body %w", errChecksum)
	}
	v := volume{
		mediaType: b[0], chunks: getU32(b[4:]), chunkSectors: getU32(b[8:]), sectorSize: getU32(b[12:]),
		sectors: getU64(b[16:]), flags: b[36], level: b[52], granularity: getU32(b[56:]),
	}
	copy(v.guid[:], b[64:80])
	return v, nil
}

// agrees reports whether a data section repeats the volume: libewf refuses
// a set whose data section has a non-zero field that differs.
func (v volume) agrees(vol volume) bool {
	ne := func(a, b uint64) bool { return a != 0 && a != b }
	var zero [16]byte
	differs := ne(uint64(v.mediaType), uint64(vol.mediaType)) || ne(uint64(v.chunks), uint64(vol.chunks)) ||
		ne(uint64(v.chunkSectors), uint64(vol.chunkSectors)) || ne(uint64(v.sectorSize), uint64(vol.sectorSize)) ||
		ne(v.sectors, vol.sectors) || ne(uint64(v.flags), uint64(vol.flags)) || ne(uint64(v.level), uint64(vol.level)) ||
		ne(uint64(v.granularity), uint64(vol.granularity)) || (v.guid != zero && v.guid != vol.guid)
	return !differs
}

// appendTableBody appends a table (or table2) body: header, entries and
// the entries' checksum.
func appendTableBody(dst []byte, base int64, entries []uint32) []byte {
	var h [tableHeadSize]byte
	putU32(h[0:], uint32(len(entries)))
	putU64(h[8:], uint64(base))
	putU32(h[20:], adler32.Checksum(h[:20]))
	dst = append(dst, h[:]...)
	start := len(dst)
	for _, e := range entries {
		dst = binary.LittleEndian.AppendUint32(dst, e)
	}
	return binary.LittleEndian.AppendUint32(dst, adler32.Checksum(dst[start:]))
}

// tableSectionSize is the size of a table section of n entries.
func tableSectionSize(n int) int64 { return descSize + tableHeadSize + 4*int64(n) + 4 }

// groupOverhead is what a group of n chunks takes besides the chunks: the
// sectors descriptor and two table sections.
func groupOverhead(n int) int64 { return descSize + 2*tableSectionSize(n) }

// parseTableHead checks a table header and returns its entry count and
// base offset.
func parseTableHead(b []byte) (n uint32, base int64, err error) {
	if getU32(b[20:]) != adler32.Checksum(b[:20]) {
		return 0, 0, fmt.Errorf("table header %w", errChecksum)
	}
	base64 := getU64(b[8:])
	if base64 > 1<<62 {
		return 0, 0, fmt.Errorf("table base offset %d out of range", base64)
	}
	return getU32(b[0:]), int64(base64), nil
}

// appendHashBody appends the hash section body (MD5).
func appendHashBody(dst []byte, md5 []byte) []byte {
	b := make([]byte, 36)
	copy(b, md5)
	putU32(b[32:], adler32.Checksum(b[:32]))
	return append(dst, b...)
}

// appendDigestBody appends the digest section body (MD5 and SHA-1).
func appendDigestBody(dst []byte, md5, sha1 []byte) []byte {
	b := make([]byte, 80)
	copy(b, md5)
	copy(b[16:], sha1)
	putU32(b[76:], adler32.Checksum(b[:76]))
	return append(dst, b...)
}

// sectorRun is one error2 entry.
type sectorRun struct{ start, count uint32 }

func error2Size(n int) int64 { return descSize + error2HeadSize + 8*int64(n) + 4 }

func appendError2Body(dst []byte, runs []sectorRun) []byte {
	h := make([]byte, error2HeadSize)
	putU32(h, uint32(len(runs)))
	putU32(h[516:], adler32.Checksum(h[:516]))
	dst = append(dst, h...)
	start := len(dst)
	for _, r := range runs {
		dst = binary.LittleEndian.AppendUint32(dst, r.start)
		dst = binary.LittleEndian.AppendUint32(dst, r.count)
	}
	return binary.LittleEndian.AppendUint32(dst, adler32.Checksum(dst[start:]))
}

// parseError2 reads an error2 body.
func parseError2(b []byte) ([]sectorRun, error) {
	if len(b) < error2HeadSize {
		return nil, fmt.Errorf("body of %d bytes is too short", len(b))
	}
	if getU32(b[516:]) != adler32.Checksum(b[:516]) {
		return nil, fmt.Errorf("header %w", errChecksum)
	}
	n := int64(getU32(b))
	if error2HeadSize+8*n+4 > int64(len(b)) {
		return nil, fmt.Errorf("%d entries do not fit a body of %d bytes", n, len(b))
	}
	ent := b[error2HeadSize : error2HeadSize+8*n]
	if getU32(b[error2HeadSize+8*n:]) != adler32.Checksum(ent) {
		return nil, fmt.Errorf("entries %w", errChecksum)
	}
	runs := make([]sectorRun, n)
	for i := range runs {
		runs[i] = sectorRun{getU32(ent[8*i:]), getU32(ent[8*i+4:])}
	}
	return runs, nil
}

// headerValues are the values the writer puts in header2 and header.
type headerValues struct {
	caseNumber, evidence, examiner, description, notes string
	model, serial, version, os                         string
	acquired, system                                   time.Time
}

// maxText is the longest free-text value (EnCase's limit).
const maxText = 2999

// clean makes a header value storable: no TAB, CR or LF (EWF has no
// escape for them), at most maxText characters, at most n if n > 0.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n':
			return ' '
		}
		return r
	}, s)
	if n <= 0 {
		n = maxText
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n])
	}
	return s
}

// ascii replaces every character outside printable ASCII with '?': the
// header section is ASCII.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// The srce and sub categories of an EnCase 6 header2, as libewf writes
// them (readers ignore them).
const header2Tail = "srce\n0\t1\np\tn\tid\tev\ttb\tlo\tpo\tah\tgu\taq\n0\t0\n\t\t\t\t\t-1\t-1\t\t\t\n\n" +
	"sub\n0\t1\np\tn\tid\tnu\tco\tgu\n0\t0\n\t\t\t\t1\t\n\n"

// header2Text is the EnCase 6 header2 text (before UTF-16 encoding).
func header2Text(h headerValues) string {
	unix := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return fmt.Sprint(t.Unix())
	}
	vals := []string{
		clean(h.description, 0), clean(h.caseNumber, 0), clean(h.evidence, 0), clean(h.examiner, 0),
		clean(h.notes, 0), clean(h.model, 0), clean(h.serial, 0), clean(h.version, 11), clean(h.os, 23),
		unix(h.acquired), unix(h.system), "0", "",
	}
	return "3\nmain\na\tc\tn\te\tt\tmd\tsn\tav\tov\tm\tu\tp\tdc\n" + strings.Join(vals, "\t") + "\n\n" + header2Tail
}

// headerDate is the header section's date form: local time, "YYYY M D h m s".
func headerDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.Local()
	return fmt.Sprintf("%d %d %d %d %d %d", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}

// headerText is the ASCII header section text.
func headerText(h headerValues) string {
	vals := []string{
		clean(h.caseNumber, 0), clean(h.evidence, 0), clean(h.description, 0), clean(h.examiner, 0),
		clean(h.notes, 0), clean(h.version, 11), clean(h.os, 23), headerDate(h.acquired), headerDate(h.system), "0",
	}
	return ascii("1\r\nmain\r\nc\tn\ta\te\tt\tav\tov\tm\tu\tp\r\n" + strings.Join(vals, "\t") + "\r\n\r\n")
}

// utf16le encodes s as UTF-16LE with a byte-order mark and no terminator.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xff, 0xfe
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// deflateText compresses a header section body at zlib's default level,
// as libewf does.
func deflateText(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&out, zlib.DefaultCompression)
	_, _ = zw.Write(b) // into a bytes.Buffer: cannot fail
	zw.Close()
	return out.Bytes()
}

// maxHeaderStored and maxHeaderText bound what a reader accepts for a
// header or header2 section, whatever the file claims.
const (
	maxHeaderStored = 1 << 20
	maxHeaderText   = 4 << 20
)

// inflateLimited inflates a zlib stream, refusing more than limit bytes.
func inflateLimited(b []byte, limit int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("inflates to more than %d bytes", limit)
	}
	return out, nil
}

// decodeHeaderText turns a header2 (UTF-16, with or without BOM) or header
// (ASCII / code page) body into text.
func decodeHeaderText(b []byte, utf bool) string {
	if !utf {
		return string(b)
	}
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0xfe {
		b = b[2:]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// parseHeaderText returns the main category's values by identifier, or nil
// when the text is not a header libewf would accept (line 1 "1" or "3",
// line 2 "main").
func parseHeaderText(s string) map[string]string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if len(lines) < 4 {
		return nil
	}
	if c := strings.TrimSpace(lines[0]); c != "1" && c != "3" || strings.TrimSpace(lines[1]) != "main" {
		return nil
	}
	ids := strings.Split(lines[2], "\t")
	vals := strings.Split(lines[3], "\t")
	out := make(map[string]string, len(ids))
	for i, id := range ids {
		if i < len(vals) {
			out[strings.TrimSpace(id)] = vals[i]
		}
	}
	return out
}
