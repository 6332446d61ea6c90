package raw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// image is a complete raw image: its segment files, each opened when a read
// reaches it. One descriptor is kept open (the segment read last), so a
// sequential read of any number of segments holds one descriptor.
type image struct {
	root  *os.Root
	files []string
	// starts[i] is the media offset of files[i]; starts[len(files)] the size.
	starts []int64
	cur    *os.File
	curIdx int
}

func openImage(root *os.Root, files []string) (*image, error) {
	im := &image{root: root, files: files, starts: make([]int64, len(files)+1), curIdx: -1}
	for i, f := range files {
		fi, err := root.Lstat(f)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", f)
		}
		im.starts[i+1] = im.starts[i] + fi.Size()
	}
	return im, nil
}

func (im *image) Size() int64 { return im.starts[len(im.files)] }

func (im *image) file(i int) (*os.File, error) {
	if im.curIdx == i {
		return im.cur, nil
	}
	if im.cur != nil {
		im.cur.Close()
		im.cur, im.curIdx = nil, -1
	}
	f, err := openRegular(im.root, im.files[i], os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	im.cur, im.curIdx = f, i
	return f, nil
}

func (im *image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= im.Size() {
			return n, io.EOF
		}
		i := sort.Search(len(im.files), func(k int) bool { return im.starts[k+1] > off })
		f, err := im.file(i)
		if err != nil {
			return n, err
		}
		k := int(min(int64(len(p)), im.starts[i+1]-off))
		got, err := f.ReadAt(p[:k], off-im.starts[i])
		n += got
		if got < k {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank since it was opened
			}
			return n, err
		}
		p, off = p[k:], off+int64(k)
	}
	return n, nil
}

func (im *image) Close() error {
	if im.cur == nil {
		return nil
	}
	err := im.cur.Close()
	im.cur, im.curIdx = nil, -1
	return err
}

// scanBufferSize is the read size of a scan: large enough that the
// hand-offs to the hashers cost nothing measurable, small enough that a
// cancellation is seen within milliseconds.
const scanBufferSize = 4 << 20

// scan reads each file once, in order: its bytes go to the visitor's file
// writer and, being the media, to its media writer.
func scan(ctx context.Context, root *os.Root, files []string, v format.ScanVisitor) error {
	buf := make([]byte, scanBufferSize)
	for i, name := range files {
		w := v.BeginFile(i)
		n, err := scanFile(ctx, root, name, buf, w, v)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		v.EndFile(i, n, err)
	}
	return nil
}

func scanFile(ctx context.Context, root *os.Root, name string, buf []byte, w io.Writer, v format.ScanVisitor) (int64, error) {
	f, err := openRegular(root, name, os.O_RDONLY)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return 0, fmt.Errorf("%s is a symbolic link; image files are read only as regular files in the folder", name)
		}
		return 0, err
	}
	defer f.Close()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := io.ReadFull(f, buf)
		if k > 0 {
			// The file's bytes are the media: the file's hashers and the
			// media's run at the same time over the same buffer.
			var wg sync.WaitGroup
			if w != nil {
				wg.Go(func() { w.Write(buf[:k]) })
			}
			merr := v.Media(buf[:k])
			wg.Wait()
			if merr != nil {
				return n, merr
			}
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
