package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ErrSchema is returned (wrapped) by Parse for a document that is not a
// custodian report of this schema version.
var ErrSchema = errors.New("not a " + Schema + " report")

// Marshal returns the canonical encoding of r: fields in the order of the
// Go structs, map keys sorted, two-space indentation, no HTML escaping and a
// trailing newline. Nil slices and maps are written as [] and {}, so every
// report has the same shape and the same facts always give the same bytes.
// Those bytes are what WriteFiles signs. r is not modified.
func Marshal(r *Report) ([]byte, error) {
	if r == nil {
		return nil, errors.New("marshal report: nil report")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(normalized(r)); err != nil {
		return nil, fmt.Errorf("marshal report: %w", err)
	}
	return buf.Bytes(), nil
}

// normalized returns a copy of r whose nil slices and maps are empty ones.
// It copies every slice it changes, never writing through to r.
func normalized(r *Report) *Report {
	c := *r
	c.Hashes = hashesOrEmpty(c.Hashes)
	c.Verification.Hashes = hashesOrEmpty(c.Verification.Hashes)
	if c.Settings.HashAlgorithms == nil {
		c.Settings.HashAlgorithms = []string{}
	}
	if c.CommandLine == nil {
		c.CommandLine = []string{}
	}
	if c.Unreadable == nil {
		c.Unreadable = []Range{}
	}
	if c.Events == nil {
		c.Events = []Event{}
	}
	if r.Runs != nil {
		c.Runs = make([]Run, len(r.Runs))
		for i, run := range r.Runs {
			if run.CommandLine == nil {
				run.CommandLine = []string{}
			}
			c.Runs[i] = run
		}
	}
	if pt := r.Source.PartitionTable; pt != nil && pt.Partitions == nil {
		cp := *pt
		cp.Partitions = []Partition{}
		c.Source.PartitionTable = &cp
	}
	c.Image.Segments = make([]Segment, len(r.Image.Segments))
	for i, s := range r.Image.Segments {
		s.Hashes = hashesOrEmpty(s.Hashes)
		c.Image.Segments[i] = s
	}
	c.HashWindows = make([]HashWindow, len(r.HashWindows))
	for i, w := range r.HashWindows {
		w.Hashes = hashesOrEmpty(w.Hashes)
		c.HashWindows[i] = w
	}
	return &c
}

func hashesOrEmpty(h Hashes) Hashes {
	if h == nil {
		return Hashes{}
	}
	return h
}

// Parse decodes a report.
//
// It is strict about what verification relies on and lenient about the
// rest. It rejects anything that is not a single JSON object of schema
// [Schema] (wrapping [ErrSchema]), trailing data, an unknown status, negative
// offsets or lengths, segment file names that are not plain file names
// (a report must never make verify open a path outside its folder), hash
// values that are not lower-case hex of their algorithm's length (md5 32,
// sha1 40, sha256 64, sha512 128 digits) or of an unknown algorithm, in
// hashes, segments, hash windows and verification alike, and a signer whose
// fingerprint is not "SHA256:" and 43 characters of unpadded base64, whose
// public key is not one OpenSSH key as "TYPE BASE64", or whose key type is
// not that key's. What a report says comes from evidence that may have
// been edited; text fields that are printed should still go through
// [Printable].
// Fields it does not know are ignored: newer versions of custodian may add
// fields within the same schema version, and older ones must still verify
// those reports. The signature covers the file's bytes, not what Parse
// makes of them, so leniency here cannot weaken it.
//
// For a canonical document (one written by [Marshal]) Marshal(Parse(b))
// gives back b byte for byte; [IsCanonical] tells whether that holds.
func Parse(b []byte) (*Report, error) {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("parse report: %w", err)
	}
	if head.Schema == nil {
		return nil, fmt.Errorf("parse report: no \"schema\" field: %w", ErrSchema)
	}
	if *head.Schema != Schema {
		return nil, fmt.Errorf("parse report: schema %q: %w", *head.Schema, ErrSchema)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("parse report: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse report: data after the report object")
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("parse report: %w", err)
	}
	return &r, nil
}

// IsCanonical reports whether b is exactly the canonical encoding of the
// report it holds, that is, whether it was written by [Marshal] of this
// version and not edited since (or edited with great care).
func IsCanonical(b []byte) bool {
	r, err := Parse(b)
	if err != nil {
		return false
	}
	m, err := Marshal(r)
	return err == nil && bytes.Equal(m, b)
}

func (r *Report) validate() error {
	switch r.Status {
	case StatusComplete, StatusIncomplete, StatusFailed:
	default:
		return fmt.Errorf("unknown status %q", r.Status)
	}
	if r.Image.Name != "" {
		if err := checkFileName(r.Image.Name); err != nil {
			return fmt.Errorf("image name: %w", err)
		}
	}
	for i, s := range r.Image.Segments {
		if err := checkFileName(s.File); err != nil {
			return fmt.Errorf("segment %d: %w", i+1, err)
		}
		if s.Offset < 0 || s.Length < 0 || s.FileSize < 0 {
			return fmt.Errorf("segment %s: negative offset, length or size", s.File)
		}
	}
	for _, w := range r.HashWindows {
		if w.Offset < 0 || w.Length < 0 {
			return errors.New("hash window: negative offset or length")
		}
	}
	for _, u := range r.Unreadable {
		if u.Offset < 0 || u.Length < 0 {
			return errors.New("unreadable range: negative offset or length")
		}
	}
	if r.Source.Size < 0 || r.BytesAcquired < 0 || r.Image.SegmentSize < 0 {
		return errors.New("negative size")
	}
	return r.validateEvidence()
}

// checkFileName accepts plain file names only: no directories, no "." or
// "..", no control characters.
func checkFileName(name string) error {
	if name == "" || name == "." || name == ".." ||
		strings.ContainsAny(name, "/\\") ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%q is not a plain file name", name)
	}
	return nil
}

// MaxNameLen is the longest image name: the longest file an acquisition
// writes, the temporary file of NAME.report.json.sig (".NAME.report.json.sig.tmp-"
// and 12 hex digits), must stay within a file name's 255 bytes.
const MaxNameLen = 200

// CheckName checks an image name (--name) before anything is read: a plain
// file name of at most MaxNameLen bytes of printable UTF-8, without
// control characters, backslashes, bidirectional overrides or a leading
// dot or dash, so that every file of the acquisition can be written and
// every report can show it.
func CheckName(name string) error {
	if err := checkFileName(name); err != nil {
		return err
	}
	switch {
	case len(name) > MaxNameLen:
		return fmt.Errorf("the name has %d bytes, more than %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%q is not valid UTF-8", name)
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("%q starts with %q", name, name[:1])
	case strings.ContainsFunc(name, func(r rune) bool {
		return r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0xfeff
	}):
		return fmt.Errorf("%q contains an invisible control or direction character", name)
	}
	return nil
}
