package acquire

import (
	"context"
	"fmt"
	"io"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// Reread is what re-reading a source for verification found (see
// RereadSource).
type Reread struct {
	// Sums are the hashes of the stream as re-read: unreadable sectors and
	// the ranges the report lists as unreadable are zeros, as in the image.
	Sums hashing.Sums
	// N is the number of bytes hashed.
	N int64
	// Unreadable are the ranges that could not be read now (merged,
	// sector-aligned); NewlyUnreadable those of them the report did not
	// list, and ReadableNow the listed ranges that read now.
	Unreadable, NewlyUnreadable, ReadableNow []report.Range
}

// RereadSource reads the first length bytes of the source at path as an
// acquisition does (read-only, through O_DIRECT for block devices; failed
// reads narrowed in clusters and sectors, retried retries times where a
// cluster partly reads) and hashes them with set, zero-filling what is
// unreadable now and the ranges known (a report's unreadable list), so
// that a damaged source compares with its image. progress, when not nil,
// counts the bytes hashed. A source that stops answering (ErrSourceDead),
// ends early, or fails otherwise is an error; unreadable sectors are not.
func RereadSource(ctx context.Context, path string, length int64, known []report.Range, retries int, set hashing.Set, progress io.Writer) (*Reread, error) {
	dev, err := blockdev.Open(path, blockdev.OpenOptions{AllowBusy: true})
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	if length > dev.Size() {
		return nil, fmt.Errorf("the source is %d bytes, the image %d", dev.Size(), length)
	}
	sr := newSourceReader(dev, length, dev.LogicalSectorSize(), retries, func(string, string, string, int64, int64) {})
	if dev.IsBlock() {
		d, err := dev.Reopen(blockdev.OpenOptions{Direct: true, AllowBusy: true})
		if err != nil {
			return nil, fmt.Errorf("open %s with O_DIRECT: %w", path, err)
		}
		sr.src, sr.precise, sr.direct, sr.closer = d, d, true, d
	}
	defer sr.close()
	p := hashing.NewParallel(set)
	defer p.Close()
	align := max(dev.PhysicalSectorSize(), dev.LogicalSectorSize(), 4096)
	buf := blockdev.AlignedBuffer(DefaultReadSize, align)
	for off := int64(0); off < length; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := int(min(int64(len(buf)), length-off))
		b := buf[:n]
		if err := sr.read(ctx, b, off); err != nil {
			return nil, err
		}
		for _, k := range known {
			lo, hi := max(k.Offset, off), min(k.Offset+k.Length, off+int64(n))
			if lo < hi {
				clear(b[lo-off : hi-off])
			}
		}
		_, _ = p.Write(b) // never fails
		if progress != nil {
			_, _ = progress.Write(b) // a counter
		}
		off += int64(n)
	}
	sr.conclude(false)
	return &Reread{Sums: p.Sums(), N: p.Len(), Unreadable: sr.unreadable,
		NewlyUnreadable: SubtractRanges(sr.unreadable, known), ReadableNow: SubtractRanges(known, sr.unreadable)}, nil
}

// SubtractRanges is the parts of the sorted, disjoint ranges a not covered by
// the sorted, disjoint ranges b.
func SubtractRanges(a, b []report.Range) []report.Range {
	var out []report.Range
	j := 0
	for _, r := range a {
		lo, hi := r.Offset, r.Offset+r.Length
		for j < len(b) && b[j].Offset+b[j].Length <= lo {
			j++
		}
		for k := j; k < len(b) && b[k].Offset < hi; k++ {
			if b[k].Offset > lo {
				out = append(out, report.Range{Offset: lo, Length: b[k].Offset - lo})
			}
			lo = max(lo, b[k].Offset+b[k].Length)
		}
		if lo < hi {
			out = append(out, report.Range{Offset: lo, Length: hi - lo})
		}
	}
	return out
}
