package ewf

import (
	"errors"
	"fmt"
	"github.com/custodian-forensics/custodian/internal/rootfile"
	"io/fs"
	"os"
	"syscall"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// ErrNoSpace is wrapped (together with the system's ENOSPC or EDQUOT) when
// the destination filesystem is full.
var ErrNoSpace = errors.New("destination is full")

// ioErr wraps a write error, naming the file and marking a full
// destination.
func ioErr(op, file string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("ewf: %s %s: %w (%w)", op, file, ErrNoSpace, err)
	}
	return fmt.Errorf("ewf: %s %s: %w", op, file, err)
}

// openRegular opens an image file of the folder: see rootfile.Open.
func openRegular(root *os.Root, name string, flag int) (*os.File, error) {
	return rootfile.Open(root, name, flag)
}

// finalize makes partial read-only and gives it its final name: see
// rootfile.Finalize.
func finalize(root *os.Root, partial, final string, size int64) error {
	if err := rootfile.Finalize(root, partial, final, size); err != nil {
		return fmt.Errorf("ewf: finish segment: %w", err)
	}
	return nil
}

// removePartials removes this image's .partial segment files numbered
// above keep. Only names this format writes are touched, and only regular
// files or symbolic links themselves (Remove does not follow links).
func removePartials(root *os.Root, name string, keep int) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("ewf: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("ewf: list the folder: %w", err)
	}
	for _, f := range names {
		n, partial, ok := segmentNumber(name, f)
		if !ok || !partial || n <= keep {
			continue
		}
		fi, err := root.Lstat(f)
		if err != nil {
			return fmt.Errorf("ewf: %w", err)
		}
		if fi.IsDir() {
			return fmt.Errorf("ewf: %s is a folder, not a segment file", f)
		}
		if err := root.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ewf: remove %s: %w", f, err)
		}
	}
	return nil
}

// existing lists the files in root this format owns for the image name:
// finals (NAME.Exx) and partials.
func existing(root *os.Root, name string) (finals, partials []string, err error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, nil, fmt.Errorf("ewf: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("ewf: list the folder: %w", err)
	}
	for _, f := range names {
		if _, partial, ok := segmentNumber(name, f); ok && partial {
			partials = append(partials, f)
		} else if ok {
			finals = append(finals, f)
		}
	}
	return finals, partials, nil
}

// refuseStale refuses to write a set where segment files of that name are
// already final: libewf globs NAME.E01, NAME.E02, … until a name is
// missing, so a stale NAME.E05 would join a new three-segment set.
func refuseStale(root *os.Root, name string, partialsToo bool) error {
	finals, partials, err := existing(root, name)
	if err != nil {
		return err
	}
	if partialsToo {
		finals = append(finals, partials...)
	}
	if len(finals) > 0 {
		return &format.Hinted{
			Err: fmt.Errorf("%w: the folder already holds %s of an image named %s", format.ErrSpec, finals[0], name),
			Tip: "choose another image name or folder; stale segment files would be read as part of the new set",
		}
	}
	return nil
}
