package raw

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Open returns the image stream: the named segment files of dir read one
// after another. Every file must exist.
func Open(dir string, files []string) (io.ReadCloser, error) {
	fs := make([]*os.File, 0, len(files))
	closeAll := func() {
		for _, f := range fs {
			f.Close()
		}
	}
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open segment: %w", err)
		}
		fs = append(fs, f)
	}
	rs := make([]io.Reader, len(fs))
	for i, f := range fs {
		rs[i] = f
	}
	return &multiFile{Reader: io.MultiReader(rs...), close: closeAll}, nil
}

type multiFile struct {
	io.Reader
	close func()
}

func (m *multiFile) Close() error { m.close(); return nil }
