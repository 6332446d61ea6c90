package acquire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// Phase names what an acquisition is doing, for progress displays.
type Phase string

const (
	PhasePrepare Phase = "prepare"
	PhaseImage   Phase = "image"
	PhaseFinish  Phase = "finish"
	PhaseVerify  Phase = "verify"
	PhaseDone    Phase = "done"
)

// Progress is a snapshot of an acquisition's counters.
type Progress struct {
	Phase      Phase `json:"phase"`
	Total      int64 `json:"total"`      // bytes to image
	Done       int64 `json:"done"`       // bytes imaged (read, hashed and written)
	Unreadable int64 `json:"unreadable"` // bytes zero-filled so far
	Verified   int64 `json:"verified"`   // bytes re-read during --verify
}

// Acquisition is one imaging job. Create it with New, poll Progress from
// any goroutine while Run works.
//
// Run's architecture: one reader goroutine issues ReadSize reads in order
// into buffers from a fixed pool; each buffer is handed, in order, to every
// consumer (one goroutine per whole-stream hash algorithm, one for hash
// windows, one for the image writer), each on its own bounded queue; a
// buffer returns to the pool when the last consumer is done with it. Every
// CheckpointEvery bytes a marker flows through the same queues, each
// consumer saves its state at exactly that offset, and the journal is
// rewritten, so an interrupted run resumes without re-reading.
type Acquisition struct {
	source, dir string
	o           Options

	phase      atomic.Value // Phase
	total      atomic.Int64
	done       atomic.Int64
	unreadable atomic.Int64
	verified   atomic.Int64

	// info is the source's identity from sysfs (block devices only), read
	// once: each Inspect scans every entry of /sys/block.
	info    *blockdev.Info
	infoErr error

	mu     sync.Mutex
	events []report.Event

	// afterRead, if set (tests only), is called by the reader after each
	// block is handed on, with the stream offset reached.
	afterRead func(off int64)
	// beforeVerify, if set (tests only), is called when verification starts.
	beforeVerify func()
}

// New prepares an acquisition of source into the folder dir.
func New(source, dir string, o Options) *Acquisition {
	a := &Acquisition{source: source, dir: dir, o: o}
	a.phase.Store(PhasePrepare)
	return a
}

// Progress returns the current counters. Safe from any goroutine.
func (a *Acquisition) Progress() Progress {
	return Progress{
		Phase: a.phase.Load().(Phase), Total: a.total.Load(), Done: a.done.Load(),
		Unreadable: a.unreadable.Load(), Verified: a.verified.Load(),
	}
}

func (a *Acquisition) now() string { return report.Timestamp(a.o.Now()) }

// event records a notable event in the report and passes it to OnEvent.
func (a *Acquisition) event(level, kind, msg string, off, length int64) {
	e := report.Event{Time: a.now(), Level: level, Kind: kind, Message: msg}
	if off >= 0 {
		e.Offset = &off
	}
	if length >= 0 {
		e.Length = &length
	}
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
	if a.o.OnEvent != nil {
		a.o.OnEvent(e)
	}
}

func (a *Acquisition) note(level, kind, msg string) { a.event(level, kind, msg, -1, -1) }

func (a *Acquisition) eventsCopy() []report.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]report.Event(nil), a.events...)
}

// Run images the source. It returns the report it wrote (also on failure,
// when one could be written) and an error that wraps ErrUsage (nothing was
// written), ErrUnreadable (complete, with unreadable sectors),
// ErrVerifyMismatch, blockdev.ErrNotProtected / ErrSourceWritten (write
// blocking failed), context.Canceled (interrupted), or an I/O error.
func (a *Acquisition) Run(ctx context.Context) (*report.Report, error) {
	o := &a.o
	if err := o.Check(); err != nil {
		return nil, err
	}
	env := report.DefaultEnv(o.ToolVersion)
	env.Now, env.Args = o.Now, o.CommandLine
	env.Kernel = runtime.GOOS + " " + env.Kernel
	r := report.New(env)
	r.Case = o.Case
	r.Image = report.Image{Format: o.Format, Name: o.Name, SegmentSize: o.SegmentSize, Compression: compressionName(o), Segments: []report.Segment{}}
	r.Settings = report.Settings{
		HashAlgorithms: o.Hashes.Names(), HashWindow: o.HashWindow, ReadSize: o.ReadSize,
		Retries: o.Retries, Resumed: o.Resume,
	}

	dev, err := blockdev.Open(a.source, blockdev.OpenOptions{Exclusive: true, AllowBusy: o.AllowBusy})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	defer dev.Close()
	if dev.Shared() {
		a.note("warning", "busy", "the source is in use (mounted or held); read without exclusive access as asked (--allow-busy)")
	}
	a.total.Store(dev.Size())
	if dev.IsBlock() {
		a.info, a.infoErr = blockdev.Inspect(a.source)
	}
	a.describeSource(r, dev)

	if err := prepareDest(a.dir, dev, a.info, a.infoErr); err != nil {
		return nil, err
	}
	var j *journal
	if o.Resume {
		if j, err = a.loadJournal(dev); err != nil {
			return nil, err
		}
	} else if existing, err := existingOutputs(a.dir, o.Name); err != nil {
		return nil, fmt.Errorf("%w: read output folder: %w", ErrUsage, err)
	} else if len(existing) > 0 {
		return nil, &refusal{
			err:  fmt.Errorf("%w: %s already holds files of an image named %q (%s)", ErrUsage, a.dir, o.Name, strings.Join(baseNames(existing), ", ")),
			hint: "choose another --name or output folder, or pass --resume to continue an interrupted acquisition",
		}
	}
	var start int64
	if j != nil && j.Check != nil {
		start = j.Check.Offset
	}
	if err := checkSpace(a.dir, dev.Size()-start, o); err != nil {
		return nil, err
	}

	// Write-block before the first read.
	wb, err := a.writeBlock(r, dev)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.dir, 0o750); err != nil {
		wb.release(r, a)
		return nil, fmt.Errorf("%w: create output folder: %w", ErrUsage, err)
	}

	runErr := a.image(ctx, r, dev, j)
	imaged := runErr == nil
	wb.finish(r, a)
	if runErr == nil && r.Source.SectorsWrittenDuring > 0 {
		runErr = fmt.Errorf("%w: the block layer counted %d sectors written to the source during the acquisition", ErrSourceWritten, r.Source.SectorsWrittenDuring)
		a.note("error", "writeblock", runErr.Error())
	}
	if runErr == nil && o.Verify {
		runErr = a.verify(ctx, r)
	}
	return a.conclude(r, imaged, runErr)
}

// ErrSourceWritten: the source's write counters rose while it was imaged.
var ErrSourceWritten = errors.New("write-block failure: the source was written during the acquisition")

// refusal is a usage error with a hint for the user.
type refusal struct {
	err  error
	hint string
}

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }
func (e *refusal) Hint() string  { return e.hint }

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p[strings.LastIndex(p, "/")+1:]
	}
	return out
}

func compressionName(o *Options) string {
	if o.Format == "raw" {
		return "none"
	}
	return o.Compression
}

func (a *Acquisition) describeSource(r *report.Report, dev *blockdev.Device) {
	s := &r.Source
	s.Path = a.source
	s.Size = dev.Size()
	s.LogicalSectorSize = dev.LogicalSectorSize()
	s.PhysicalSectorSize = dev.PhysicalSectorSize()
	s.Kind = "regular file"
	if !dev.IsBlock() {
		return
	}
	s.Kind = "block device"
	ro, err := dev.ReadOnlyFlag()
	if err == nil {
		s.ReadOnlyBefore, s.ReadOnlyDuring = ro, ro
	}
	if a.infoErr != nil {
		a.note("warning", "identity", fmt.Sprintf("could not read the device identity from sysfs: %v", a.infoErr))
		return
	}
	s.Vendor, s.Model, s.Serial, s.WWID = a.info.Vendor, a.info.Model, a.info.Serial, a.info.WWID
}

// image runs the pipeline from the journal's checkpoint (or 0) to the end
// and completes the image files. It fills r's hashes, segments, windows and
// unreadable list.
func (a *Acquisition) image(ctx context.Context, r *report.Report, dev *blockdev.Device, j *journal) error {
	o := &a.o
	size := dev.Size()
	jpath := journalPath(a.dir, o.Name)

	hashers := make([]*hashStage, len(o.Hashes))
	for i, alg := range o.Hashes {
		hashers[i] = &hashStage{m: hashing.NewMulti(hashing.Set{alg})}
	}
	var windows *windowStage
	if o.HashWindow > 0 {
		windows = &windowStage{size: o.HashWindow, m: hashing.NewMulti(o.Hashes)}
	}
	sr := &sourceReader{
		src: dev, size: size, sector: dev.LogicalSectorSize(), retries: o.Retries, precise: dev,
		event: func(level, kind, msg string, off, n int64) { a.event(level, kind, msg, off, n) },
	}

	var w ImageWriter
	var start int64
	var err error
	if j != nil && j.Check != nil {
		c := j.Check
		start = c.Offset
		for _, h := range hashers {
			if err := h.m.UnmarshalState(c.Hashes[h.m.Set()[0].String()]); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
		}
		if windows != nil {
			if c.Windows == nil {
				return fmt.Errorf("resume: the journal has no hash-window state")
			}
			if err := windows.restore(*c.Windows); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
		}
		sr.unreadable = append(sr.unreadable, c.Unreadable...)
		for _, u := range c.Unreadable {
			sr.bad += u.Length
		}
		a.mu.Lock()
		a.events = append(append([]report.Event(nil), c.Events...), a.events...)
		a.mu.Unlock()
		w, err = resumeImageWriter(o.Format, a.dir, o.Name, o.SegmentSize, o.SegmentHashes, c.Writer)
		a.event("info", "resume", fmt.Sprintf("resumed from the journal's checkpoint at byte %d of %d", start, size), start, -1)
	} else if j != nil {
		// Interrupted before its first checkpoint: start over, replacing
		// the partial segments that run left (an empty writer state).
		w, err = resumeImageWriter(o.Format, a.dir, o.Name, o.SegmentSize, o.SegmentHashes, nil)
		a.event("info", "resume", "the journal has no checkpoint yet: imaging starts again from byte 0", 0, -1)
	} else {
		w, err = newImageWriter(o.Format, a.dir, o.Name, o.SegmentSize, o.SegmentHashes)
	}
	if err != nil {
		return err
	}
	a.done.Store(start)
	a.unreadable.Store(sr.bad)
	if j == nil {
		j = &journal{Version: journalVersion, Started: r.StartedAt, Source: journalSource{
			Path: a.source, Size: size, Model: r.Source.Model, Serial: r.Source.Serial, Sector: dev.LogicalSectorSize(),
			Continuity: readContinuity(a.diskName())}}
		j.Settings = journalOptions{Format: o.Format, SegmentSize: o.SegmentSize, Hashes: o.Hashes.Names(),
			SegmentHashes: o.SegmentHashes.Names(), HashWindow: o.HashWindow, Compression: o.Compression}
	} else {
		r.StartedAt = j.Started
	}
	if err := writeJournal(jpath, j); err != nil {
		return err
	}

	// Block devices are read through an O_DIRECT descriptor: every read
	// reaches the device (no readahead that widens a failure, no page cache
	// that hides one or fills with evidence), failed reads narrow to exact
	// sectors, and the copy out of the device's page cache is saved (on
	// the 2 GiB loop benchmark: 3.2-3.5 s instead of 4.2-5.3 s).
	if dev.IsBlock() {
		if d, err := dev.Reopen(blockdev.OpenOptions{Direct: true, AllowBusy: true}); err == nil {
			defer d.Close()
			sr.src, sr.precise, sr.direct = d, d, true
		} else {
			a.note("warning", "direct_io", fmt.Sprintf("no O_DIRECT descriptor (%v): reading through the page cache; failed reads are narrowed less exactly", err))
		}
	}
	r.Settings.DirectIO = sr.direct

	consumers := make([]consumer, 0, len(hashers)+2)
	for _, h := range hashers {
		consumers = append(consumers, h)
	}
	if windows != nil {
		consumers = append(consumers, windows)
	}
	consumers = append(consumers, &writeStage{w: w})
	align := max(dev.PhysicalSectorSize(), dev.LogicalSectorSize(), 4096)
	pl := newPool(o.Buffers, o.ReadSize, align)
	fo := newFanout(ctx, consumers, o.Buffers, pl)
	a.phase.Store(PhaseImage)

	checkpoint := func(off int64) error {
		states, err := fo.checkpoint(off)
		if err != nil {
			return err
		}
		c := &checkpointRec{Offset: off, Hashes: map[string]hashing.State{}, Unreadable: append([]report.Range(nil), sr.unreadable...), Events: a.eventsCopy()}
		for i, h := range hashers {
			c.Hashes[h.m.Set()[0].String()] = states[i].(hashing.State)
		}
		if windows != nil {
			ws := states[len(hashers)].(windowState)
			c.Windows = &ws
		}
		c.Writer = states[len(states)-1].(json.RawMessage)
		j.Check = c
		j.Source.Continuity = readContinuity(a.diskName())
		return writeJournal(jpath, j)
	}

	// Checkpoints come every CheckpointEvery bytes and at every segment
	// boundary (a closed segment is already synced, so they cost little):
	// after a full destination, a resume keeps every complete segment.
	nextSeg := func(off int64) int64 {
		if o.SegmentSize <= 0 {
			return size
		}
		return (off/o.SegmentSize + 1) * o.SegmentSize
	}
	produce := func() error {
		next := start + o.CheckpointEvery
		seg := nextSeg(start)
		for off := start; off < size; {
			buf, err := pl.get(fo.ctx)
			if err != nil {
				return err
			}
			n := int(min(int64(o.ReadSize), size-off))
			if err := sr.read(fo.ctx, buf[:n], off); err != nil {
				return err
			}
			a.unreadable.Store(sr.bad)
			if err := fo.send(&block{off: off, data: buf[:n], buf: buf}); err != nil {
				return err
			}
			off += int64(n)
			a.done.Store(off)
			if a.afterRead != nil {
				a.afterRead(off)
			}
			if (off >= next || off >= seg) && off < size {
				if err := checkpoint(off); err != nil {
					return err
				}
				next, seg = off+o.CheckpointEvery, nextSeg(off)
			}
		}
		return nil
	}
	perr := produce()
	cerr := fo.close()
	// A failing consumer (say, a full destination) cancels the group, so the
	// reader then sees a cancelled context: the consumer's error is the
	// cause. Only when the caller cancelled (a signal) is it an interruption.
	if perr == nil || (cerr != nil && ctx.Err() == nil && errors.Is(perr, context.Canceled)) {
		perr = cerr
	}
	r.Unreadable = append(r.Unreadable, sr.unreadable...)
	if perr != nil {
		werr := w.Abort()
		r.Image.Segments = w.Partial()
		r.BytesAcquired = j.offset()
		if werr != nil {
			a.note("error", "abort", fmt.Sprintf("syncing the partial image failed: %v", werr))
		}
		return perr
	}
	a.phase.Store(PhaseFinish)
	for _, h := range hashers {
		maps := h.m.Sums()
		for k, v := range maps {
			r.Hashes[k] = v
		}
	}
	if windows != nil {
		windows.flush()
		r.HashWindows = windows.windows
	}
	segs, err := w.Finish()
	if err != nil {
		r.Image.Segments = w.Partial()
		r.BytesAcquired = j.offset()
		return err
	}
	r.Image.Segments = segs
	r.BytesAcquired = size
	return nil
}

// offset is the journal's last checkpoint: what a resume starts from.
func (j *journal) offset() int64 {
	if j == nil || j.Check == nil {
		return 0
	}
	return j.Check.Offset
}

// loadJournal reads NAME.journal for --resume and checks that it belongs
// to this source and these settings.
func (a *Acquisition) loadJournal(dev *blockdev.Device) (*journal, error) {
	o := &a.o
	path := journalPath(a.dir, o.Name)
	j, err := readJournal(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &refusal{
			err:  fmt.Errorf("%w: --resume: no journal %s", ErrUsage, path),
			hint: "--resume continues an interrupted acquisition in the same output folder with the same --name",
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: --resume: %w", ErrUsage, err)
	}
	var diffs []string
	if j.Source.Size != dev.Size() {
		diffs = append(diffs, fmt.Sprintf("source size %d, journal %d", dev.Size(), j.Source.Size))
	}
	if j.Source.Sector != dev.LogicalSectorSize() {
		diffs = append(diffs, fmt.Sprintf("sector size %d, journal %d", dev.LogicalSectorSize(), j.Source.Sector))
	}
	if dev.IsBlock() {
		if info := a.info; info != nil && (info.Serial != j.Source.Serial || info.Model != j.Source.Model) {
			diffs = append(diffs, fmt.Sprintf("device %q serial %q, journal %q serial %q", info.Model, info.Serial, j.Source.Model, j.Source.Serial))
		}
	}
	if msg := a.checkContinuity(j); msg != "" {
		diffs = append(diffs, msg)
	}
	s := j.Settings
	if s.Format != o.Format || s.SegmentSize != o.SegmentSize || s.HashWindow != o.HashWindow ||
		strings.Join(s.Hashes, ",") != strings.Join(o.Hashes.Names(), ",") ||
		strings.Join(s.SegmentHashes, ",") != strings.Join(o.SegmentHashes.Names(), ",") {
		diffs = append(diffs, fmt.Sprintf("settings differ: journal has format %s, segment size %d, hashes %v, segment hashes %v, hash window %d",
			s.Format, s.SegmentSize, s.Hashes, s.SegmentHashes, s.HashWindow))
	}
	if len(diffs) > 0 {
		return nil, &refusal{
			err:  fmt.Errorf("%w: --resume: the journal does not match this acquisition: %s", ErrUsage, strings.Join(diffs, "; ")),
			hint: "resume with the same source and the same --format, --segment-size, --hash, --segment-hash and --hash-window as the interrupted run; if the source changed, start a new acquisition (another --name or folder)",
		}
	}
	return j, nil
}

// diskName is the kernel name of the disk holding the source (the source
// itself, or a partition's disk), or "" for regular files.
func (a *Acquisition) diskName() string {
	if a.info == nil {
		return ""
	}
	if a.info.Parent != "" {
		return filepath.Base(a.info.Parent)
	}
	return a.info.Name
}

// checkContinuity compares the journal's last record of the source's disk
// with its state now. Same boot and same medium: the write counter must not
// have risen (a resumed image would mix two states of the evidence; that is
// returned as a reason to refuse). Otherwise nothing can be proved, which is
// logged as a warning.
func (a *Acquisition) checkContinuity(j *journal) string {
	then := j.Source.Continuity
	if then == nil || a.diskName() == "" {
		return ""
	}
	now := readContinuity(a.diskName())
	switch {
	case now == nil:
		a.note("warning", "resume", "cannot read the source's write counters: nothing proves it is unchanged since the interrupted run")
	case now.BootID != then.BootID || now.DiskSeq != then.DiskSeq || now.Disk != then.Disk:
		a.note("warning", "resume", fmt.Sprintf("the machine was restarted or the medium re-attached since the interrupted run (boot %s→%s, %s diskseq %d→%d): "+
			"the write counters cannot prove the source unchanged in between", short(then.BootID), short(now.BootID), now.Disk, then.DiskSeq, now.DiskSeq))
	case now.SectorsWritten > then.SectorsWritten:
		return fmt.Sprintf("the block layer counted %d sectors written to %s since the interrupted run's last checkpoint: the source changed, so its image cannot be continued",
			now.SectorsWritten-then.SectorsWritten, now.Disk)
	default:
		a.note("info", "resume", fmt.Sprintf("same boot and medium as the interrupted run, and no sector written to %s since its last checkpoint", now.Disk))
	}
	return ""
}

// counter is an io.Writer that only counts the bytes written to it (the
// progress of --verify).
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

func short(id string) string { return id[:min(8, len(id))] }

// verify re-reads the written image and compares its hashes.
func (a *Acquisition) verify(ctx context.Context, r *report.Report) error {
	a.phase.Store(PhaseVerify)
	if a.beforeVerify != nil {
		a.beforeVerify()
	}
	img, err := OpenImage(r, a.dir)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer img.Close()
	sums, n, err := report.HashStream(ctx, img, a.o.Hashes.Names(), counter{&a.verified})
	if errors.Is(err, context.Canceled) {
		return err
	}
	if err != nil {
		return fmt.Errorf("verify: read image: %w", err)
	}
	r.Verification.Performed = true
	r.Verification.Hashes = sums
	r.Verification.Matched = n == r.Source.Size
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(r.Hashes)) {
		if sums[k] != r.Hashes[k] {
			r.Verification.Matched = false
			bad = append(bad, k)
		}
	}
	if !r.Verification.Matched {
		err := fmt.Errorf("%w: re-read %d bytes; mismatching hashes: %s", ErrVerifyMismatch, n, strings.Join(bad, ", "))
		a.note("error", "verify", err.Error())
		return err
	}
	a.note("info", "verify", "the written image was re-read and every hash matched")
	return nil
}

// conclude sets the final status, writes the report files and removes the
// journal when the image is complete. imaged says whether every byte was
// imaged and the image files were completed (whatever happened after, such
// as an interrupted or failed --verify).
func (a *Acquisition) conclude(r *report.Report, imaged bool, runErr error) (*report.Report, error) {
	o := &a.o
	interrupted := errors.Is(runErr, context.Canceled)
	switch {
	case errors.Is(runErr, ErrSourceWritten):
		r.Status = report.StatusFailed
	case imaged:
		r.Status = report.StatusComplete
		if interrupted {
			a.note("warning", "interrupted", "interrupted during verification: the image is complete but was not re-read; check it with custodian verify")
		}
	default:
		r.Status = report.StatusIncomplete
		if interrupted {
			a.note("error", "interrupted", fmt.Sprintf("interrupted after %d of %d bytes; resume with --resume", a.done.Load(), r.Source.Size))
		}
	}
	if runErr != nil {
		r.Error = runErr.Error()
		switch {
		case interrupted && imaged:
			r.Error = "interrupted (signal) during verification; the image is complete"
		case interrupted:
			r.Error = "interrupted (signal); the journal allows --resume"
		}
	}
	r.FinishedAt = a.now()
	r.Events = a.eventsCopy()
	if r.Events == nil {
		r.Events = []report.Event{}
	}
	a.phase.Store(PhaseDone)
	if err := report.WriteFiles(a.dir, o.Name, r, o.Signer); err != nil {
		return r, errors.Join(runErr, fmt.Errorf("write report: %w", err))
	}
	if r.Status == report.StatusComplete {
		if err := os.Remove(journalPath(a.dir, o.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, errors.Join(runErr, fmt.Errorf("remove journal: %w", err))
		}
	}
	if runErr != nil {
		return r, runErr
	}
	if len(r.Unreadable) > 0 {
		var n int64
		for _, u := range r.Unreadable {
			n += u.Length
		}
		return r, fmt.Errorf("%w: %d bytes in %d ranges, zero-filled and listed in the report", ErrUnreadable, n, len(r.Unreadable))
	}
	return r, nil
}
