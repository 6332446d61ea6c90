package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/custodian-forensics/custodian/internal/rootfile"
)

// File name suffixes of the report files in an evidence folder.
const (
	JSONSuffix      = ".report.json"
	SignatureSuffix = ".report.json.sig"
	TextSuffix      = ".report.txt"
)

// WriteFiles writes DIR/NAME.report.json, DIR/NAME.report.json.sig (when s
// is not nil) and DIR/NAME.report.txt.
//
// With a signer, r.Signer is set to the signer's key first, so that the
// signed bytes name the key; without one, r.Signer is cleared. The report is
// encoded and signed before anything is written, so a signing failure
// (an agent that went away) leaves the folder as it was.
//
// Each file is written to a new temporary file (O_EXCL), synced, renamed
// into place, and the folder is synced. An existing report is replaced only
// if its status is not "complete" (an interrupted run being resumed, or
// finished); a complete one, or a file that is not a report at all, is never
// replaced and the error wraps [fs.ErrExist]. A stale signature of the
// replaced report is removed before the new report is written, so that a
// crash in between leaves an unsigned report, never a mismatched pair.
func WriteFiles(dir, name string, r *Report, s Signer) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer root.Close()
	return WriteFilesIn(root, name, r, s)
}

// ReportMode is the mode of the report files: readable by the owner and the
// folder's group, like the image files, never by everyone (case notes are
// in them), and read-only (they are replaced by rename, never rewritten).
const ReportMode = 0o440

// WriteFilesIn is [WriteFiles] in the folder root: every file is opened
// through the folder's handle, never following a symbolic link, and an
// existing report is read only if it is a regular file.
func WriteFilesIn(root *os.Root, name string, r *Report, s Signer) error {
	return writeFilesIn(root, name, r, s, replaceable)
}

// UpdateFilesIn replaces the complete report of the same acquisition (the
// same start, source, hashes and segments) with r: an acquisition writes
// its complete report before --verify re-reads the image, then records the
// outcome. Any other existing report is refused as WriteFilesIn refuses it.
func UpdateFilesIn(root *os.Root, name string, r *Report, s Signer) error {
	return writeFilesIn(root, name, r, s, func(root *os.Root, file string) error {
		prev, err := ReadIn(root, file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("write report: %s exists and cannot be read as a report (%v): %w", file, err, fs.ErrExist)
		}
		same := prev.StartedAt == r.StartedAt && prev.Source.Path == r.Source.Path && prev.Source.Size == r.Source.Size &&
			maps.Equal(prev.Hashes, r.Hashes) && slices.EqualFunc(prev.Image.Segments, r.Image.Segments, func(a, b Segment) bool {
			return a.File == b.File && a.Offset == b.Offset && a.Length == b.Length && a.FileSize == b.FileSize && maps.Equal(a.Hashes, b.Hashes)
		})
		if prev.Status == StatusComplete && !same {
			return fmt.Errorf("write report: %s records another complete acquisition: %w", file, fs.ErrExist)
		}
		return nil
	})
}

func writeFilesIn(root *os.Root, name string, r *Report, s Signer, check func(*os.Root, string) error) error {
	if err := checkFileName(name); err != nil {
		return fmt.Errorf("write report: name: %w", err)
	}
	jsonName, sigName, txtName := name+JSONSuffix, name+SignatureSuffix, name+TextSuffix
	if err := check(root, jsonName); err != nil {
		return err
	}

	if s != nil {
		r.Signer = s.Info()
	} else {
		r.Signer = nil
	}
	data, err := Marshal(r)
	if err != nil {
		return err
	}
	var sig []byte
	if s != nil {
		if sig, err = s.Sign(data); err != nil {
			return err
		}
	}
	var txt bytes.Buffer
	if err := RenderText(&txt, r); err != nil {
		return fmt.Errorf("render text report: %w", err)
	}

	if err := root.Remove(sigName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale signature: %w", err)
	}
	if err := atomicfile.WriteFileIn(root, jsonName, data, ReportMode); err != nil {
		return err
	}
	if sig != nil {
		if err := atomicfile.WriteFileIn(root, sigName, sig, ReportMode); err != nil {
			return err
		}
	}
	return atomicfile.WriteFileIn(root, txtName, txt.Bytes(), ReportMode)
}

// MaxReportSize bounds what is read of a report file: a report of a disk
// with a million unreadable ranges stays far below it.
const MaxReportSize = 64 << 20

// ReadIn reads and parses the report file name in the folder root: only a
// regular file, never through a symbolic link, at most MaxReportSize
// bytes. A missing file gives an error wrapping fs.ErrNotExist.
func ReadIn(root *os.Root, name string) (*Report, error) {
	b, err := rootfile.ReadAll(root, name, MaxReportSize)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// replaceable returns nil if name does not exist in root or is a regular
// file holding a report whose status is not complete.
func replaceable(root *os.Root, name string) error {
	prev, err := ReadIn(root, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("write report: %s exists and is not a custodian report (%v): %w", name, err, fs.ErrExist)
	case prev.Status == StatusComplete:
		return fmt.Errorf("write report: %s exists and records a complete acquisition: %w", name, fs.ErrExist)
	}
	return nil
}
