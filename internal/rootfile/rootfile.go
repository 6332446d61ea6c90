// Package rootfile opens files of a folder that custodian treats as
// hostile: through the folder's handle (*os.Root), never following a
// symbolic link, only as a regular file with one link (a hard link to a
// file elsewhere would let a write, truncate or chmod reach it), and reads
// them with a bound on their size. The image formats, the journal, the
// reports and verification all open files this one way.
package rootfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotRegular is wrapped (by a *NotRegularError) when a name is a
// symbolic link, not a regular file, or a file with more than one link.
var ErrNotRegular = errors.New("not a regular file of the folder")

// NotRegularError names the file and says what it is instead.
type NotRegularError struct {
	Name string
	What string // "a symbolic link, not followed", "not a regular file (p---------)", …
}

func (e *NotRegularError) Error() string { return e.Name + ": " + e.What }
func (e *NotRegularError) Unwrap() error { return ErrNotRegular }

// Open opens name in root with flag (plus O_NOFOLLOW, O_NONBLOCK so a FIFO
// never blocks, O_CLOEXEC) and checks it is a regular file with one link.
func Open(root *os.Root, name string, flag int) (*os.File, error) {
	f, err := root.OpenFile(name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		// os.Root refuses a link that leads out of the folder before
		// O_NOFOLLOW is even reached; either way it is a link.
		if fi, lerr := root.Lstat(name); errors.Is(err, syscall.ELOOP) || (lerr == nil && fi.Mode()&fs.ModeSymlink != 0) {
			return nil, &NotRegularError{name, "a symbolic link, not followed"}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{name, fmt.Sprintf("not a regular file (%v)", fi.Mode().Type())}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
		f.Close()
		return nil, &NotRegularError{name, fmt.Sprintf("%d links, where a file of its own has one", st.Nlink)}
	}
	// os.Root resolves a symbolic link that stays inside the folder itself,
	// O_NOFOLLOW notwithstanding: what was opened must be the name itself.
	lfi, err := root.Lstat(name)
	if err != nil {
		f.Close()
		return nil, err
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		f.Close()
		return nil, &NotRegularError{name, "a symbolic link, not followed"}
	}
	if !os.SameFile(fi, lfi) {
		f.Close()
		return nil, &NotRegularError{name, "replaced by another file while it was opened"}
	}
	return f, nil
}

// ReadAll reads the regular file name of root (see Open), refusing one of
// more than limit bytes before reading it, and one that grows past limit
// while it is read.
func ReadAll(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := Open(root, name, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s has %d bytes, more than the %d it can have", name, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew beyond %d bytes while it was read", name, limit)
	}
	return b, nil
}

// Kept checks a segment file a resume keeps: under its partial name, or
// under its final name when a crash came after Finish renamed it, it must
// be a regular file of the folder (see Open) of size bytes. It reports
// whether the file has its final name; neither name existing wraps
// fs.ErrNotExist.
func Kept(root *os.Root, partial, final string, size int64) (isFinal bool, err error) {
	for _, name := range []string{partial, final} {
		f, err := Open(root, name, os.O_RDONLY)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return false, err
		}
		if fi.Size() != size {
			return false, fmt.Errorf("%s has %d bytes, the journal recorded %d", name, fi.Size(), size)
		}
		return name == final, nil
	}
	return false, fmt.Errorf("segment %s is missing (neither %s nor %s): %w", final, partial, final, fs.ErrNotExist)
}

// Finalize makes partial read-only (0440, through its descriptor) and
// renames it to final within root. partial must be a regular file with one
// link and size bytes; final must not exist.
func Finalize(root *os.Root, partial, final string, size int64) error {
	f, err := Open(root, partial, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%s has %d bytes, %d were written", partial, fi.Size(), size)
	}
	if err := f.Chmod(0o440); err != nil {
		return err
	}
	return renameNoReplace(root, partial, final)
}

// renameNoReplace renames from to to within root, failing if to exists:
// one renameat2(RENAME_NOREPLACE) where the filesystem has it, else a check
// and a rename (a file created between the two would be replaced).
func renameNoReplace(root *os.Root, from, to string) error {
	appeared := fmt.Errorf("%s: %s appeared during the acquisition; not overwritten", from, to)
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	err = unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return appeared
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	if _, err := root.Lstat(to); err == nil {
		return appeared
	}
	return root.Rename(from, to)
}
