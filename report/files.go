package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/custodian-forensics/custodian/internal/atomicfile"
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
	if err := checkFileName(name); err != nil {
		return fmt.Errorf("write report: name: %w", err)
	}
	jsonPath := filepath.Join(dir, name+JSONSuffix)
	sigPath := filepath.Join(dir, name+SignatureSuffix)
	txtPath := filepath.Join(dir, name+TextSuffix)

	if err := replaceable(jsonPath); err != nil {
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

	if err := os.Remove(sigPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale signature: %w", err)
	}
	if err := atomicfile.WriteFile(jsonPath, data, 0o644); err != nil {
		return err
	}
	if sig != nil {
		if err := atomicfile.WriteFile(sigPath, sig, 0o644); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(txtPath, txt.Bytes(), 0o644)
}

// replaceable returns nil if path does not exist or holds a report whose
// status is not complete.
func replaceable(path string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	prev, perr := Parse(old)
	switch {
	case perr != nil:
		return fmt.Errorf("write report: %s exists and is not a custodian report (%v): %w", path, perr, fs.ErrExist)
	case prev.Status == StatusComplete:
		return fmt.Errorf("write report: %s exists and records a complete acquisition: %w", path, fs.ErrExist)
	}
	return nil
}
