package acquire

import (
	"fmt"
	"github.com/custodian-forensics/custodian/blockdev"
	"path/filepath"
	"strings"
	"time"

	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/units"
	"github.com/custodian-forensics/custodian/report"
)

// Default sizes, and why.
const (
	// DefaultReadSize is the size of each sequential read. 4 MiB keeps the
	// per-read overhead (syscall, channel hand-offs to each consumer) under
	// 1% at several GB/s, and is a multiple of every physical sector size.
	// Larger reads only grow memory.
	DefaultReadSize = 4 << 20
	// DefaultBuffers is the number of read buffers in the pool. Memory for
	// data is DefaultBuffers × DefaultReadSize (64 MiB), whatever the source
	// size. 16 lets the reader run up to 15 reads ahead of the slowest
	// consumer, which smooths out fsync stalls of the destination.
	DefaultBuffers = 16
	// DefaultRetries is the number of extra attempts for a failing sector.
	DefaultRetries = 3
	// DefaultCheckpoint is how much is imaged between resume checkpoints.
	// Each costs one fsync of the open segment and a journal rewrite.
	DefaultCheckpoint = 1 << 30
	// MinSegmentSize is the smallest segment (ewfacquire's minimum too):
	// "--segment-size 2" (bytes, no unit) would otherwise make a file per
	// two bytes.
	MinSegmentSize = 1 << 20
	// MinHashWindow is the smallest piecewise-hash window, for the same
	// reason.
	MinHashWindow = 1 << 20
	// MaxBufferMemory caps Buffers × ReadSize: more never made imaging
	// faster (see DefaultBuffers), and a typo must not end in an
	// out-of-memory crash after the journal was written.
	MaxBufferMemory = 1 << 30
)

// Options say how to acquire. The zero value is not usable; the CLI fills
// every field from flags, environment and config (cmd/acquire.go).
type Options struct {
	// Name is the base name of the output files (NAME.001, NAME.report.json).
	Name string
	// Format names the image format (see FormatNames).
	Format string
	// SegmentSize is the size of each image file; 0 means one file.
	SegmentSize int64
	// Hashes are computed over the whole source stream.
	Hashes hashing.Set
	// SegmentHashes are computed over each segment file (may be empty).
	SegmentHashes hashing.Set
	// HashWindow, when > 0, adds piecewise hashes (all of Hashes) every
	// HashWindow bytes.
	HashWindow int64
	// Compression is the format's compression ("" for its default; raw
	// refuses any but "none").
	Compression string
	// Case holds the chain-of-custody fields.
	Case report.Case

	ReadSize int // bytes per read; a multiple of the physical sector size
	Buffers  int // read buffers in the pool
	Retries  int // extra attempts per failing sector
	// CheckpointEvery is the number of bytes between resume checkpoints.
	CheckpointEvery int64

	// Verify re-reads the written image after imaging and compares hashes.
	Verify bool
	// Resume continues an interrupted acquisition from DIR/NAME.journal.
	Resume bool
	// WriteBlock sets the source read-only (BLKROSET) before reading and
	// confirms it; RestoreWriteBlock puts back the previous state afterwards.
	WriteBlock        bool
	RestoreWriteBlock bool
	// AllowBusy reads a device that is mounted or held by another driver
	// instead of refusing.
	AllowBusy bool
	// Force proceeds although the destination looks too small.
	Force bool
	// AllowForeignFolder writes into an existing output folder that is
	// owned by another user or writable by group or others (refused by
	// default: whoever can write the folder can redirect the image).
	AllowForeignFolder bool
	// Origins say where each non-default setting came from (recorded in
	// the report).
	Origins []report.SettingOrigin

	// Signer, when set, signs the report.
	Signer report.Signer

	// ToolVersion and CommandLine are recorded in the report.
	ToolVersion string
	CommandLine []string

	// OnEvent is called for notable events (retries, unreadable sectors,
	// write-block warnings) as they happen, possibly from the reader
	// goroutine; it must not block for long. May be nil.
	OnEvent func(report.Event)
	// OnStart is called once, just before the first read of the source
	// (after the write-block is confirmed and the destination prepared),
	// with what the run is about to do. May be nil.
	OnStart func(Start)
	// WriteBlockState, when set, receives a state record of the source's
	// disk when the acquisition write-blocks it (as "writeblock on" does),
	// so "writeblock status" shows afterwards whether anything wrote to it.
	WriteBlockState *blockdev.StateStore
	// Now is the clock (for tests); nil means time.Now.
	Now func() time.Time

	// tinySizes lets tests use segments and windows below the minimums.
	tinySizes bool
}

// Check validates o and fills defaults. Its errors wrap ErrUsage.
func (o *Options) Check() error {
	if err := report.CheckName(o.Name); err != nil {
		return &refusal{
			Err: fmt.Errorf("%w: invalid image name: %w", ErrUsage, err),
			Tip: fmt.Sprintf("--name takes a plain file name of up to %d bytes: letters, digits, '-', '_', '.', e.g. --name laptop-ssd", report.MaxNameLen),
		}
	}
	if o.Format == "" {
		o.Format = "raw"
	}
	if _, err := LookupFormat(o.Format); err != nil {
		return err
	}
	if len(o.Hashes) == 0 {
		return fmt.Errorf("%w: at least one hash algorithm is needed", ErrUsage)
	}
	if o.SegmentSize < 0 || o.HashWindow < 0 || o.Retries < 0 {
		return fmt.Errorf("%w: sizes and counts must not be negative", ErrUsage)
	}
	if !o.tinySizes {
		if o.SegmentSize != 0 && o.SegmentSize < MinSegmentSize {
			return &refusal{
				Err: fmt.Errorf("%w: --segment-size %s is below the minimum of 1 MiB", ErrUsage, units.FormatExact(o.SegmentSize)),
				Tip: "give a unit: --segment-size 2GiB (a number without a unit means bytes), or 0 for one file",
			}
		}
		if o.HashWindow != 0 && o.HashWindow < MinHashWindow {
			return &refusal{
				Err: fmt.Errorf("%w: --hash-window %s is below the minimum of 1 MiB", ErrUsage, units.FormatExact(o.HashWindow)),
				Tip: "give a unit: --hash-window 1GiB (a number without a unit means bytes), or 0 for none",
			}
		}
	}
	if o.SegmentSize%512 != 0 || o.HashWindow%512 != 0 {
		if !o.tinySizes {
			return &refusal{
				Err: fmt.Errorf("%w: --segment-size and --hash-window must be multiples of 512 bytes (whole sectors)", ErrUsage),
				Tip: "use binary units: 640MiB, 2GiB",
			}
		}
	}
	if o.ReadSize == 0 {
		o.ReadSize = DefaultReadSize
	}
	if o.ReadSize < 4096 || o.ReadSize%4096 != 0 || o.ReadSize > 256<<20 {
		return fmt.Errorf("%w: read size %d must be a multiple of 4096 between 4 KiB and 256 MiB", ErrUsage, o.ReadSize)
	}
	if o.Buffers == 0 {
		o.Buffers = DefaultBuffers
	}
	if o.Buffers < 2 {
		return fmt.Errorf("%w: at least 2 buffers are needed", ErrUsage)
	}
	if mem := int64(o.Buffers) * int64(o.ReadSize); mem > MaxBufferMemory {
		return &refusal{
			Err: fmt.Errorf("%w: --buffers %d × --read-size %s = %s of buffers, more than the %s allowed",
				ErrUsage, o.Buffers, units.FormatSize(int64(o.ReadSize)), units.FormatSize(mem), units.FormatSize(MaxBufferMemory)),
			Tip: fmt.Sprintf("the defaults (%d × %s) are enough to keep every core busy; lower --buffers or --read-size", DefaultBuffers, units.FormatSize(DefaultReadSize)),
		}
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = DefaultCheckpoint
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// DefaultName derives an image name from a source path: "/dev/sdb" → "sdb",
// "/evidence/disk.img" → "disk".
func DefaultName(source string) string {
	base := filepath.Base(filepath.Clean(source))
	if ext := filepath.Ext(base); ext != "" && ext != base && !strings.HasPrefix(filepath.Clean(source), "/dev/") {
		base = strings.TrimSuffix(base, ext)
	}
	if base == "" || base == "." || base == "/" {
		return "image"
	}
	return base
}
