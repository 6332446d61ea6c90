package acquire

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// Samples a resume compares between the source and the kept image: the
// first and the last sampleSize bytes before the checkpoint and
// randomSamples more spread over the rest. 18 reads of 64 KiB cost a few
// milliseconds and find another medium at once; the re-hash of the whole
// kept image proves the kept files unchanged.
const (
	sampleSize    = 64 << 10
	randomSamples = 16
)

// checkKept proves, before a resume writes anything, that what was kept is
// what the journal says and came from this source:
//   - the kept image is read back and hashed; every algorithm's state must
//     equal the journal's at the checkpoint (a kept segment changed,
//     truncated or extended is refused);
//   - ranges of the kept image are compared with the same ranges read from
//     the source now (another medium of the same size, or a source changed
//     since, is refused). Where the journal could not prove the medium
//     unchanged (a restart, a re-attached disk, a new diskseq) these
//     samples are the proof, and the resume is refused without them.
func (im *imaging) checkKept(ctx context.Context) error {
	a, c := im.a, im.j.Check
	kr, ok := im.w.(format.KeptReader)
	if !ok {
		if a.needProof {
			return &refusal{
				Err: fmt.Errorf("%w: --resume: %s, and the %s format cannot read back the kept image to compare it with the source", ErrUsage, a.proofReason, im.f.Name()),
				Tip: "start a new acquisition (another --name or folder)",
			}
		}
		a.note("warning", "resume", fmt.Sprintf("the %s format cannot read back the kept image: it was not re-checked against the journal and the source", im.f.Name()))
		return nil
	}
	if err := im.rehashKept(ctx, kr, c); err != nil {
		return err
	}
	compared, n, err := im.sampleSource(kr, c.Offset, c.Unreadable)
	if err != nil {
		return err
	}
	if compared == 0 && c.Offset > 0 && a.needProof {
		return &refusal{
			Err: fmt.Errorf("%w: --resume: %s, and no range of the source could be read to compare with the kept image", ErrUsage, a.proofReason),
			Tip: "check that the source is attached and readable, then try again; or start a new acquisition",
		}
	}
	msg := fmt.Sprintf("the kept image (%d bytes) was read back and matches the journal's hash states; %d ranges (%d bytes) read from the source now match it", c.Offset, compared, n)
	if a.needProof {
		msg += " (" + a.proofReason + ": these samples are the proof that it is the same medium)"
	}
	a.note("info", "resume", msg)
	return nil
}

// rehashKept hashes the kept image up to the checkpoint with every
// algorithm of the journal and compares the states.
func (im *imaging) rehashKept(ctx context.Context, kr format.KeptReader, c *checkpointRec) error {
	algs := slices.Sorted(func(yield func(string) bool) {
		for k := range c.Hashes {
			if !yield(k) {
				return
			}
		}
	})
	set, err := hashing.ParseNames(algs)
	if err != nil {
		return &refusal{Err: fmt.Errorf("%w: --resume: journal: %w", ErrUsage, err), Tip: "the journal is damaged; start a new acquisition"}
	}
	ms := make([]*hashing.Multi, len(set))
	for i, alg := range set {
		ms[i] = hashing.NewMulti(hashing.Set{alg})
	}
	buf := make([]byte, DefaultReadSize)
	for off := int64(0); off < c.Offset; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := int(min(int64(len(buf)), c.Offset-off))
		if got, err := kr.ReadKeptAt(buf[:k], off); got < k {
			return &refusal{
				Err: fmt.Errorf("%w: --resume: the kept image ends at byte %d, the journal's checkpoint is at %d (%v): a kept segment was truncated or removed", ErrUsage, off+int64(got), c.Offset, err),
				Tip: "nothing was changed; the kept files no longer match the journal: start a new acquisition",
			}
		}
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() { m.Write(buf[:k]) })
		}
		wg.Wait()
		off += int64(k)
	}
	for i, alg := range set {
		st, err := ms[i].MarshalState()
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(st, c.Hashes[alg.String()]) {
			return &refusal{
				Err: fmt.Errorf("%w: --resume: the kept image's %s differs from the journal's at the checkpoint (byte %d): a kept segment was changed since it was written", ErrUsage, alg, c.Offset),
				Tip: "nothing was changed; the kept files cannot be trusted: start a new acquisition (another --name or folder)",
			}
		}
	}
	return nil
}

// sampleSource compares ranges of the kept image with the source and
// returns how many ranges and bytes were compared. A range that overlaps an
// unreadable range (zeros in the image) or that the source cannot read now
// is passed over.
func (im *imaging) sampleSource(kr format.KeptReader, end int64, unreadable []report.Range) (int, int64, error) {
	align := int64(max(im.dev.LogicalSectorSize(), 4096))
	var offs []int64
	if end > 0 {
		offs = append(offs, 0, max(0, (end-sampleSize)/align*align))
		if span := end - sampleSize; span > align {
			rng := rand.New(rand.NewPCG(uint64(end), uint64(len(unreadable))))
			for range randomSamples {
				offs = append(offs, rng.Int64N(span/align)*align)
			}
		}
	}
	slices.Sort(offs)
	offs = slices.Compact(offs)
	src := blockdev.AlignedBuffer(sampleSize, int(align))
	kept := make([]byte, sampleSize)
	compared, bytesCompared := 0, int64(0)
	for _, off := range offs {
		n := int(min(sampleSize, end-off))
		if overlaps(unreadable, off, int64(n)) {
			continue
		}
		if err := im.sr.preciseRead(src[:roundUp(n, int(im.dev.LogicalSectorSize()))], off); err != nil {
			continue // unreadable now: proves nothing either way
		}
		if got, err := kr.ReadKeptAt(kept[:n], off); got < n {
			return 0, 0, &refusal{Err: fmt.Errorf("%w: --resume: read kept image at byte %d: %v", ErrUsage, off, err), Tip: "the kept files no longer match the journal: start a new acquisition"}
		}
		if !bytes.Equal(src[:n], kept[:n]) {
			return 0, 0, &refusal{
				Err: fmt.Errorf("%w: --resume: the source is not the medium that was imaged: its %d bytes at byte %d differ from the kept image (%s)",
					ErrUsage, n, off, im.a.source),
				Tip: "check that you named the right device after re-plugging (custodian info DEV shows model and serial); if the source itself changed, start a new acquisition",
			}
		}
		compared++
		bytesCompared += int64(n)
	}
	return compared, bytesCompared, nil
}

func overlaps(rs []report.Range, off, n int64) bool {
	for _, r := range rs {
		if r.Offset < off+n && off < r.Offset+r.Length {
			return true
		}
	}
	return false
}

// roundUp rounds n up to a multiple of to.
func roundUp(n, to int) int { return (n + to - 1) / to * to }
