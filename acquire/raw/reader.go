package raw

import (
	"io"
	"os"
	"path/filepath"
)

// Open returns the image stream: the named segment files of dir read one
// after another. Each file is opened only when it is reached, so one
// descriptor is open at a time however many segments there are; a missing
// file is an error when the stream reaches it.
func Open(dir string, files []string) io.ReadCloser {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f)
	}
	return &concatReader{paths: paths}
}

type concatReader struct {
	paths []string
	cur   *os.File
}

func (c *concatReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.paths) == 0 {
				return 0, io.EOF
			}
			f, err := os.Open(c.paths[0])
			if err != nil {
				return 0, err
			}
			c.cur, c.paths = f, c.paths[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *concatReader) Close() error {
	if c.cur != nil {
		return c.cur.Close()
	}
	return nil
}
