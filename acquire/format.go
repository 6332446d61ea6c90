package acquire

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/custodian-forensics/custodian/acquire/raw"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// Formats lists the image formats custodian writes.
var Formats = []string{"raw"}

// rawImage adapts raw.Writer to ImageWriter.
type rawImage struct{ *raw.Writer }

func (r rawImage) Checkpoint() (json.RawMessage, error) {
	st, err := r.SaveState()
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

func newImageWriter(format, dir, name string, segSize int64, segHashes hashing.Set) (ImageWriter, error) {
	switch format {
	case "raw":
		w := raw.NewWriter(dir, name, segSize, segHashes)
		w.UseDirectIO()
		return rawImage{w}, nil
	}
	return nil, fmt.Errorf("%w: image format %q is not supported (supported: %s)", ErrUsage, format, strings.Join(Formats, ", "))
}

func resumeImageWriter(format, dir, name string, segSize int64, segHashes hashing.Set, state json.RawMessage) (ImageWriter, error) {
	switch format {
	case "raw":
		var st raw.State // empty state: start over from the first segment
		if len(state) > 0 {
			if err := json.Unmarshal(state, &st); err != nil {
				return nil, fmt.Errorf("resume: journal writer state: %w", err)
			}
		}
		w, err := raw.Resume(dir, name, segSize, segHashes, st)
		if err != nil {
			return nil, err
		}
		w.UseDirectIO()
		return rawImage{w}, nil
	}
	return nil, fmt.Errorf("%w: image format %q is not supported", ErrUsage, format)
}

// OpenImage returns the logical byte stream of the image a report describes
// (the source as imaged), reading the segment files in dir in source order.
// A format this version cannot read gives an error wrapping
// errors.ErrUnsupported.
func OpenImage(r *report.Report, dir string) (io.ReadCloser, error) {
	segs := slices.Clone(r.Image.Segments)
	slices.SortStableFunc(segs, func(a, b report.Segment) int { return cmp.Compare(a.Offset, b.Offset) })
	files := make([]string, len(segs))
	for i, s := range segs {
		files[i] = s.File
	}
	switch r.Image.Format {
	case "raw":
		return raw.Open(dir, files), nil
	}
	return nil, fmt.Errorf("image format %q cannot be read by this version: %w", r.Image.Format, errors.ErrUnsupported)
}

// existingOutputs lists the files in dir that an acquisition named name
// would create or that an earlier one left: image segments (final or
// partial), reports, the journal.
func existingOutputs(dir, name string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		rest, ok := strings.CutPrefix(n, name+".")
		if !ok {
			continue
		}
		if isImageExt(strings.TrimSuffix(rest, raw.PartialSuffix)) || strings.HasPrefix(rest, "report.") || rest == "journal" || strings.HasPrefix(rest, "journal.") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out, nil
}

// isImageExt matches raw (001, 1234) and EWF (E01, EAA) segment extensions.
func isImageExt(ext string) bool {
	if len(ext) >= 3 && strings.Trim(ext, "0123456789") == "" {
		return true
	}
	if len(ext) == 3 && ext[0] >= 'E' && ext[0] <= 'Z' {
		for _, c := range ext[1:] {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
		return true
	}
	return false
}
