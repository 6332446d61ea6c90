package ewf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/custodian-forensics/custodian/acquire/format"
)

var _ format.KeptReader = (*Writer)(nil)

// kept is the media a resumed writer holds before its checkpoint: whole
// chunks in the segment files as the checkpoint left them, then the bytes
// of the incomplete chunk, which the checkpoint state carries.
type kept struct {
	files []string
	// limit is the checkpoint's synced length of the last file, the
	// segment open at the checkpoint: bytes after it (written after the
	// checkpoint, or torn by a crash) are never read.
	limit int64
	// openFd, when set, is the writer's own descriptor of the open
	// segment: it is read through that descriptor, the file the resume
	// checked, never again by name.
	openFd  *os.File
	chunks  int64 // whole chunks in the files
	pending []byte
	im      *image // opened on the first read
}

// end is the media offset of the checkpoint.
func (k *kept) end(chunkSize int) int64 { return k.chunks*int64(chunkSize) + int64(len(k.pending)) }

// ReadKeptAt reads media the writer holds before its resume point (the
// checkpoint it was resumed from), for a resume's checks of what was kept.
// The segment files are read leniently, as they stand at the checkpoint:
// closed segments whole, the open one only up to the length the
// checkpoint recorded as synced, which ends after a whole section instead
// of a done or next section. Every section descriptor, table and chunk
// checksum is checked as Open checks them; damage is a *format.Damage.
// Reads at or past the checkpoint return io.EOF. A writer made by Create
// holds nothing (io.EOF). Valid until Finish or Abort.
func (w *Writer) ReadKeptAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("ewf: negative offset")
	}
	k := w.kept
	if k == nil {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	cs := int64(w.l.chunkSize)
	whole := k.chunks * cs
	n := 0
	if off < whole && len(p) > 0 {
		if k.im == nil {
			im, err := w.openKept()
			if err != nil {
				return 0, err
			}
			k.im = im
		}
		q := p[:min(int64(len(p)), whole-off)]
		got, err := k.im.ReadAt(q, off)
		n += got
		if got < len(q) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		off += int64(got)
	}
	if off >= whole && n < len(p) && off < k.end(w.l.chunkSize) {
		n += copy(p[n:], k.pending[off-whole:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// openKept opens the kept files as an image that ends at the checkpoint.
func (w *Writer) openKept() (*image, error) {
	k := w.kept
	if len(k.files) == 0 {
		return nil, fmt.Errorf("ewf: the checkpoint holds %d chunks but no segment file", k.chunks)
	}
	last := len(k.files) - 1
	im := &image{root: w.root, files: k.files, handles: map[int]*os.File{}, cached: map[int]table{}, chunkAt: -1, keptLimit: k.limit}
	if k.openFd != nil {
		fd := k.openFd
		im.opener = func(i int) (*os.File, error) {
			if i == last && w.seg != nil && w.seg.f == fd {
				// The writer's descriptor is write-only: read the same
				// inode through a descriptor of its own (only while the
				// writer holds it open, so the number names that file).
				return os.Open("/proc/self/fd/" + strconv.Itoa(int(fd.Fd())))
			}
			return openRegular(w.root, k.files[i], os.O_RDONLY)
		}
	}
	if err := im.walkAll(); err != nil {
		im.Close()
		return nil, err
	}
	m := &im.meta
	if m.chunkSize != w.l.chunkSize || m.mediaSize != w.l.mediaSize {
		im.Close()
		return nil, damage(k.files[0], "volume", "chunks of %d bytes and a media of %d bytes, the checkpoint's layout has %d and %d",
			m.chunkSize, m.mediaSize, w.l.chunkSize, w.l.mediaSize)
	}
	if m.entries != k.chunks {
		im.Close()
		return nil, damage(k.files[last], "tables", "the tables up to the checkpoint list %d chunks, the checkpoint %d", m.entries, k.chunks)
	}
	im.stored = make([]byte, 0, maxStored(m.chunkSize))
	im.chunk = make([]byte, m.chunkSize)
	return im, nil
}

// closeKept closes the kept files' descriptors.
func (w *Writer) closeKept() {
	if w.kept != nil && w.kept.im != nil {
		w.kept.im.Close()
		w.kept.im = nil
	}
}
