package acquire

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/units"
	"golang.org/x/sys/unix"
)

// ErrOutputOnSource is wrapped when the output folder lies on the source
// device, one of its partitions or a device stacked on it.
var ErrOutputOnSource = errors.New("the output folder is on the source device")

// prepareDest refuses an output folder that would write to the source. It
// checks the nearest existing ancestor of dir BEFORE anything is created:
// creating the folder on the source's own filesystem would already be a
// write to the evidence.
func prepareDest(dir string, dev *blockdev.Device, info *blockdev.Info, infoErr error) error {
	st, existing, err := NearestFolder(dir)
	if errors.Is(err, ErrNotFolder) {
		return fmt.Errorf("%w: output %s is not a folder", ErrUsage, existing)
	}
	if err != nil {
		return fmt.Errorf("%w: output folder %s: %w", ErrUsage, dir, err)
	}
	if !dev.IsBlock() {
		return nil
	}
	if infoErr != nil {
		return fmt.Errorf("%w: cannot tell whether the output folder is on the source: %w", ErrUsage, infoErr)
	}
	if slices.Contains(info.RelatedDevNums(), uint64(st.Dev)) {
		return &refusal{
			Err: fmt.Errorf("%w: %w: %s is on a filesystem of %s", ErrUsage, ErrOutputOnSource, existing, dev.Path()),
			Tip: "write the image to another disk: -o /path/on/another/disk",
		}
	}
	return nil
}

// FreeSpace is the number of bytes an unprivileged writer may still write
// to the filesystem of path (statfs's available blocks).
func FreeSpace(path string) (int64, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, err
	}
	return int64(fs.Bavail) * fs.Bsize, nil
}

// ErrNotFolder: the nearest existing ancestor of an output folder (or the
// folder itself) is not a folder.
var ErrNotFolder = errors.New("not a folder")

// NearestFolder stats dir, or its closest ancestor that exists (the folder
// a new output folder would be created in), and returns it with its
// absolute path; one that is not a folder wraps ErrNotFolder. acquire and
// the batch runner check destinations (on the source? room enough?) on it
// before anything is created.
func NearestFolder(dir string) (unix.Stat_t, string, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return unix.Stat_t{}, "", err
	}
	for {
		var st unix.Stat_t
		err := unix.Stat(p, &st)
		if err == nil {
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return st, p, fmt.Errorf("%s is %w", p, ErrNotFolder)
			}
			return st, p, nil
		}
		if !errors.Is(err, os.ErrNotExist) || filepath.Dir(p) == p {
			return st, p, &os.PathError{Op: "stat", Path: p, Err: err}
		}
		p = filepath.Dir(p)
	}
}

// checkSpace refuses a destination whose free space is known to be smaller
// than the image (raw images are as large as the source), unless forced.
func checkSpace(dir string, need int64, o *Options) error {
	_, existing, err := NearestFolder(dir)
	if err != nil {
		return nil // prepareDest already reported it
	}
	free, err := FreeSpace(existing)
	if err != nil {
		return nil // unknown: nothing to refuse on
	}
	need += 1 << 20 // report, journal, folder entries
	if o.Format != "raw" && o.Compression != "none" && o.Compression != "" {
		return nil // compressed size cannot be known in advance
	}
	if free >= need || o.Force {
		return nil
	}
	return &refusal{
		Err: fmt.Errorf("%w: the destination %s has %s free, the image needs about %s",
			ErrUsage, existing, units.FormatSize(free), units.FormatSize(need)),
		Tip: "free space or choose another output folder; --force tries anyway (a full disk stops the acquisition, which can then be resumed elsewhere with --resume)",
	}
}
