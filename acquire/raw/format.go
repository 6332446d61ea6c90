package raw

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/report"
)

// Format is the raw format: segments whose concatenation is the media.
type Format struct{}

var (
	_ format.Format  = Format{}
	_ format.Scanner = Format{}
)

// Name is "raw".
func (Format) Name() string { return "raw" }

// MaxSegments is the most segment files a raw image may have: names run
// NAME.001 … NAME.999999; beyond that a --segment-size is a mistake.
const MaxSegments = 999_999

// Plan: a raw image is exactly as large as the media, never compressed.
func (Format) Plan(s format.Spec) (format.Plan, error) {
	if s.Compression != "" && s.Compression != "none" {
		return format.Plan{}, &format.Hinted{
			Err: fmt.Errorf("%w: --compress %s is for --format ewf; raw images are never compressed", format.ErrSpec, s.Compression),
			Tip: "drop --compress, or write EWF: --format ewf --compress " + s.Compression,
		}
	}
	segs := 1
	if s.SegmentSize > 0 && s.MediaSize > 0 {
		n := (s.MediaSize + s.SegmentSize - 1) / s.SegmentSize
		if n > MaxSegments {
			return format.Plan{}, &format.Hinted{
				Err: fmt.Errorf("%w: %d segments of %d bytes would be needed (at most %d)", format.ErrSpec, n, s.SegmentSize, MaxSegments),
				Tip: "raise --segment-size",
			}
		}
		segs = int(n)
	}
	return format.Plan{MaxBytes: s.MediaSize, Segments: segs, Compression: "none"}, nil
}

// Create starts a new raw image.
func (Format) Create(s format.Spec) (format.Writer, error) {
	w := NewWriter(s.Root, s.Name, s.SegmentSize, s.SegmentHashes)
	if s.DirectIO {
		w.UseDirectIO()
	}
	return adapter{w}, nil
}

// Resume reopens a raw image at a checkpoint's state.
func (Format) Resume(s format.Spec, state json.RawMessage) (format.Writer, error) {
	var st State // empty state: start over from the first segment
	if len(state) > 0 {
		if err := json.Unmarshal(state, &st); err != nil {
			return nil, fmt.Errorf("resume: journal writer state: %w", err)
		}
	}
	w, err := Resume(s.Root, s.Name, s.SegmentSize, s.SegmentHashes, st)
	if err != nil {
		return nil, err
	}
	if s.DirectIO {
		w.UseDirectIO()
	}
	return adapter{w}, nil
}

// Open reads a complete raw image.
func (Format) Open(root *os.Root, files []string) (format.Reader, error) {
	return openImage(root, files)
}

// Scan reads each segment once: the file's bytes are the media's.
func (Format) Scan(ctx context.Context, root *os.Root, files []string, v format.ScanVisitor) error {
	return scan(ctx, root, files, v)
}

// Owns: NAME.001 … and their .partial forms.
func (Format) Owns(name, file string) bool {
	_, _, ok := segmentNumber(name, file)
	return ok
}

// adapter makes a Writer a format.Writer.
type adapter struct{ *Writer }

func (a adapter) Checkpoint() (json.RawMessage, error) {
	st, err := a.SaveState()
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

// Finish: raw images store no hashes of their own.
func (a adapter) Finish(format.Summary) ([]report.Segment, error) { return a.Writer.Finish() }
