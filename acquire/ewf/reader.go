package ewf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// tableRef is where one table's chunks are: the entries themselves are
// read again when a read reaches them (a few tables are cached), so an
// open set holds a few dozen bytes per table, not per chunk.
type tableRef struct {
	file  int
	off   int64 // the table descriptor's offset
	size  int64 // the table section's size
	first int64 // index of its first chunk
	n     int64
}

// image is an open E01 set.
type image struct {
	root   *os.Root
	files  []string
	meta   meta
	tables []tableRef

	mu      sync.Mutex
	handles map[int]*os.File // a few open segment files
	order   []int            // handles, least recently used first
	cached  map[int]table    // a few tables' entries, by index in tables
	corder  []int
	z       inflater
	stored  []byte
	chunk   []byte
	chunkAt int64 // index of the chunk in chunk, -1 for none

	// keptLimit, when above 0, makes the last file the segment open at a
	// resume's checkpoint: only its first keptLimit bytes are read, and
	// they end with a whole section instead of done or next (see
	// openKept).
	keptLimit int64
	// opener opens file i (nil: by name, through root).
	opener func(i int) (*os.File, error)
}

const (
	maxHandles = 8
	maxCached  = 4
)

func damage(file, where string, f string, a ...any) error {
	return &format.Damage{File: file, Where: where, Cause: fmt.Errorf(f, a...)}
}

func atOffset(off int64) string { return fmt.Sprintf("section header at offset %#x", off) }

// open reads the sections of every file of a set and checks them: the
// file headers, every descriptor, the volume and data sections, table
// headers and entry checksums, and the hash, digest and error2 sections.
// Chunks are checked when read.
func open(root *os.Root, files []string) (*image, error) {
	if len(files) == 0 {
		return nil, errors.New("ewf: no segment files")
	}
	im := &image{root: root, files: files, handles: map[int]*os.File{}, cached: map[int]table{}, chunkAt: -1}
	if err := im.walkAll(); err != nil {
		im.Close()
		return nil, err
	}
	m := &im.meta
	if m.entries < m.chunks {
		im.Close()
		return nil, damage(files[len(files)-1], "tables", "the tables list %d chunks, the media needs %d", m.entries, m.chunks)
	}
	im.stored = make([]byte, 0, maxStored(m.chunkSize))
	im.chunk = make([]byte, m.chunkSize)
	return im, nil
}

// walkAll walks every segment file of the set in order (see walk) and
// checks that the set has a volume section.
func (im *image) walkAll() error {
	for i := range im.files {
		if err := im.walk(i); err != nil {
			return err
		}
	}
	if im.meta.vol == nil {
		return damage(im.files[0], "volume", "the set has no volume section")
	}
	return nil
}

// walk follows the descriptors of file i from offset 13.
func (im *image) walk(i int) error {
	name := im.files[i]
	f, err := im.file(i)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ewf: %w", err)
	}
	size := fi.Size()
	last := i == len(im.files)-1
	open := last && im.keptLimit > 0 // the segment open at the checkpoint
	if open {
		if size < im.keptLimit {
			return damage(name, "file", "it has %d bytes, fewer than the %d the checkpoint recorded as synced", size, im.keptLimit)
		}
		size = im.keptLimit // nothing after the checkpoint is trusted
	}
	var hdr [fileHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return damage(name, "file header", "%v", readErr(err))
	}
	if err := checkFileHeader(hdr[:], i+1); err != nil {
		return &format.Damage{File: name, Where: "file header", Cause: err}
	}
	m := &im.meta
	var d [descSize]byte
	var body []byte
	var lastSectors int64 = -1 // end of the last sectors descriptor
	for off := int64(fileHeaderSize); ; {
		if open && off == size {
			return nil // the checkpoint ends after a whole section
		}
		if off+descSize > size {
			return damage(name, atOffset(off), "the file ends (at %d bytes) before its done or next section", size)
		}
		if _, err := f.ReadAt(d[:], off); err != nil {
			return damage(name, atOffset(off), "%v", readErr(err))
		}
		s, err := parseDesc(d[:], off, size)
		if err != nil {
			return &format.Damage{File: name, Where: atOffset(off), Cause: err}
		}
		if open && (s.typ == "done" || s.typ == "next") {
			return damage(name, atOffset(off), "a %s section in the segment that was open at the checkpoint", s.typ)
		}
		if err := endSection(s, last, m); err != nil {
			return &format.Damage{File: name, Where: atOffset(off), Cause: err}
		}
		if s.typ == "done" || s.typ == "next" {
			return nil
		}
		bodyLen := s.size - descSize
		switch {
		case smallSection(s.typ):
			if bodyLen > maxSmallSection {
				return damage(name, fmt.Sprintf("%s section at offset %#x", s.typ, off), "%d bytes is too large", bodyLen)
			}
			body = grow(body, int(bodyLen))
			if _, err := f.ReadAt(body, off+descSize); err != nil {
				return damage(name, fmt.Sprintf("%s section at offset %#x", s.typ, off), "%v", readErr(err))
			}
			if _, err := m.small(s.typ, body, i+1); err != nil {
				return damage(name, fmt.Sprintf("%s section at offset %#x", s.typ, off), "%v", err)
			}
		case s.typ == "sectors":
			lastSectors = off + descSize
		case s.typ == "table":
			where := fmt.Sprintf("table at offset %#x", off)
			if m.vol == nil {
				return damage(name, where, "a table before the volume section")
			}
			if bodyLen > tableHeadSize+4*maxTableEntries+4 {
				return damage(name, where, "%d bytes is too large", bodyLen)
			}
			body = grow(body, int(bodyLen))
			if _, err := f.ReadAt(body, off+descSize); err != nil {
				return damage(name, where, "%v", readErr(err))
			}
			t, err := parseTable(body, nil)
			if err == nil {
				lo := max(lastSectors, fileHeaderSize)
				err = t.check(lo, off, m.chunkSize)
			}
			if err != nil {
				return &format.Damage{File: name, Where: where, Cause: err}
			}
			n := int64(len(t.entries))
			im.tables = append(im.tables, tableRef{file: i, off: off, size: s.size, first: m.entries, n: n})
			m.entries += n
		}
		off = s.next
	}
}

// endSection checks the place of done and next sections in the set.
func endSection(s desc, last bool, m *meta) error {
	switch {
	case s.typ == "done" && !last:
		return errors.New("a done section in a segment that is not the last: a later file does not belong to this set")
	case s.typ == "next" && last:
		return errors.New("the last file found ends with a next section: a later segment is missing")
	case s.typ == "done":
		m.sawDone = true
	}
	return nil
}

func checkFileHeader(b []byte, n int) error {
	if !bytes.Equal(b[:8], signature[:]) {
		return errors.New("not an EWF-E01 segment (no EVF signature)")
	}
	if b[8] != 1 {
		return fmt.Errorf("fields start byte %#x, want 0x01", b[8])
	}
	if got := int(b[9]) | int(b[10])<<8; got != n {
		return fmt.Errorf("segment number %d in the file, but it is file %d of the set", got, n)
	}
	return nil
}

func readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// file returns an open descriptor of segment i, keeping a few open.
func (im *image) file(i int) (*os.File, error) {
	if f, ok := im.handles[i]; ok {
		for k, j := range im.order {
			if j == i {
				im.order = append(append(im.order[:k:k], im.order[k+1:]...), i)
				break
			}
		}
		return f, nil
	}
	if len(im.order) >= maxHandles {
		old := im.order[0]
		im.order = im.order[1:]
		im.handles[old].Close()
		delete(im.handles, old)
	}
	var f *os.File
	var err error
	if im.opener != nil {
		f, err = im.opener(i)
	} else {
		f, err = openRegular(im.root, im.files[i], os.O_RDONLY)
	}
	if err != nil {
		return nil, fmt.Errorf("ewf: %w", err)
	}
	im.handles[i] = f
	im.order = append(im.order, i)
	return f, nil
}

func (im *image) Size() int64 { return im.meta.mediaSize }

// Stored is what the set records: MD5 and SHA-1 (hash and digest
// sections), the read errors (error2, as byte ranges), the case fields
// and other header values.
func (im *image) Stored() format.Stored { return im.meta.stored() }

func (im *image) Close() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	var err error
	for i, f := range im.handles {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		delete(im.handles, i)
	}
	im.order = nil
	return err
}

// ReadAt reads media bytes. Calls are serialised (one chunk is cached).
func (im *image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("ewf: negative offset")
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	size := im.meta.mediaSize
	cs := int64(im.meta.chunkSize)
	n := 0
	for n < len(p) && off < size {
		ci := off / cs
		data, err := im.readChunk(ci)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], data[off-ci*cs:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readChunk returns chunk ci's media bytes (valid until the next call).
func (im *image) readChunk(ci int64) ([]byte, error) {
	m := &im.meta
	if im.chunkAt == ci {
		return im.chunk[:m.chunkLen(ci)], nil
	}
	ti := sort.Search(len(im.tables), func(k int) bool { return im.tables[k].first+im.tables[k].n > ci })
	ref := im.tables[ti]
	name := im.files[ref.file]
	t, err := im.table(ti)
	if err != nil {
		return nil, err
	}
	sp := t.span(int(ci-ref.first), ref.off)
	f, err := im.file(ref.file)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("chunk %d", ci)
	im.stored = im.stored[:sp.size]
	if _, err := f.ReadAt(im.stored, sp.off); err != nil {
		return nil, damage(name, where, "%v", readErr(err))
	}
	im.chunkAt = -1
	data, err := im.z.decode(im.stored, sp.compressed, m.chunkLen(ci), m.chunkSize, ci == m.chunks-1, im.chunk)
	if err != nil {
		return nil, &format.Damage{File: name, Where: where, Cause: err}
	}
	im.chunkAt = ci
	return data, nil
}

// table returns the entries of table ti, reading and checking them again
// (the file may have changed since Open) unless cached.
func (im *image) table(ti int) (table, error) {
	if t, ok := im.cached[ti]; ok {
		return t, nil
	}
	ref := im.tables[ti]
	name := im.files[ref.file]
	where := fmt.Sprintf("table at offset %#x", ref.off)
	f, err := im.file(ref.file)
	if err != nil {
		return table{}, err
	}
	body := make([]byte, ref.size-descSize)
	if _, err := f.ReadAt(body, ref.off+descSize); err != nil {
		return table{}, damage(name, where, "%v", readErr(err))
	}
	t, err := parseTable(body, nil)
	if err == nil && int64(len(t.entries)) != ref.n {
		err = fmt.Errorf("the table now has %d entries, %d when the set was opened", len(t.entries), ref.n)
	}
	if err == nil {
		err = t.check(fileHeaderSize, ref.off, im.meta.chunkSize)
	}
	if err != nil {
		return table{}, &format.Damage{File: name, Where: where, Cause: err}
	}
	if len(im.corder) >= maxCached {
		delete(im.cached, im.corder[0])
		im.corder = im.corder[1:]
	}
	im.cached[ti] = t
	im.corder = append(im.corder, ti)
	return t, nil
}
