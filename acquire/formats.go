package acquire

import (
	"fmt"
	"os"
	"strings"

	"github.com/custodian-forensics/custodian/acquire/ewf"
	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/raw"
)

// formats are the image formats this version writes and reads, in the
// order help texts list them. This is the one place that knows them.
var formats = []format.Format{raw.Format{}, ewf.Format{}}

// DefaultSegmentSize is a format's segment size when none is given: 2 GiB
// raw segments fit FAT32 destinations; EWF uses ewfacquire's 1500 MiB,
// below the 2047 MiB that X-Ways before 14.9 and EnCase before 6 accept.
func DefaultSegmentSize(formatName string) int64 {
	if formatName == "ewf" {
		return 1500 << 20
	}
	return 2 << 30
}

// LookupFormat returns the format called name. An unknown name gives an
// error wrapping ErrUsage that lists the known ones.
func LookupFormat(name string) (format.Format, error) {
	for _, f := range formats {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w: image format %q is not supported (supported: %s)", ErrUsage, name, strings.Join(FormatNames(), ", "))
}

// FormatNames lists the formats' names.
func FormatNames() []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.Name()
	}
	return out
}

// DiscoverImage finds the image whose first file is first in root, written
// by any tool (an EWF set from NAME.E01): the format and its files in
// order. ok is false when no format knows such a file.
func DiscoverImage(root *os.Root, first string) (f format.Format, files []string, ok bool, err error) {
	for _, f := range formats {
		if d, is := f.(format.Discoverer); is {
			if files, ok, err := d.Discover(root, first); ok {
				return f, files, true, err
			}
		}
	}
	return nil, nil, false, nil
}

// existingOutputs lists the files in dir that an acquisition named name
// would create or that an earlier one left: image files of any format
// (final or partial), reports, the journal.
func existingOutputs(root *os.Root, name string) ([]string, error) {
	if root == nil {
		return nil, nil // the folder does not exist yet
	}
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if ownedFile(name, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// ownedFile reports whether file is one an acquisition named name writes.
func ownedFile(name, file string) bool {
	rest, ok := strings.CutPrefix(file, name+".")
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, "report.") || rest == "journal" || strings.HasPrefix(rest, "journal.") || rest == "map" {
		return true
	}
	for _, f := range formats {
		if f.Owns(name, file) {
			return true
		}
	}
	return false
}
