package acquire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
	"golang.org/x/sys/unix"
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
	// UnreadableSectors is Unreadable in logical sectors: the running
	// count of unreadable sectors for a progress bar.
	UnreadableSectors int64 `json:"unreadable_sectors"`
	Verified          int64 `json:"verified"` // bytes re-read during --verify
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
	// unreadableSectors counts the logical sectors zero-filled so far.
	unreadableSectors atomic.Int64
	// sectorSize is the source's logical sector size, once it is open.
	sectorSize int

	// info is the source's identity from sysfs (block devices only), read
	// once: each Inspect scans every entry of /sys/block.
	info    *blockdev.Info
	infoErr error

	// root is the output folder, once it exists: every file is read and
	// written through it. lock is the folder opened for its flock.
	root *os.Root
	lock *os.File

	// needProof is set by a resume whose journal cannot prove the source
	// unchanged (proofReason says why): then samples of the kept image
	// compared with the source must.
	needProof   bool
	proofReason string

	mu     sync.Mutex
	events []report.Event // this run's

	// prior are the earlier runs of a resumed acquisition (from the
	// journal), cur is this one; j is the journal once imaging began.
	prior []journalRun
	cur   journalRun
	j     *journal

	// afterRead, if set (tests only), is called by the reader after each
	// block is handed on, with the stream offset reached.
	afterRead func(off int64)
	// beforeVerify, if set (tests only), is called when verification starts.
	beforeVerify func()
	// crashPoint, if set (tests only), is called at the moments a crash is
	// hardest to survive: "end" (the end checkpoint is in the journal),
	// "final" (the final hashes too, nothing renamed yet), "report" (the
	// complete report written, the journal not yet removed).
	crashPoint func(string)
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
		Unreadable: a.unreadable.Load(), UnreadableSectors: a.unreadableSectors.Load(), Verified: a.verified.Load(),
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
	if ss := int64(a.sectorSize); kind == "unreadable" && off >= 0 && length > 0 && ss > 0 {
		// A run of unreadable sectors carries its sectors too.
		first, n := off/ss, (length+ss-1)/ss
		e.Sector, e.Sectors = &first, &n
	}
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
	if a.o.OnEvent != nil {
		a.o.OnEvent(e)
	}
}

func (a *Acquisition) note(level, kind, msg string) { a.event(level, kind, msg, -1, -1) }

func (a *Acquisition) crash(point string) {
	if a.crashPoint != nil {
		a.crashPoint(point)
	}
}

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
	f, err := LookupFormat(o.Format)
	if err != nil {
		return nil, err
	}
	env := report.DefaultEnv(o.ToolVersion)
	env.Now, env.Args = o.Now, o.CommandLine
	env.Kernel = runtime.GOOS + " " + env.Kernel
	r := report.New(env)
	r.Case = o.Case
	r.Image = report.Image{Format: o.Format, Name: o.Name, SegmentSize: o.SegmentSize, Segments: []report.Segment{}}
	r.Settings = report.Settings{
		HashAlgorithms: o.Hashes.Names(), HashWindow: o.HashWindow, ReadSize: o.ReadSize,
		Retries: o.Retries, Resumed: o.Resume, Origins: slices.Clone(o.Origins),
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
	a.sectorSize = dev.LogicalSectorSize()
	if dev.IsBlock() {
		a.info, a.infoErr = blockdev.Inspect(a.source)
	}
	a.describeSource(r, dev)

	if err := prepareDest(a.dir, dev, a.info, a.infoErr); err != nil {
		return nil, err
	}
	if err := a.openExisting(); err != nil {
		return nil, err
	}
	defer a.closeRoot()
	var j *journal
	if o.Resume {
		if j, err = a.loadJournal(dev); err != nil {
			return nil, err
		}
		if j.Case != nil {
			if o.Case, err = resumeCase(*j.Case, o.Case); err != nil {
				return nil, err
			}
		} else {
			a.note("warning", "resume", "the journal was written by an older custodian and holds no case fields: this run's are recorded")
		}
		a.adoptHistory(j)
		r.Case = o.Case
	} else if existing, err := existingOutputs(a.root, o.Name); err != nil || len(existing) > 0 {
		return nil, a.existingRefusal(existing, err)
	}
	a.warnCase()
	spec := a.spec(r, dev)
	plan, err := f.Plan(spec)
	if err != nil {
		return nil, planRefusal(err)
	}
	r.Image.Compression = plan.Compression
	for _, n := range plan.Notes {
		a.note("info", "format", n)
	}
	var start int64
	if j != nil && j.Check != nil {
		start = j.Check.Offset
	}
	if err := checkSpace(a.dir, remaining(plan.MaxBytes, start, dev.Size()), o); err != nil {
		return nil, err
	}
	a.startRun(start)

	// Write-block before the first read.
	wb, err := a.writeBlock(r, dev)
	if err != nil {
		return nil, err
	}
	root, err := a.openFolder()
	if err != nil {
		wb.release(r, a)
		return nil, err
	}
	spec.Root = root
	r.Source.PartitionTable = readPartitionTable(dev)
	spec.Source.PartitionTable = r.Source.PartitionTable.Type == "gpt" || r.Source.PartitionTable.Type == "mbr"

	im := newImaging(a, r, dev, j, f, spec, plan)
	if err := im.prepare(ctx); err != nil {
		im.release()
		wb.release(r, a)
		return nil, err
	}
	a.started(r, start)
	runErr := im.run(ctx)
	imaged := runErr == nil
	im.watch(r, true) // before a --restore-writeblock clears the flags
	wb.finish(r, a)
	if runErr == nil && r.Source.SectorsWrittenDuring > 0 {
		runErr = fmt.Errorf("%w: the block layer counted %d sectors written to the source during the acquisition", ErrSourceWritten, r.Source.SectorsWrittenDuring)
		a.note("error", "writeblock", runErr.Error())
	}
	if runErr == nil && im.changed != nil {
		runErr = im.changed
	}
	// The complete report is written before --verify: a crash or an
	// interruption during the re-read leaves a complete, reported image.
	r, err = a.conclude(r, root, imaged, runErr)
	if o.Verify && r.Status == report.StatusComplete && (err == nil || errors.Is(err, ErrUnreadable)) {
		return a.concludeVerify(r, root, a.verify(ctx, r, f, root), err)
	}
	return r, err
}

// spec describes the image to the format (the folder handle comes later:
// nothing is created before the checks pass).
func (a *Acquisition) spec(r *report.Report, dev *blockdev.Device) format.Spec {
	o := &a.o
	s := format.Spec{
		Dir: a.dir, Name: o.Name, MediaSize: dev.Size(), SectorSize: dev.LogicalSectorSize(),
		SegmentSize: o.SegmentSize, SegmentHashes: o.SegmentHashes, Compression: o.Compression,
		Case: o.Case, Started: a.o.Now(), ToolVersion: o.ToolVersion, DirectIO: true,
		Source: format.Source{Path: a.source, Model: r.Source.Model, Serial: r.Source.Serial, Block: dev.IsBlock()},
	}
	if a.info != nil {
		s.Source.Partition = a.info.Kind == blockdev.KindPartition
		s.Source.Removable = a.info.Removable
	}
	return s
}

// planRefusal turns a format's refusal into a usage error (nothing was
// written), keeping its hint.
func planRefusal(err error) error {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return &refusal{Err: fmt.Errorf("%w: %w", ErrUsage, err), Tip: h.Hint()}
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

// remaining scales the image's worst-case size to what is left to write
// after a resume's checkpoint.
func remaining(maxBytes, start, size int64) int64 {
	if size <= 0 || start <= 0 {
		return maxBytes
	}
	return int64(float64(maxBytes) * float64(size-start) / float64(size))
}

// openExisting opens the output folder if it exists: what is in it is read
// through this handle, and so is everything written later.
func (a *Acquisition) openExisting() error {
	root, err := os.OpenRoot(a.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%w: open output folder: %w", ErrUsage, err)
	}
	return a.adopt(root)
}

// openFolder creates the output folder if needed and opens it: every file
// of the acquisition is created through this handle.
func (a *Acquisition) openFolder() (*os.Root, error) {
	if a.root != nil {
		return a.root, nil
	}
	if err := os.MkdirAll(a.dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: create output folder: %w", ErrUsage, err)
	}
	root, err := os.OpenRoot(a.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: open output folder: %w", ErrUsage, err)
	}
	if err := a.adopt(root); err != nil {
		return nil, err
	}
	// Another run may have created the folder and started in it between
	// our first look and now: look again, under the lock.
	if !a.o.Resume {
		if existing, err := existingOutputs(root, a.o.Name); err != nil || len(existing) > 0 {
			return nil, a.existingRefusal(existing, err)
		}
	}
	return root, nil
}

// adopt checks the folder (see checkFolder), takes its lock and keeps the
// handle.
func (a *Acquisition) adopt(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		root.Close()
		return fmt.Errorf("%w: open output folder: %w", ErrUsage, err)
	}
	if err := a.checkFolder(d); err != nil {
		d.Close()
		root.Close()
		return err
	}
	// One acquisition at a time in a folder: the lock is on the folder
	// itself (no lock file to leave behind), held until the run ends.
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		root.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return &refusal{
				Err: fmt.Errorf("%w: another custodian acquisition is running in %s (it holds the folder's lock)", ErrUsage, a.dir),
				Tip: "wait for it to end, or choose another output folder",
			}
		}
		return fmt.Errorf("%w: lock output folder: %w", ErrUsage, err)
	}
	a.root, a.lock = root, d
	return nil
}

// checkFolder refuses an output folder that someone else could use to
// redirect or read the image, as OpenSSH's StrictModes does: one owned by
// another user, or writable by group or others (whoever can write a folder
// can swap a file in it for a link, or create files the image is then
// written into). --allow-foreign-folder overrides, with a warning.
func (a *Acquisition) checkFolder(d *os.File) error {
	fi, err := d.Stat()
	if err != nil {
		return fmt.Errorf("%w: output folder: %w", ErrUsage, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: output %s is not a folder", ErrUsage, a.dir)
	}
	why := FolderProblem(fi)
	if why == "" {
		return nil
	}
	if a.o.AllowForeignFolder {
		a.note("warning", "folder", fmt.Sprintf("the output folder %s %s; used as asked (--allow-foreign-folder)", a.dir, why))
		return nil
	}
	return &refusal{
		Err: fmt.Errorf("%w: the output folder %s %s: another user could redirect or read the image", ErrUsage, a.dir, why),
		Tip: "write into a folder of your own that only you can write (e.g. mkdir -m 0750 /evidence/case-42), or pass --allow-foreign-folder if you trust everyone who can write it",
	}
}

// FolderProblem says why a folder (fi, from a Stat of its open handle) is
// not safe to write evidence into: owned by another user, or writable by
// its group or others (see checkFolder); "" when it is. The batch runner
// asks it of its own output folder too.
func FolderProblem(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return ""
	case int(st.Uid) != os.Geteuid():
		return fmt.Sprintf("is owned by uid %d, not by this user (uid %d)", st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Sprintf("is writable by %s (mode %04o)", map[bool]string{true: "others", false: "its group"}[fi.Mode().Perm()&0o002 != 0], fi.Mode().Perm())
	}
	return ""
}

func (a *Acquisition) closeRoot() {
	if a.lock != nil {
		a.lock.Close() // releases the lock
		a.lock = nil
	}
	if a.root != nil {
		a.root.Close()
		a.root = nil
	}
}

// existingRefusal refuses an output folder that already holds files of an
// image of this name.
func (a *Acquisition) existingRefusal(existing []string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: read output folder: %w", ErrUsage, err)
	}
	return &refusal{
		Err: fmt.Errorf("%w: %s already holds files of an image named %q (%s)", ErrUsage, a.dir, a.o.Name, strings.Join(existing, ", ")),
		Tip: a.existingTip(existing),
	}
}

// existingTip tells a complete image from an interrupted one: a complete
// report is done with (verify it), a journal can be resumed, and anything
// else is neither.
func (a *Acquisition) existingTip(existing []string) string {
	other := "choose another --name or a new output folder for a new acquisition"
	r, err := report.ReadIn(a.root, a.o.Name+report.JSONSuffix)
	if err == nil && r.Status == report.StatusComplete {
		return fmt.Sprintf("that acquisition is complete (its report says so): check it with 'custodian verify %s'; %s", a.dir, other)
	}
	if slices.Contains(existing, journalName(a.o.Name)) {
		return fmt.Sprintf("that acquisition was interrupted and its journal is kept: continue it with the same command plus --resume; or %s", other)
	}
	if err == nil {
		return fmt.Sprintf("that acquisition ended %s and has no journal to resume from; %s", r.Status, other)
	}
	return fmt.Sprintf("they are neither a complete acquisition (no complete report) nor a resumable one (no journal): %s", other)
}

// ErrSourceWritten: the source's write counters rose while it was imaged.
var ErrSourceWritten = errors.New("write-block failure: the source was written during the acquisition")

// ErrSourceChanged: the source's disk holds another medium (a new diskseq,
// another size) than when imaging began: the image would mix two media.
var ErrSourceChanged = errors.New("the source changed during the acquisition")

// refusal is a usage error with a hint for the user.
type refusal = format.Hinted

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
	s.FirmwareRevision, s.Transport = a.info.FirmwareRevision, a.info.Transport
	if a.info.Path != a.source {
		s.Device = a.info.Path
	}
}

// imaging is one run of the pipeline, from the journal's checkpoint (or 0)
// to the completed image files: restore, produce (read and hand on, with
// checkpoints), finish. It fills the report's hashes, segments, windows and
// unreadable list.
type imaging struct {
	a    *Acquisition
	r    *report.Report
	dev  *blockdev.Device
	j    *journal
	f    format.Format
	spec format.Spec
	plan format.Plan

	hashers []*hashStage
	windows *windowStage
	sr      *sourceReader
	w       format.Writer
	fo      *fanout
	pl      *pool
	start   int64
	// handed is the stream offset up to which blocks were handed on.
	handed int64
	// written is the stream offset up to which the writer wrote.
	written atomic.Int64

	// snap is the source disk's state when imaging began (block devices);
	// every checkpoint compares the disk with it. changed is set when the
	// medium changed under the acquisition; roCleared once the read-only
	// flag was seen cleared.
	snap      *blockdev.DiskState
	changed   error
	roCleared bool
}

// hashSet is every whole-stream hash computed: the ones asked for and the
// ones the format stores inside the image.
func hashSet(o *Options, plan format.Plan) hashing.Set {
	set := slices.Clone(o.Hashes)
	for _, h := range plan.NeedHashes {
		if !set.Contains(h) {
			set = append(set, h)
		}
	}
	slices.Sort(set)
	return set
}

func newImaging(a *Acquisition, r *report.Report, dev *blockdev.Device, j *journal, f format.Format, spec format.Spec, plan format.Plan) *imaging {
	o := &a.o
	im := &imaging{a: a, r: r, dev: dev, j: j, f: f, spec: spec, plan: plan}
	for _, alg := range hashSet(o, plan) {
		im.hashers = append(im.hashers, &hashStage{m: hashing.NewMulti(hashing.Set{alg})})
	}
	if o.HashWindow > 0 {
		im.windows = &windowStage{size: o.HashWindow, m: hashing.NewMulti(o.Hashes)}
	}
	im.sr = newSourceReader(dev, dev.Size(), dev.LogicalSectorSize(), o.Retries,
		func(level, kind, msg string, off, n int64) { a.event(level, kind, msg, off, n) })
	return im
}

// prepare opens the writer (new, or resumed from the journal) and the
// source's O_DIRECT descriptor, and on a resume checks what was kept before
// anything is written: its hashes against the journal, samples of it
// against the source. A refused resume wraps ErrUsage and changes no file.
func (im *imaging) prepare(ctx context.Context) error {
	resuming := im.j != nil
	if err := im.restore(); err != nil {
		if resuming {
			return &refusal{Err: fmt.Errorf("%w: --resume: %w", ErrUsage, err),
				Tip: "the folder holds files that do not fit its journal; nothing was changed. Start a new acquisition (another --name or folder) if the kept files cannot be trusted"}
		}
		return err
	}
	im.openDirect()
	if disk := im.a.diskName(); disk != "" {
		if st, err := blockdev.Snapshot(disk); err == nil {
			im.snap = &st
		} else {
			im.a.note("warning", "source", fmt.Sprintf("cannot read the state of %s (%v): a medium change during imaging would not be seen", disk, err))
		}
	}
	if resuming && im.j.Check != nil {
		if err := im.checkKept(ctx); err != nil {
			return err
		}
	}
	// The journal first: a folder that cannot be written (a read-only
	// filesystem, no permission) is found before anything is read, and is
	// a refusal like any other.
	if err := im.writeJournal(); err != nil {
		return &refusal{
			Err: fmt.Errorf("%w: cannot write into the output folder %s: %w", ErrUsage, im.a.dir, err),
			Tip: "choose a folder on a writable filesystem with room for the image",
		}
	}
	return nil
}

// release gives up a prepared run that will not run: the writer is
// aborted (a resumed writer that never wrote leaves every file as it was)
// and the source's O_DIRECT descriptor closed.
func (im *imaging) release() {
	if im.w != nil {
		_ = im.w.Abort() // a resumed writer that never wrote only closes its files
	}
	im.sr.close()
}

// run images the source and completes the image files.
func (im *imaging) run(ctx context.Context) error {
	a, o := im.a, &im.a.o
	a.done.Store(im.start)
	a.unreadable.Store(im.sr.bad)
	a.unreadableSectors.Store(im.sr.bad / int64(im.dev.LogicalSectorSize()))
	defer im.sr.close()

	consumers := make([]consumer, 0, len(im.hashers)+2)
	for _, h := range im.hashers {
		consumers = append(consumers, h)
	}
	if im.windows != nil {
		consumers = append(consumers, im.windows)
	}
	im.written.Store(im.start)
	consumers = append(consumers, &writeStage{w: im.w, written: &im.written})
	align := max(im.dev.PhysicalSectorSize(), im.dev.LogicalSectorSize(), 4096)
	im.pl = newPool(o.Buffers, o.ReadSize, align)
	im.fo = newFanout(ctx, consumers, o.Buffers, im.pl)
	a.phase.Store(PhaseImage)

	// The producer stops at a signal or at a failing consumer; the
	// consumers stop at a failure, or drainLimit after a signal.
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	stopOnFail := context.AfterFunc(im.fo.ctx, pcancel)
	defer stopOnFail()
	drain := time.AfterFunc(time.Hour, im.fo.cancel)
	drain.Stop()
	stopOnSignal := context.AfterFunc(ctx, func() { drain.Reset(drainLimit) })
	perr := im.produce(pctx)
	if perr != nil && (ctx.Err() != nil || errors.Is(perr, errLowSpace)) && im.fo.ctx.Err() == nil {
		im.stopCheckpoint(perr)
	}
	stopOnSignal()
	cerr := im.fo.close()
	drain.Stop() // a late one cancels a pipeline that has ended: harmless
	// A failing consumer (say, a full destination) cancels the group, so the
	// reader then sees a cancelled context: the consumer's error is the
	// cause. Only when the caller cancelled (a signal) is it an interruption.
	if perr == nil || (cerr != nil && ctx.Err() == nil && errors.Is(perr, context.Canceled)) {
		perr = cerr
	}
	im.r.Unreadable = append(im.r.Unreadable, im.sr.unreadable...)
	if perr != nil {
		im.abort()
		return perr
	}
	return im.finish()
}

// restore sets the hash states, the unreadable list, the events and the
// writer from the journal's checkpoint, or starts a new image.
func (im *imaging) restore() error {
	a, o, r := im.a, &im.a.o, im.r
	size := im.dev.Size()
	var err error
	var w format.Writer
	switch {
	case im.j != nil && im.j.Check != nil:
		c := im.j.Check
		im.start = c.Offset
		for _, h := range im.hashers {
			st, ok := c.Hashes[h.m.Set()[0].String()]
			if !ok {
				return fmt.Errorf("resume: the journal has no %s state", h.m.Set()[0])
			}
			if err := h.m.UnmarshalState(st); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
		}
		if im.windows != nil {
			if c.Windows == nil {
				return fmt.Errorf("resume: the journal has no hash-window state")
			}
			if err := im.windows.restore(*c.Windows); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
		}
		im.sr.unreadable = append(im.sr.unreadable, c.Unreadable...)
		for _, u := range c.Unreadable {
			im.sr.bad += u.Length
		}
		im.sr.restore(c, a.priorEvents())
		w, err = im.f.Resume(im.spec, c.Writer)
		a.event("info", "resume", fmt.Sprintf("resumed from the journal's checkpoint at byte %d of %d", im.start, size), im.start, -1)
	case im.j != nil:
		// Interrupted before its first checkpoint: start over, replacing
		// the partial files that run left (an empty writer state).
		w, err = im.f.Resume(im.spec, nil)
		a.event("info", "resume", "the journal has no checkpoint yet: imaging starts again from byte 0", 0, -1)
	default:
		w, err = im.f.Create(im.spec)
	}
	if err != nil {
		return err
	}
	im.w = w
	if im.j == nil {
		im.j = &journal{Version: journalVersion, Started: r.StartedAt, Source: journalSource{
			Path: a.source, Size: size, Model: r.Source.Model, Serial: r.Source.Serial, Sector: im.dev.LogicalSectorSize(),
			Continuity: readContinuity(a.diskName())}}
		im.j.Settings = journalOptions{Format: o.Format, SegmentSize: o.SegmentSize, Hashes: o.Hashes.Names(),
			SegmentHashes: o.SegmentHashes.Names(), HashWindow: o.HashWindow, Compression: o.Compression}
	}
	if im.j.Case == nil {
		c := o.Case
		im.j.Case = &c
	}
	a.j = im.j
	if im.j.Started != "" && im.j.Started != r.StartedAt {
		r.StartedAt, r.StartedAtLocal = im.j.Started, a.firstStart(im.j.Started)
	}
	return nil
}

// openDirect reads block devices through an O_DIRECT descriptor: every read
// reaches the device (no readahead that widens a failure, no page cache
// that hides one or fills with evidence), failed reads narrow to exact
// sectors, and the copy out of the device's page cache is saved (on the
// 2 GiB loop benchmark: 3.2-3.5 s instead of 4.2-5.3 s).
func (im *imaging) openDirect() {
	if im.dev.IsBlock() {
		if d, err := im.dev.Reopen(blockdev.OpenOptions{Direct: true, AllowBusy: true}); err == nil {
			im.sr.src, im.sr.precise, im.sr.direct, im.sr.closer = d, d, true, d
		} else {
			im.a.note("warning", "direct_io", fmt.Sprintf("no O_DIRECT descriptor (%v): reading through the page cache; failed reads are narrowed less exactly", err))
		}
	}
	im.r.Settings.DirectIO = im.sr.direct
}

// produce reads the source from the start offset to the end and hands each
// block to the consumers. Checkpoints come every CheckpointEvery bytes and
// at every segment boundary (a closed segment is already synced, so they
// cost little): after a full destination, a resume keeps every complete
// segment.
func (im *imaging) produce(ctx context.Context) error {
	a, o := im.a, &im.a.o
	size := im.dev.Size()
	next := im.start + o.CheckpointEvery
	seg := im.nextSegment(im.start)
	im.handed = im.start
	for off := im.start; off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := im.checkSpace(off, size-off); err != nil {
			return err
		}
		buf, err := im.pl.get(ctx)
		if err != nil {
			return err
		}
		n := int(min(int64(o.ReadSize), size-off))
		if err := im.sr.read(ctx, buf[:n], off); err != nil {
			im.pl.put(buf)
			return im.stopped(off, err)
		}
		if err := im.fo.send(&block{off: off, data: buf[:n], buf: buf}); err != nil {
			return err
		}
		a.unreadable.Store(im.sr.bad)
		a.unreadableSectors.Store(im.sr.bad / int64(im.dev.LogicalSectorSize()))
		off += int64(n)
		im.handed = off
		a.done.Store(off)
		if a.afterRead != nil {
			a.afterRead(off)
		}
		if (off >= next || off >= seg) && off < size {
			if err := im.checkpoint(off); err != nil {
				return err
			}
			next, seg = off+o.CheckpointEvery, im.nextSegment(off)
		}
	}
	// The end, recorded before anything is renamed: from here on a crash
	// resumes into Finish, whatever state the rename loop left.
	if err := im.checkpoint(size); err != nil {
		return err
	}
	im.a.crash("end")
	return nil
}

// nextSegment is the stream offset of the next segment boundary after off
// (the media size when segments are not cut at fixed media offsets).
func (im *imaging) nextSegment(off int64) int64 {
	if s := im.a.o.SegmentSize; s > 0 && im.f.Name() == "raw" {
		return (off/s + 1) * s
	}
	return im.dev.Size()
}

// checkpoint has every consumer save its state at off and replaces the
// journal with those states.
func (im *imaging) checkpoint(off int64) error {
	states, err := im.fo.checkpoint(off)
	if err != nil {
		return err
	}
	a := im.a
	c := &checkpointRec{Offset: off, Hashes: map[string]hashing.State{}, Unreadable: append([]report.Range(nil), im.sr.unreadable...)}
	for i, h := range im.hashers {
		c.Hashes[h.m.Set()[0].String()] = states[i].(hashing.State)
	}
	if im.windows != nil {
		ws := states[len(im.hashers)].(windowState)
		c.Windows = &ws
	}
	c.Writer = states[len(states)-1].(json.RawMessage)
	if err := im.checkpointed(c); err != nil {
		return err
	}
	im.j.Check = c
	im.j.Source.Continuity = readContinuity(a.diskName())
	a.cur.EndOffset = off
	if err := im.writeJournal(); err != nil {
		return err
	}
	im.watch(im.r, false)
	return im.changed
}

// watch compares the source's disk with its state when imaging began:
// another medium or size stops the acquisition (ErrSourceChanged); a
// read-only flag cleared is recorded (read_only_during false, an event);
// rising write counters are left to the final comparison, which fails the
// acquisition.
func (im *imaging) watch(r *report.Report, final bool) {
	if im.snap == nil || im.changed != nil {
		return
	}
	now, err := blockdev.Snapshot(im.snap.Disk)
	if err != nil {
		if final {
			im.a.note("warning", "source", fmt.Sprintf("cannot read the state of %s at the end (%v)", im.snap.Disk, err))
		}
		return
	}
	if now.DiskSeq != im.snap.DiskSeq || now.Size != im.snap.Size {
		im.changed = fmt.Errorf("%w: %s", ErrSourceChanged, strings.Join(im.snap.Changes(now), "; "))
		im.a.note("error", "source", im.changed.Error())
		return
	}
	if im.roCleared || !r.Source.WriteBlock.Enabled {
		return
	}
	cleared := !now.ReadOnly
	for _, p := range now.Partitions {
		cleared = cleared || !p.ReadOnly
	}
	if cleared {
		im.roCleared = true
		r.Source.ReadOnlyDuring = false
		var what []string
		for _, c := range im.snap.Changes(now) {
			if strings.Contains(c, "read-only flag") {
				what = append(what, c)
			}
		}
		im.a.note("error", "writeblock", "during the acquisition "+strings.Join(what, "; ")+": something turned the write-block off")
	}
}

// abort leaves the image files as they are, synced and partial, and records
// how far the image got.
func (im *imaging) abort() {
	werr := im.w.Abort()
	im.r.Image.Segments = im.w.Partial()
	im.r.BytesAcquired = im.j.offset()
	im.stopNote()
	im.aborted()
	if werr != nil {
		im.a.note("error", "abort", fmt.Sprintf("syncing the partial image failed: %v", werr))
	}
}

// finish completes the hashes and the image files.
func (im *imaging) finish() error {
	r, o := im.r, &im.a.o
	im.a.phase.Store(PhaseFinish)
	im.sr.conclude(false)
	for _, h := range im.hashers {
		for k, v := range h.m.Sums() {
			r.Hashes[k] = v
		}
	}
	if extra := hashing.Set(slices.DeleteFunc(slices.Clone(hashSet(o, im.plan)), o.Hashes.Contains)); len(extra) > 0 {
		im.a.note("info", "hashes", fmt.Sprintf("%s computed too, although not asked for: the %s format stores them inside the image",
			strings.Join(extra.Names(), " and "), im.f.Name()))
	}
	if im.windows != nil {
		im.windows.flush()
		r.HashWindows = im.windows.windows
	}
	im.j.FinalHashes = maps.Clone(r.Hashes)
	if err := im.writeJournal(); err != nil {
		return err
	}
	im.a.crash("final")
	segs, err := im.w.Finish(format.Summary{Hashes: maps.Clone(r.Hashes), Unreadable: slices.Clone(r.Unreadable)})
	if err != nil {
		r.Image.Segments = im.w.Partial()
		r.BytesAcquired = im.j.offset()
		return err
	}
	r.Image.Segments = segs
	r.BytesAcquired = im.dev.Size()
	if u, ok := im.w.(format.Unrecorder); ok {
		if left := u.Unrecorded(); len(left) > 0 {
			var n int64
			for _, rg := range left {
				n += rg.Length
			}
			im.a.note("warning", "format", fmt.Sprintf("%d unreadable ranges (%d bytes) lie at or beyond sector 2^32 and cannot be stored in the %s image's error list: they are listed in this report (and in NAME.map) only",
				len(left), n, im.f.Name()))
		}
	}
	return im.writeMap(im.dev.Size(), true)
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
	path := filepath.Join(a.dir, journalName(o.Name))
	if a.root == nil {
		return nil, &refusal{
			Err: fmt.Errorf("%w: --resume: no output folder %s", ErrUsage, a.dir),
			Tip: "--resume continues an interrupted acquisition in the same output folder with the same --name",
		}
	}
	switch r, err := report.ReadIn(a.root, o.Name+report.JSONSuffix); {
	case err == nil && r.Status == report.StatusComplete:
		// A crash between the complete report and the journal's removal
		// leaves the journal: custodian's own, and done with once its
		// final hashes are the report's.
		if j, jerr := readJournal(a.root, journalName(o.Name)); jerr == nil && len(j.FinalHashes) > 0 && maps.Equal(j.FinalHashes, r.Hashes) {
			_ = a.root.Remove(journalName(o.Name))
		}
		return nil, &refusal{
			Err: fmt.Errorf("%w: --resume: the acquisition in %s is already complete (%s)", ErrUsage, a.dir, o.Name+report.JSONSuffix),
			Tip: "nothing to resume; check it with: custodian verify " + a.dir,
		}
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, &refusal{
			Err: fmt.Errorf("%w: --resume: %s exists but is not a report custodian can replace: %w", ErrUsage, o.Name+report.JSONSuffix, err),
			Tip: "something else was put in its place; move it away (it is not evidence custodian wrote) and resume again",
		}
	}
	j, err := readJournal(a.root, journalName(o.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &refusal{
			Err: fmt.Errorf("%w: --resume: no journal %s", ErrUsage, path),
			Tip: "--resume continues an interrupted acquisition in the same output folder with the same --name",
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
			Err: fmt.Errorf("%w: --resume: the journal does not match this acquisition: %s", ErrUsage, strings.Join(diffs, "; ")),
			Tip: "resume with the same source and the same --format, --segment-size, --hash, --segment-hash and --hash-window as the interrupted run; if the source changed, start a new acquisition (another --name or folder)",
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
	return a.info.DiskName()
}

// checkContinuity compares the journal's last record of the source's disk
// with its state now. Same boot and same medium: the write counter must not
// have risen (a resumed image would mix two states of the evidence; that is
// returned as a reason to refuse). A block device without a record, or
// whose record cannot be compared (a restart, a re-attached medium, a new
// diskseq, counters that cannot be read), needs the proof of samples (see
// checkKept).
func (a *Acquisition) checkContinuity(j *journal) string {
	then := j.Source.Continuity
	if a.diskName() == "" {
		// A regular file: no counters; the samples are compared all the same.
		return ""
	}
	if then == nil {
		return "the journal has no record of the source's medium and write counters (written by another program, or edited): nothing proves the source unchanged"
	}
	now := readContinuity(a.diskName())
	switch {
	case now == nil:
		a.needProof, a.proofReason = true, "the source's write counters cannot be read"
	case now.BootID != then.BootID || now.DiskSeq != then.DiskSeq || now.Disk != then.Disk:
		a.needProof, a.proofReason = true, fmt.Sprintf("the machine was restarted or the medium re-attached since the interrupted run (boot %s→%s, %s diskseq %d→%d)",
			short(then.BootID), short(now.BootID), now.Disk, then.DiskSeq, now.DiskSeq)
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

// verify re-reads the written image through its format and compares its
// hashes with those computed while imaging.
func (a *Acquisition) verify(ctx context.Context, r *report.Report, f format.Format, root *os.Root) error {
	a.phase.Store(PhaseVerify)
	if a.beforeVerify != nil {
		a.beforeVerify()
	}
	set, err := hashing.ParseNames(slices.Sorted(maps.Keys(r.Hashes)))
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	files := make([]string, len(r.Image.Segments))
	for i, s := range r.Image.Segments {
		files[i] = s.File
	}
	sums, n, err := mediaSums(ctx, f, root, files, set, &a.verified)
	if errors.Is(err, context.Canceled) {
		return err
	}
	if err != nil {
		return fmt.Errorf("verify: read image: %w", err)
	}
	r.Verification.Performed = true
	r.Verification.Hashes = report.Hashes(sums)
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

// mediaSums hashes the media of a complete image with set: through the
// format's scan when it has one (each file read once, decoding on all
// cores), otherwise through its reader. progress, when not nil, counts the
// media bytes hashed.
func mediaSums(ctx context.Context, f format.Format, root *os.Root, files []string, set hashing.Set, progress *atomic.Int64) (hashing.Sums, int64, error) {
	var count io.Writer
	if progress != nil {
		count = counter{progress}
	}
	if sc, ok := f.(format.Scanner); ok {
		v := &mediaVisitor{p: hashing.NewParallel(set), count: count}
		defer v.p.Close()
		if err := sc.Scan(ctx, root, files, v); err != nil {
			return nil, v.n, err
		}
		if v.err != nil {
			return nil, v.n, v.err
		}
		return v.p.Sums(), v.n, nil
	}
	rd, err := f.Open(root, files)
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	return hashing.SumReader(ctx, io.NewSectionReader(rd, 0, rd.Size()), set, count)
}

// mediaVisitor hashes a scan's media; the first file error stops it.
type mediaVisitor struct {
	p     *hashing.Parallel
	count io.Writer
	n     int64
	err   error
}

func (v *mediaVisitor) BeginFile(int) io.Writer { return nil }
func (v *mediaVisitor) EndFile(_ int, _ int64, err error) {
	if err != nil && v.err == nil {
		v.err = err
	}
}

func (v *mediaVisitor) Media(p []byte) error {
	if v.err != nil {
		return v.err
	}
	v.p.Write(p)
	if v.count != nil {
		_, _ = v.count.Write(p) // a counter: never fails
	}
	v.n += int64(len(p))
	return nil
}

// concludeVerify records the outcome of --verify in the report (it
// replaces the complete report written before the re-read) and returns the
// run's error: the verification's, or else prev (unreadable sectors).
func (a *Acquisition) concludeVerify(r *report.Report, root *os.Root, verr, prev error) (*report.Report, error) {
	switch {
	case errors.Is(verr, context.Canceled):
		a.note("warning", "interrupted", "interrupted during verification: the image is complete but was not re-read; check it with custodian verify")
		r.Error = "interrupted (signal) during verification; the image is complete"
	case verr != nil:
		r.Error = verr.Error()
	}
	a.endRun(r, true, verr, r.Source.Size)
	a.fillHistory(r)
	r.SetFinished(a.o.Now())
	a.phase.Store(PhaseDone)
	if err := report.UpdateFilesIn(root, a.o.Name, r, a.o.Signer); err != nil {
		return r, errors.Join(verr, prev, fmt.Errorf("write report: %w", err))
	}
	if verr != nil {
		return r, verr
	}
	return r, prev
}

// conclude sets the final status, writes the report files and removes the
// journal when the image is complete. imaged says whether every byte was
// imaged and the image files were completed (whatever happened after, such
// as an interrupted or failed --verify).
func (a *Acquisition) conclude(r *report.Report, root *os.Root, imaged bool, runErr error) (*report.Report, error) {
	o := &a.o
	interrupted := errors.Is(runErr, context.Canceled)
	switch {
	case errors.Is(runErr, ErrSourceWritten), errors.Is(runErr, ErrSourceChanged):
		r.Status = report.StatusFailed
	case imaged:
		r.Status = report.StatusComplete
		if interrupted {
			a.note("warning", "interrupted", "stopped by a signal during verification: the image is complete but was not re-read; check it with custodian verify")
		}
	default:
		r.Status = report.StatusIncomplete
		if interrupted {
			a.note("warning", "interrupted", fmt.Sprintf("stopped by a signal after %d of %d bytes; the journal allows --resume", a.done.Load(), r.Source.Size))
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
	a.endRun(r, imaged, runErr, a.j.offset())
	a.fillHistory(r)
	r.SetFinished(a.o.Now())
	a.phase.Store(PhaseDone)
	if r.Status != report.StatusComplete && a.j != nil {
		// The journal keeps how this run ended, for the next run's report.
		a.j.Runs = a.keptRuns(a.j.offset())
		if err := writeJournal(root, journalName(o.Name), a.j); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if err := report.WriteFilesIn(root, o.Name, r, o.Signer); err != nil {
		return r, errors.Join(runErr, fmt.Errorf("write report: %w", err))
	}
	a.crash("report")
	if r.Status == report.StatusComplete {
		if err := root.Remove(journalName(o.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
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
