package acquire

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodian-forensics/custodian/acquire/mapfile"
	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/custodian-forensics/custodian/report"
)

// The imaging run's hooks for the rescue: the mapfile at every checkpoint,
// at the end and on abort; the checkpoint before stopping at a source that
// stopped answering; the damage record's last events.

func mapName(name string) string { return name + ".map" }

// imageMap is the GNU ddrescue mapfile of the image as far as done: rescued
// ('+') up to done except the unreadable ranges ('-'), not tried ('?')
// after it. finished says the whole source was imaged.
func (im *imaging) imageMap(done int64, finished bool) *mapfile.Map {
	o := &im.a.o
	m := &mapfile.Map{
		Creator:     strings.TrimSpace("custodian version " + o.ToolVersion),
		CommandLine: strings.Join(o.CommandLine, " "),
		Saved:       o.Now(),
		Pos:         done,
		Phase:       mapfile.Copying,
		Pass:        1,
		Message:     "Copying non-tried blocks... Pass 1 (forwards)",
	}
	if o.ToolVersion == "" {
		m.Creator = "custodian"
	}
	if t, err := time.Parse(report.TimeFormat, im.r.StartedAt); err == nil {
		m.Started = t.In(m.Saved.Location())
	}
	if finished {
		m.Phase, m.Message, m.Pos = mapfile.Done, "Finished", im.sr.rescue.last
	}
	var pos int64
	for _, u := range im.sr.unreadable {
		if u.Offset >= done {
			break
		}
		m.Append(u.Offset-pos, mapfile.Finished)
		pos = min(u.Offset+u.Length, done)
		m.Append(pos-u.Offset, mapfile.BadSector)
	}
	m.Append(done-pos, mapfile.Finished)
	m.Append(im.dev.Size()-done, mapfile.NonTried)
	return m
}

// writeMap replaces NAME.map atomically in the evidence folder.
func (im *imaging) writeMap(done int64, finished bool) error {
	b := im.imageMap(done, finished).Marshal()
	if err := atomicfile.WriteFileIn(im.spec.Root, mapName(im.a.o.Name), b, 0o640); err != nil {
		return fmt.Errorf("write mapfile: %w", err)
	}
	return nil
}

// checkpointed completes checkpoint c with the rescue's state and writes
// the mapfile as of c (the image up to c.Offset is synced by then).
func (im *imaging) checkpointed(c *checkpointRec) error {
	c.Rescue = im.sr.journalState()
	return im.writeMap(c.Offset, false)
}

// stopped is the reader's error at block off. When the source stopped
// answering, the journal is checkpointed at off first, so --resume
// continues there and not at the checkpoint before.
func (im *imaging) stopped(off int64, err error) error {
	if !errors.Is(err, ErrSourceDead) || off <= im.j.offset() {
		return err
	}
	if cerr := im.checkpoint(off); cerr != nil {
		return errors.Join(err, fmt.Errorf("checkpoint at byte %d: %w", off, cerr))
	}
	return err
}

// aborted ends the damage record and writes the mapfile as of the journal's
// checkpoint: what --resume keeps.
func (im *imaging) aborted() {
	im.sr.conclude(true)
	if err := im.writeMap(im.j.offset(), false); err != nil {
		im.a.note("error", "abort", err.Error())
	}
}
