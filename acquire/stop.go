package acquire

import (
	"errors"
	"fmt"
	"time"

	"github.com/custodian-forensics/custodian/internal/units"
	"golang.org/x/sys/unix"
)

// Stopping with a checkpoint: at a signal, and before the destination
// fills up, the reader stops handing on blocks, the consumers finish the
// ones they have, and a checkpoint is taken where the reader stopped, so
// that --resume continues from there and not from the last periodic
// checkpoint (up to --checkpoint-every earlier, or 0).

// drainLimit bounds how long the consumers may take after a signal to
// write the blocks in flight (Buffers × ReadSize, 64 MiB by default) for
// the checkpoint; a destination that takes longer is given up on, and the
// last periodic checkpoint is what --resume keeps. A second signal ends
// the process at once (cmd).
const drainLimit = 3 * time.Second

// errLowSpace is wrapped (with ErrNoSpace) when the destination has too
// little room left for the data in flight: imaging stops cleanly before
// the filesystem is full, with a checkpoint.
var errLowSpace = errors.New("imaging stopped before it filled up")

// spaceReserve is room kept for the journal, the map and the reports.
const spaceReserve = 2 << 20

// checkSpace stops imaging when the destination has less room than the
// blocks handed on but not yet written, the next block (left is what
// remains to be read from off) and spaceReserve need. One fstatfs per
// block.
func (im *imaging) checkSpace(off, left int64) error {
	a := im.a
	if a.lock == nil {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(a.lock.Fd()), &st); err != nil {
		return nil // cannot tell: the writer's ENOSPC is the last word
	}
	free := int64(st.Bavail) * st.Bsize
	need := max(off-im.written.Load(), 0) + min(int64(a.o.ReadSize), left) + spaceReserve
	if free >= need {
		return nil
	}
	return fmt.Errorf("%w: %s has only %s free, less than the %s the data in flight, the journal and the reports need (%w, at byte %d)",
		ErrNoSpace, a.dir, units.FormatSize(free), units.FormatSize(need), errLowSpace, off)
}

// stopCheckpoint takes the checkpoint where the reader stopped (im.handed)
// after a signal or a low-space stop, while the consumers are still
// healthy, and says on screen and in the report where --resume continues.
func (im *imaging) stopCheckpoint(cause error) {
	a := im.a
	what := "interrupted"
	if errors.Is(cause, errLowSpace) {
		what = "the destination is almost full"
	}
	off := im.handed
	if off <= im.j.offset() {
		return // nothing new since the last checkpoint (abort says where that is)
	}
	if err := im.checkpoint(off); err != nil {
		a.note("warning", "checkpoint", fmt.Sprintf("%s at byte %d, but the checkpoint there failed (%v)", what, off, err))
		return
	}
	a.event("info", "checkpoint", fmt.Sprintf("%s: checkpoint taken at byte %d; --resume continues from there", what, off), off, -1)
}

// stopNote says, after a stop, where --resume continues: from the last
// checkpoint, or from byte 0 when there is none.
func (im *imaging) stopNote() {
	a, kept, done := im.a, im.j.offset(), im.a.done.Load()
	switch {
	case kept == 0 && done > 0:
		a.note("warning", "checkpoint", fmt.Sprintf("no checkpoint was taken: the %d bytes imaged are not kept, --resume starts again from byte 0", done))
	case kept < done:
		a.event("warning", "checkpoint", fmt.Sprintf("the last checkpoint is at byte %d: --resume continues from there (the %d bytes imaged after it are read again)", kept, done-kept), kept, -1)
	}
}
