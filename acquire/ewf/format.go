package ewf

import (
	"context"
	"encoding/json"
	"os"
	"strings"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// Format is EWF-E01 in the EnCase 6 layout.
type Format struct{}

var (
	_ format.Format  = Format{}
	_ format.Scanner = Format{}
)

// Name is "ewf".
func (Format) Name() string { return "ewf" }

// Plan checks the spec and returns the chunk geometry, the worst-case size
// and number of segments, and the hashes the image stores (MD5, SHA-1).
func (Format) Plan(s format.Spec) (format.Plan, error) {
	l, err := newLayout(s)
	if err != nil {
		return format.Plan{}, err
	}
	return l.plan(), nil
}

// Create starts a new E01 set. Nothing is created before the first chunk
// is complete (or Finish, for an empty media).
func (Format) Create(s format.Spec) (format.Writer, error) {
	l, err := newLayout(s)
	if err != nil {
		return nil, err
	}
	if err := refuseStale(s.Root, s.Name, true); err != nil {
		return nil, err
	}
	w := newWriter(s, l)
	if w.guid, err = newGUID(); err != nil {
		return nil, err
	}
	w.start()
	return w, nil
}

// Resume reopens a set at a state returned by Checkpoint (an empty state
// starts over, removing this image's partial files).
func (Format) Resume(s format.Spec, state json.RawMessage) (format.Writer, error) {
	l, err := newLayout(s)
	if err != nil {
		return nil, err
	}
	// Final names are refused when starting over; with a state, the
	// segments the state knows may already carry them (a crash in or
	// after Finish), which resume checks one by one.
	if len(state) == 0 {
		if err := refuseStale(s.Root, s.Name, false); err != nil {
			return nil, err
		}
	}
	w, err := resume(s, l, state)
	if err != nil {
		return nil, err // not a typed nil *Writer inside the interface
	}
	return w, nil
}

// Discover finds the set whose first segment is first (NAME.E01 or the old
// lower-case NAME.e01), as libewf does: see Glob.
func (Format) Discover(root *os.Root, first string) ([]string, bool, error) {
	if !strings.HasSuffix(first, ".E01") && !strings.HasSuffix(first, ".e01") {
		return nil, false, nil
	}
	files, err := Glob(root, first)
	return files, true, err
}

// Open reads a complete E01 set; files are its segments in order (see
// Glob).
func (Format) Open(root *os.Root, files []string) (format.Reader, error) {
	return open(root, files)
}

// Scan reads each segment file once, in order, handing its bytes to the
// visitor and the media, inflated on every core, in order.
func (Format) Scan(ctx context.Context, root *os.Root, files []string, v format.ScanVisitor) error {
	return scan(ctx, root, files, v)
}

// Owns: NAME.E01 … NAME.ZZZ and their .partial forms.
func (Format) Owns(name, file string) bool {
	_, _, ok := segmentNumber(name, file)
	return ok
}
