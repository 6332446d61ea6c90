// Package atomicfile replaces files so that a crash leaves either the old
// content or the new, never a mix: write a new file under a random name
// (O_EXCL), fsync it, rename it over the target, fsync the folder.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Option changes how [WriteFile] creates the file.
type Option func(*options)

type options struct {
	exactPerm bool
}

// ExactPerm gives the file exactly the permission bits perm, whatever the
// process's umask: the temporary file is fchmod'ed before it is renamed into
// place, so the target never exists with other bits. Use it for files whose
// readers depend on the bits (a udev rule udevd must read, a state file only
// root may read). Without it the umask applies, as with os.WriteFile.
func ExactPerm() Option {
	return func(o *options) { o.exactPerm = true }
}

// WriteFile atomically replaces path with data. The file is always a new
// file, so it gets perm (less the umask, unless [ExactPerm]) also when it
// replaces one with other bits. On failure the temporary file is removed and
// path is unchanged.
func WriteFile(path string, data []byte, perm fs.FileMode, opts ...Option) (err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Dir(path)
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if o.exactPerm {
		// fchmod on the descriptor: the umask does not apply to chmod, and
		// the descriptor cannot be redirected to another file.
		if err = f.Chmod(perm); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a folder, making renames and new entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
