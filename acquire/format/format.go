package format

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// Format is one image format: raw segments, EWF-E01.
type Format interface {
	// Name is the format's name on the command line and in reports.
	Name() string
	// Plan checks spec before anything is written and returns what the
	// image will take. A refusal (a segment size the format cannot honour,
	// too many segment files, a compression it does not have) wraps
	// [ErrSpec] and, where it helps, carries a hint (Hint() string).
	Plan(spec Spec) (Plan, error)
	// Create starts a new image. Nothing is created in the folder before
	// the first Write (or Finish, for an empty source).
	Create(spec Spec) (Writer, error)
	// Resume reopens an image at a state returned by Writer.Checkpoint. An
	// empty state starts over (an acquisition interrupted before its first
	// checkpoint), removing the partial files an earlier run left.
	Resume(spec Spec, state json.RawMessage) (Writer, error)
	// Open reads a complete image: files are the segment files in the
	// folder, in order.
	Open(root *os.Root, files []string) (Reader, error)
	// Owns reports whether file (a name in the folder, no path) is one
	// this format writes, or leaves while writing, for an image called
	// name: such a file makes a new acquisition of that name refuse.
	Owns(name, file string) bool
}

// ErrSpec is wrapped by Plan's refusals.
var ErrSpec = errors.New("the image cannot be written as asked")

// ErrNoSpace is wrapped by a writer's errors when the destination is full
// (ENOSPC, EDQUOT): the files written so far are kept for a resume.
var ErrNoSpace = errors.New("destination is full")

// Spec is everything a format may need to lay out an image.
type Spec struct {
	// Root is the evidence folder. Every file operation goes through it.
	Root *os.Root
	// Dir is the folder's path, for messages only.
	Dir string
	// Name is the base name of the image files.
	Name string
	// MediaSize is the number of bytes of the source stream.
	MediaSize int64
	// SectorSize is the source's logical sector size.
	SectorSize int
	// SegmentSize is the largest segment file (0: the format's choice, one
	// file for raw).
	SegmentSize int64
	// SegmentHashes are computed over each segment file's bytes.
	SegmentHashes hashing.Set
	// Compression is the format's compression setting ("" for the default).
	Compression string
	// Case holds the chain-of-custody fields (EWF stores them in its header).
	Case report.Case
	// Source describes what is imaged.
	Source Source
	// Started is when the acquisition began.
	Started time.Time
	// ToolVersion names this program's version.
	ToolVersion string
	// DirectIO asks the writer to write with O_DIRECT where the destination
	// allows it.
	DirectIO bool
}

// Source is the part of the source's identity a format records.
type Source struct {
	Path, Model, Serial string
	// Block is true for a block device, false for a regular file.
	Block bool
	// Partition is true for a partition of a disk.
	Partition bool
	// Removable is the kernel's removable flag (EWF's media type).
	Removable bool
	// PartitionTable is true when the media starts with a partition table
	// (MBR or GPT): EWF's "physical" flag.
	PartitionTable bool
}

// Plan is what a format says about an image before it is written.
type Plan struct {
	// MaxBytes is the most the image files can take on the destination.
	MaxBytes int64
	// Segments is the most segment files the image can have.
	Segments int
	// NeedHashes are whole-stream hashes the format stores inside the image
	// (EWF: MD5 and SHA-1); the pipeline computes them even when they were
	// not asked for, and passes them to Finish.
	NeedHashes hashing.Set
	// Compression is the effective compression, as the report records it.
	Compression string
	// Notes are facts worth recording in the report (a chunk size chosen,
	// ranges a format cannot store), one sentence each.
	Notes []string
}

// Summary is what the pipeline knows once the whole stream was written.
type Summary struct {
	// Hashes of the whole stream, by algorithm name, for every algorithm
	// computed (including Plan.NeedHashes).
	Hashes report.Hashes
	// Unreadable are the zero-filled ranges of the stream.
	Unreadable []report.Range
}

// Writer writes one image; see the package documentation for the contract.
type Writer interface {
	Write(p []byte) error
	Checkpoint() (json.RawMessage, error)
	Finish(Summary) ([]report.Segment, error)
	Abort() error
	Partial() []report.Segment
}

// KeptReader is implemented by writers that can read back the media they
// hold before their current position (a resumed writer: before its
// checkpoint; reads at or past it return io.EOF): a resume checks what was
// kept (its hashes against the journal, samples against the source) before
// it writes anything. Raw and EWF writers implement it; the conformance
// suite checks it (formattest.Options.KeptReader).
type KeptReader interface {
	ReadKeptAt(p []byte, off int64) (int, error)
}

// Discoverer is implemented by formats that can find an image's files from
// its first file alone (an EWF set from NAME.E01, as libewf globs it): so
// an image that another tool wrote, without a custodian report, can be
// checked. ok is false when first is not such a file.
type Discoverer interface {
	Discover(root *os.Root, first string) (files []string, ok bool, err error)
}

// Unrecorder is implemented by writers that could not store every
// unreadable range inside the image (EWF's error2 holds 32-bit sector
// numbers): after Finish it lists those left out, which the report records.
type Unrecorder interface {
	Unrecorded() []report.Range
}

// Reader is a complete image's media.
type Reader interface {
	io.ReaderAt
	io.Closer
	// Size is the media size in bytes.
	Size() int64
}

// Stored is what an image records about itself (EWF headers and hash
// sections); raw images store nothing.
type Stored struct {
	Hashes     report.Hashes
	Unreadable []report.Range
	Case       report.Case
	// Fields are other header values by label (model, serial, dates, tool).
	Fields map[string]string
}

// StoredReader is a Reader that knows what its image records about itself.
type StoredReader interface {
	Reader
	Stored() Stored
}

// Scanner is implemented by formats that can produce the media stream
// while reading each file once, in order.
type Scanner interface {
	Scan(ctx context.Context, root *os.Root, files []string, v ScanVisitor) error
}

// ScanVisitor receives what a scan reads.
type ScanVisitor interface {
	// BeginFile is called before file i is read; the bytes of the file, as
	// read, are written to the returned writer (nil: not wanted).
	BeginFile(i int) io.Writer
	// EndFile reports file i's outcome: its size as found and nil, or why
	// it could not be read or is damaged (a *Damage). The scan goes on with
	// the next file where it can; the media stream is incomplete after any
	// error.
	EndFile(i int, size int64, err error)
	// Media receives the image's media bytes, in order.
	Media(p []byte) error
}

// Damage is an image file whose content is not what its format requires:
// verification counts it as a mismatch (the evidence changed), not as a
// read failure.
type Damage struct {
	File  string // the file's name in the folder
	Where string // the section, chunk or offset, e.g. "chunk 17", "table at 0x4c"
	Cause error
}

func (d *Damage) Error() string {
	return fmt.Sprintf("%s: %s: %v", d.File, d.Where, d.Cause)
}

func (d *Damage) Unwrap() error { return d.Cause }

// Hinted is a refusal with a hint for the user.
type Hinted struct {
	Err error
	Tip string
}

func (e *Hinted) Error() string { return e.Err.Error() }
func (e *Hinted) Unwrap() error { return e.Err }
func (e *Hinted) Hint() string  { return e.Tip }
