package acquire

import (
	"fmt"
	"strings"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
)

// writeBlocker holds what was done to keep the source read-only, and the
// block layer's write counters to prove nothing was written.
type writeBlocker struct {
	prot    *blockdev.Protection
	restore bool
	// counters alone, when protection was not asked for (--no-writeblock):
	// the report still says whether anything was written meanwhile.
	statName  string
	statStart int64
	// recorded: this run created the state record of the disk in state.
	recorded bool
	state    *blockdev.StateStore
}

// writeBlock sets and confirms the read-only flag on the source's disk and
// all its partitions (unless --no-writeblock), and records the counters.
func (a *Acquisition) writeBlock(r *report.Report, dev *blockdev.Device) (*writeBlocker, error) {
	wb := &writeBlocker{restore: a.o.RestoreWriteBlock}
	if !dev.IsBlock() {
		a.note("info", "writeblock", "the source is a regular file: no device read-only flag applies; it is opened read-only")
		return wb, nil
	}
	if !a.o.WriteBlock {
		a.note("warning", "writeblock", "write-blocking disabled (--no-writeblock): the source's read-only flag was not set")
		// The disk's counter, not the partition's: Linux counts writes
		// through the disk node on the disk only, and they can reach a
		// partition's sectors.
		disk := a.diskName()
		st, err := blockdev.WriteStats(disk)
		if err != nil {
			a.note("warning", "writeblock", fmt.Sprintf("cannot read the write counters of %q (%v): nothing will prove the source unchanged", disk, err))
			return wb, nil
		}
		wb.statName, wb.statStart = disk, st.SectorsWritten
		r.Source.WriteBlock.CounterChecked = true
		return wb, nil
	}
	p, err := blockdev.Protect(a.source)
	if err != nil {
		return nil, &refusal{
			Err: fmt.Errorf("%w: could not set and confirm the source read-only: %w", ErrUsage, err),
			Tip: "unmount the source's filesystems and stop what holds it, or (at your own risk) pass --no-writeblock",
		}
	}
	wb.prot = p
	if st := a.o.WriteBlockState; st != nil {
		created, err := p.Record(st, "acquire")
		if err != nil {
			a.note("warning", "writeblock", fmt.Sprintf("could not leave a write-block record for 'custodian writeblock status': %v", err))
		}
		wb.recorded, wb.state = created, st
	}
	r.Source.ReadOnlyBefore = p.WasReadOnly(dev.Path())
	r.Source.ReadOnlyDuring = true
	r.Source.WriteBlock = report.WriteBlock{Enabled: true, Method: "BLKROSET", Devices: p.Devices, Confirmed: true, CounterChecked: true}
	a.note("info", "writeblock", "read-only flag set and confirmed (BLKROGET) on "+strings.Join(p.Devices, ", "))
	return wb, nil
}

// finish reads the write counters (and, if asked, restores the previous
// read-only state) after imaging.
func (wb *writeBlocker) finish(r *report.Report, a *Acquisition) {
	switch {
	case wb.prot != nil:
		n, err := wb.prot.SectorsWritten()
		if err != nil {
			r.Source.WriteBlock.CounterChecked = false
			a.note("warning", "writeblock", fmt.Sprintf("could not read the write counters after imaging: %v", err))
		} else {
			r.Source.SectorsWrittenDuring = n
		}
		if ro, err := blockdev.ReadOnly(a.source); err != nil || !ro {
			r.Source.ReadOnlyDuring = false
			a.note("error", "writeblock", "the source was no longer read-only at the end of the acquisition")
		}
	case wb.statName != "":
		if st, err := blockdev.WriteStats(wb.statName); err == nil {
			r.Source.SectorsWrittenDuring = st.SectorsWritten - wb.statStart
		} else {
			r.Source.WriteBlock.CounterChecked = false
			a.note("warning", "writeblock", fmt.Sprintf("could not read the write counters after imaging: %v", err))
		}
	}
	wb.release(r, a)
}

// release restores the previous read-only state when asked, and logs it.
func (wb *writeBlocker) release(r *report.Report, a *Acquisition) {
	if wb.prot == nil || !wb.restore {
		return
	}
	if err := wb.prot.Restore(); err != nil {
		a.note("warning", "writeblock", fmt.Sprintf("could not restore the previous read-only state (the source stays read-only): %v", err))
		return
	}
	r.Source.WriteBlock.Restored = true
	if wb.recorded {
		// The disk is as it was before: no longer protected, so no record.
		if err := wb.state.Remove(a.diskName()); err != nil {
			a.note("warning", "writeblock", fmt.Sprintf("could not remove the write-block record: %v", err))
		}
	}
	a.note("info", "writeblock", "previous read-only state restored (--restore-writeblock) on "+strings.Join(wb.prot.Devices, ", "))
}
