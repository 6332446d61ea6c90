package acquire

import (
	"context"
	"errors"
	"fmt"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
)

// ErrSourceDead: after a long run of unreadable sectors, every probe ahead
// up to the last sector failed too; the source has stopped answering (a
// drive that locked up, a bridge that hung, a medium gone bad to its end).
// Imaging stops there instead of crawling to the end; the journal is
// checkpointed at the block where it stopped, so --resume continues once
// the source answers again (reconnected, cooled down).
var ErrSourceDead = errors.New("the source stopped answering")

// How a failed block is read again, and why.
const (
	// rescueCluster is the unit a failed block is read again in: GNU
	// ddrescue's default cluster (128 sectors of 512 bytes). A cluster that
	// reads costs one read; a failed one is scraped sector by sector.
	// Smaller clusters scrape less around an isolated bad sector but cost
	// more reads in a healthy stretch of a failed block.
	rescueCluster = 64 << 10
	// rescueDeadRun is how many fully unreadable clusters in a row (1 MiB)
	// make a dead run worth probing ahead of.
	rescueDeadRun = 16
	// rescueProbeStart is the distance of the first probe past a dead run;
	// each further probe doubles it, the last is the source's last sector:
	// some 40 single-sector reads decide about a 1 PB source.
	rescueProbeStart = 1 << 20
	// maxDamageEvents bounds the damage events (read errors, unreadable
	// runs, recovered sectors, probes) listed in memory, in the journal and
	// in the report; later ones are counted and summed up in one event. The
	// unreadable ranges themselves are all kept (merged, one per run) and
	// all go to the report and the mapfile.
	maxDamageEvents = 1000
)

// damageKinds are the event kinds that the cap counts.
var damageKinds = map[string]bool{"read_error": true, "unreadable": true, "retry_ok": true, "probe": true}

// rescueState is the sourceReader's memory of the damage: where a run of
// unreadable sectors goes on, what probing found, which events are listed.
type rescueState struct {
	// Settings (newSourceReader sets the defaults; tests shrink them).
	cluster    int
	deadRun    int
	probeStart int64
	maxEvents  int

	// open: the last unreadable range ends where reading has got to, so
	// the run may go on in the next sector (its event waits until it ends).
	open bool
	// deadClusters counts the fully unreadable clusters in a row just read.
	deadClusters int
	// probedTo is where a probe read last: no probing again before it.
	probedTo int64
	// last is the offset of the last block read.
	last int64

	// Counters for the final event: precise reads (clusters, sectors,
	// probes), how many failed, and probes.
	reads, failed, probes int64

	listed, omitted, omittedRuns int
	// pending are the damage events of the block being read; they are
	// listed once it is settled, and dropped with it if it is not.
	pending   []pendingEvent
	probeBuf  []byte
	failedIdx []int // scrape's list of failed sectors, reused
}

type pendingEvent struct {
	level, kind, msg string
	off, length      int64
}

func (rs *rescueState) defaults() {
	rs.cluster, rs.deadRun, rs.probeStart, rs.maxEvents = rescueCluster, rescueDeadRun, rescueProbeStart, maxDamageEvents
}

// rescueJournal is what the journal keeps of the rescue at a checkpoint
// (beyond the unreadable ranges and the listed events it has anyway).
type rescueJournal struct {
	OmittedEvents int `json:"omitted_events"`
	OmittedRuns   int `json:"omitted_runs"`
}

// damage queues a damage event for the block being read.
func (r *sourceReader) damage(level, kind, msg string, off, length int64) {
	r.rescue.pending = append(r.rescue.pending, pendingEvent{level, kind, msg, off, length})
}

// flush lists the queued damage events, up to the cap.
func (r *sourceReader) flush() {
	rs := &r.rescue
	for _, e := range rs.pending {
		if rs.listed < rs.maxEvents {
			rs.listed++
			r.event(e.level, e.kind, e.msg, e.off, e.length)
			continue
		}
		rs.omitted++
		if e.kind == "unreadable" {
			rs.omittedRuns++
		}
	}
	rs.pending = rs.pending[:0]
}

// readMark is the damage state before a block, to forget the block's
// damage when it is not handed on.
type readMark struct {
	ranges       int
	lastLen, bad int64
	open         bool
	deadClusters int
	probedTo     int64
}

func (r *sourceReader) mark() readMark {
	m := readMark{ranges: len(r.unreadable), bad: r.bad, open: r.rescue.open, deadClusters: r.rescue.deadClusters, probedTo: r.rescue.probedTo}
	if m.ranges > 0 {
		m.lastLen = r.unreadable[m.ranges-1].Length
	}
	return m
}

func (r *sourceReader) rollback(m readMark) {
	r.unreadable = r.unreadable[:m.ranges]
	if m.ranges > 0 {
		r.unreadable[m.ranges-1].Length = m.lastLen
	}
	r.bad, r.rescue.open, r.rescue.deadClusters, r.rescue.probedTo = m.bad, m.open, m.deadClusters, m.probedTo
	r.rescue.pending = r.rescue.pending[:0]
}

// rescueBlock reads a block whose read failed again, ddrescue's way but in
// order: cluster by cluster; a failed cluster sector by sector; retries only
// for the failed sectors of a partly readable cluster (a fully unreadable
// cluster is dead medium, where retries cost time and rarely help: ddrescue
// -d retries nothing by default). On any error the block's damage is
// forgotten (the block is not handed on).
func (r *sourceReader) rescueBlock(ctx context.Context, p []byte, off int64, cause error) error {
	m := r.mark()
	if !r.rescue.open { // a run going on from the block before is the same damage
		r.damage("warning", "read_error", fmt.Sprintf("read of %d bytes failed (%v); reading it again in %d KiB clusters, failed clusters sector by sector",
			len(p), cause, min(r.rescue.cluster, len(p))>>10), off, int64(len(p)))
	}
	if err := r.clusters(ctx, p, off); err != nil {
		x := off // where the run ErrSourceDead ends began
		if k := len(r.unreadable); r.rescue.open && k > 0 {
			x = r.unreadable[k-1].Offset
		}
		r.rollback(m)
		if errors.Is(err, ErrSourceDead) {
			r.event("error", "source_dead", fmt.Sprintf("%v; imaging stops at byte %d (the start of the block being read); --resume continues from there once the source answers again", err, off),
				x, r.size-x)
		}
		return err
	}
	r.flush()
	return nil
}

// clusters reads p at off cluster by cluster, scraping the failed ones, and
// probes ahead of dead runs.
func (r *sourceReader) clusters(ctx context.Context, p []byte, off int64) error {
	rs := &r.rescue
	cl := min(rs.cluster/r.sector*r.sector, len(p))
	whole := cl == len(p) // the read that failed was this cluster
	for i := 0; i < len(p); i += cl {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := p[i:min(i+cl, len(p))]
		coff := off + int64(i)
		if !whole {
			err := r.preciseRead(c, coff)
			if err == nil {
				r.good()
				rs.deadClusters = 0
				continue
			}
			if !isMediumError(err) {
				return fmt.Errorf("re-read at offset %d: %w", coff, err)
			}
		}
		dead, err := r.scrape(ctx, c, coff)
		if err != nil {
			return err
		}
		if !dead {
			rs.deadClusters = 0
			continue
		}
		rs.deadClusters++
		end := coff + int64(len(c))
		if rs.probedTo >= end {
			continue // a probe read further on: the medium answers
		}
		// Probe after a long dead run, and at the end of a block that ends
		// in one: the block is handed on only after, so when the source has
		// stopped answering, the checkpoint is before the run.
		if long := rs.deadClusters >= rs.deadRun; long || i+cl >= len(p) {
			if err := r.probe(ctx, end, long); err != nil {
				return err
			}
		}
	}
	return nil
}

// scrape reads cluster c at off sector by sector, in order. A sector that
// fails is retried r.retries times when some sector of the cluster read;
// when none did (dead reports it), the cluster is recorded unreadable as a
// whole without retries. Unreadable sectors are zero-filled and recorded.
func (r *sourceReader) scrape(ctx context.Context, c []byte, off int64) (dead bool, err error) {
	ss := r.sector
	n := (len(c) + ss - 1) / ss
	sector := func(k int) []byte { return c[k*ss : min((k+1)*ss, len(c))] }
	// First pass: which sectors read.
	failed := r.rescue.failedIdx[:0]
	defer func() { r.rescue.failedIdx = failed[:0] }()
	for k := range n {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if err := r.preciseRead(sector(k), off+int64(k*ss)); err != nil {
			if !isMediumError(err) {
				return false, fmt.Errorf("re-read sector at offset %d: %w", off+int64(k*ss), err)
			}
			failed = append(failed, k)
		}
	}
	if len(failed) == n {
		clear(c)
		r.markBad(off, int64(len(c)))
		return true, nil
	}
	// Settle in order: retry each failed sector, then record it or go on.
	next := 0
	for k := range n {
		if next >= len(failed) || failed[next] != k {
			r.good()
			continue
		}
		next++
		s, soff := sector(k), off+int64(k*ss)
		ok := false
		for try := 1; try <= r.retries && !ok; try++ {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			err := r.preciseRead(s, soff)
			if err == nil {
				ok = true
				r.damage("info", "retry_ok", fmt.Sprintf("sector %d read on attempt %d", soff/int64(ss), try+1), soff, int64(len(s)))
			} else if !isMediumError(err) {
				return false, fmt.Errorf("re-read sector at offset %d: %w", soff, err)
			}
		}
		if ok {
			r.good()
			continue
		}
		clear(s)
		r.markBad(soff, int64(len(s)))
	}
	return false, nil
}

// markBad records unreadable bytes at the reading position.
func (r *sourceReader) markBad(off, length int64) {
	r.record(off, length)
	r.rescue.open = true
}

// good notes that the next bytes read: a run of unreadable sectors before
// them has ended and gets its event.
func (r *sourceReader) good() {
	if !r.rescue.open {
		return
	}
	r.rescue.open = false
	r.runEvent("")
}

// runEvent queues the event of the last unreadable range (one per run).
func (r *sourceReader) runEvent(note string) {
	u := r.unreadable[len(r.unreadable)-1]
	r.damage("warning", "unreadable", report.SectorRun(u, r.sector)+", zero-filled"+note, u.Offset, u.Length)
}

// probe reads single sectors at growing distances past q, the end of a dead
// run: 1 MiB, 2 MiB, 4 MiB, … and finally the last sector. The first that
// reads ends the probe (the sectors up to it are still read one by one, in
// order: the stream is hashed in order). When none reads, the source has
// stopped answering: ErrSourceDead. Within rescueProbeStart of the end
// nothing is probed: scraping the rest costs little more than deciding.
func (r *sourceReader) probe(ctx context.Context, q int64, long bool) error {
	rs := &r.rescue
	if r.size-q <= rs.probeStart {
		return nil
	}
	ss := int64(r.sector)
	lastSector := (r.size - 1) / ss * ss
	if rs.probeBuf == nil {
		rs.probeBuf = blockdev.AlignedBuffer(int(ss), int(ss))
	}
	tried := 0
	for d := rs.probeStart; ; d *= 2 {
		if err := ctx.Err(); err != nil {
			return err
		}
		at := min((q+d)/ss*ss, lastSector)
		tried++
		rs.probes++
		err := r.preciseRead(rs.probeBuf[:min(ss, r.size-at)], at)
		if err == nil {
			rs.probedTo = at
			if long || tried > 1 {
				start := r.unreadable[len(r.unreadable)-1].Offset
				r.damage("info", "probe", fmt.Sprintf("unreadable from byte %d to at least byte %d: probed ahead with single sectors; byte %d reads (probe %d); the sectors before it are still read one by one, in order",
					start, q-1, at, tried), q, at-q)
			}
			return nil
		}
		if !isMediumError(err) {
			return fmt.Errorf("probe at offset %d: %w", at, err)
		}
		if at == lastSector {
			break
		}
	}
	x := r.unreadable[len(r.unreadable)-1].Offset
	return fmt.Errorf("%w at byte %d: %d probes up to the end failed (single sectors from byte %d to the last sector at %d)", ErrSourceDead, x, tried, q, lastSector)
}

// restore picks up the damage state from the journal's checkpoint (after
// the unreadable ranges were restored) and the earlier runs' events.
func (r *sourceReader) restore(c *checkpointRec, events []report.Event) {
	rs := &r.rescue
	for _, e := range events {
		if damageKinds[e.Kind] {
			rs.listed++
		}
	}
	if c.Rescue != nil {
		rs.omitted, rs.omittedRuns = c.Rescue.OmittedEvents, c.Rescue.OmittedRuns
	}
	if k := len(r.unreadable); k > 0 && r.unreadable[k-1].Offset+r.unreadable[k-1].Length == c.Offset {
		rs.open = true
		rs.deadClusters = int(r.unreadable[k-1].Length / int64(rs.cluster))
	}
}

// journalState is what a checkpoint keeps of the rescue.
func (r *sourceReader) journalState() *rescueJournal {
	if r.rescue.omitted == 0 {
		return nil
	}
	return &rescueJournal{OmittedEvents: r.rescue.omitted, OmittedRuns: r.rescue.omittedRuns}
}

// conclude ends the damage record: the run still open gets its event (at
// the end of the source it simply ended; after an abort imaging stopped
// inside it), and a summary counts what the cap left out.
func (r *sourceReader) conclude(stopped bool) {
	rs := &r.rescue
	rs.pending = rs.pending[:0] // a block not handed on
	if rs.open {
		rs.open = false
		note := ""
		if stopped {
			note = "; imaging stopped inside this run"
		}
		r.runEvent(note)
		r.flush()
	}
	if rs.reads > 0 {
		r.event("info", "rescue", fmt.Sprintf("failed blocks were read again with %d reads of clusters and sectors (%d failed), %d of them probes ahead of dead runs",
			rs.reads, rs.failed, rs.probes), -1, -1)
	}
	if rs.omitted > 0 {
		r.event("warning", "events_omitted", fmt.Sprintf("%d more damage events are not listed, %d of them unreadable runs: only the first %d are; every unreadable range is in the report's unreadable list and in the mapfile",
			rs.omitted, rs.omittedRuns, rs.maxEvents), -1, -1)
	}
}
