package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/report"
)

// SummarySchema names the summary's format.
const SummarySchema = "custodian/batch-summary/v1"

// Job states, for progress and the summary.
const (
	StateWaiting    = "waiting"     // not begun yet
	StateRunning    = "running"     // acquiring
	StateDone       = "done"        // ended (see its result)
	StateSkipped    = "skipped"     // complete already (resume)
	StateNotStarted = "not started" // the batch was interrupted first
)

// RunOptions say how to run a plan.
type RunOptions struct {
	// Parallel is how many chains run at once (at least 1).
	Parallel int
	// OnStart, OnEnd and OnEvent are called from the job's goroutine
	// (several jobs call them concurrently); they must not block for long.
	// Any may be nil. OnStart is called for the jobs that run, just before
	// their acquisition begins; OnEnd for every job, also skipped and not
	// started ones.
	OnStart func(job string)
	OnEnd   func(res JobResult)
	OnEvent func(job string, e report.Event)
	// Now is the clock (for tests); nil means time.Now.
	Now func() time.Time
}

// JobProgress is a snapshot of one job.
type JobProgress struct {
	Name   string
	Source string
	State  string
	acquire.Progress
}

// SourceIdentity is what the summary says of a job's source.
type SourceIdentity struct {
	Path   string `json:"path"`
	Model  string `json:"model"`
	Serial string `json:"serial"`
	Size   int64  `json:"size"`
}

// JobResult is one job's line of the summary.
type JobResult struct {
	Name   string         `json:"name"`
	Source SourceIdentity `json:"source"`
	Folder string         `json:"folder"`
	// Disk is the physical disk of the job's chain ("" for an image file).
	Disk   string `json:"disk"`
	Action Action `json:"action"`
	// Status is the report's status (complete, incomplete, failed), or
	// "not started" (interrupted before) or "refused" (the acquisition
	// refused to begin: nothing written).
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	// Hint says what to do about Error, when the acquisition knew.
	Hint            string        `json:"hint,omitempty"`
	Hashes          report.Hashes `json:"hashes"`
	UnreadableBytes int64         `json:"unreadable_bytes"`
	Verified        *bool         `json:"verified,omitempty"`
	Report          string        `json:"report"`
	StartedAt       string        `json:"started_at,omitempty"`
	FinishedAt      string        `json:"finished_at,omitempty"`
	DurationSeconds float64       `json:"duration_seconds"`
}

// Summary is OUTPUT/batch-summary.json.
type Summary struct {
	Schema     string      `json:"schema"`
	Output     string      `json:"output"`
	Parallel   int         `json:"parallel"`
	StartedAt  string      `json:"started_at"`
	FinishedAt string      `json:"finished_at,omitempty"`
	Finished   bool        `json:"finished"`
	ExitCode   int         `json:"exit_code"`
	Jobs       []JobResult `json:"jobs"`
}

// Batch runs a plan. Create it with New; poll Progress from any goroutine
// while Run works.
type Batch struct {
	plan *Plan
	o    RunOptions

	jobs []*jobState

	mu      sync.Mutex // guards summary and the summary file
	summary Summary
	root    *os.Root
}

type jobState struct {
	pj    *PlannedJob
	state atomic.Value // string
	acq   atomic.Pointer[acquire.Acquisition]
}

// New prepares a run of plan.
func New(plan *Plan, o RunOptions) *Batch {
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Batch{plan: plan, o: o}
	b.summary = Summary{Schema: SummarySchema, Output: plan.Output, Parallel: o.Parallel, Jobs: make([]JobResult, len(plan.Jobs))}
	for i := range plan.Jobs {
		pj := &plan.Jobs[i]
		js := &jobState{pj: pj}
		js.state.Store(StateWaiting)
		b.jobs = append(b.jobs, js)
		b.summary.Jobs[i] = JobResult{Name: pj.Options.Name, Source: identity(pj), Folder: pj.Dir, Disk: pj.Disk,
			Action: pj.Action, Status: StateWaiting, Hashes: report.Hashes{}}
	}
	return b
}

func identity(pj *PlannedJob) SourceIdentity {
	id := SourceIdentity{Path: pj.Source}
	if pj.Info != nil {
		id.Model, id.Serial, id.Size = pj.Info.Model, pj.Info.Serial, pj.Info.Size
	}
	return id
}

// Progress returns a snapshot of every job, in plan order.
func (b *Batch) Progress() []JobProgress {
	out := make([]JobProgress, len(b.jobs))
	for i, js := range b.jobs {
		out[i] = JobProgress{Name: js.pj.Options.Name, Source: js.pj.Source, State: js.state.Load().(string)}
		if a := js.acq.Load(); a != nil {
			out[i].Progress = a.Progress()
		}
	}
	return out
}

func (b *Batch) stamp() string { return b.o.Now().UTC().Format(time.RFC3339Nano) }

// Run runs every chain, up to Parallel at a time, and returns the summary
// (also written to OUTPUT/batch-summary.json). Its error is about the
// batch itself (the output folder or the summary file); the jobs'
// outcomes are in the summary. Cancelling ctx stops the running jobs
// resumably and starts no more.
func (b *Batch) Run(ctx context.Context) (*Summary, error) {
	if err := os.MkdirAll(b.plan.Output, 0o750); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	root, err := os.OpenRoot(b.plan.Output)
	if err != nil {
		return nil, fmt.Errorf("open output folder: %w", err)
	}
	defer root.Close()
	// Validate checked the folder if it existed; this checks the folder
	// now open (created, or swapped since), through its handle.
	if fi, err := root.Stat("."); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	} else if why := acquire.FolderProblem(fi); why != "" && !b.plan.AllowForeignFolder {
		return nil, fmt.Errorf("%w: the batch's output folder %s %s: another user could replace the summary or the job folders", acquire.ErrUsage, b.plan.Output, why)
	}
	b.mu.Lock()
	b.root = root
	b.summary.StartedAt = b.stamp()
	err = b.writeSummaryLocked()
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}

	chains := make(chan []int)
	var wg sync.WaitGroup
	for range min(b.o.Parallel, len(b.plan.Chains)) {
		wg.Go(func() {
			for ch := range chains {
				for _, k := range ch {
					b.runJob(ctx, k)
				}
			}
		})
	}
	for _, ch := range b.plan.Chains {
		chains <- ch // every chain is handed out: a cancelled one records "not started"
	}
	close(chains)
	wg.Wait()

	b.mu.Lock()
	defer b.mu.Unlock()
	codes := make([]int, len(b.summary.Jobs))
	for i, r := range b.summary.Jobs {
		codes[i] = r.ExitCode
	}
	b.summary.ExitCode = exitcode.Worst(codes...)
	b.summary.FinishedAt = b.stamp()
	b.summary.Finished = ctx.Err() == nil
	s := b.summary
	s.Jobs = append([]JobResult(nil), b.summary.Jobs...)
	return &s, b.writeSummaryLocked()
}

// runJob runs (or skips) job k and records its result.
func (b *Batch) runJob(ctx context.Context, k int) {
	js := b.jobs[k]
	pj := js.pj
	res := b.result(k)
	switch {
	case pj.Action == ActionSkip:
		js.state.Store(StateSkipped)
		fromReport(&res, pj.Report, filepath.Join(pj.Dir, pj.Options.Name+".report.json"))
		res.ExitCode = reportExit(pj.Report)
		b.finish(k, res)
		return
	case ctx.Err() != nil:
		js.state.Store(StateNotStarted)
		res.Status, res.ExitCode, res.Error = StateNotStarted, exitcode.Failure, "interrupted before it began"
		b.finish(k, res)
		return
	}
	opts := pj.Options
	opts.Resume = pj.Action == ActionResume
	name := opts.Name
	if b.o.OnEvent != nil {
		opts.OnEvent = func(e report.Event) { b.o.OnEvent(name, e) }
	}
	a := acquire.New(pj.Source, pj.Dir, opts)
	js.acq.Store(a)
	js.state.Store(StateRunning)
	t0 := b.o.Now()
	res.StartedAt = t0.UTC().Format(time.RFC3339Nano)
	b.mu.Lock()
	b.summary.Jobs[k] = res
	b.mu.Unlock()
	if b.o.OnStart != nil {
		b.o.OnStart(name)
	}
	r, err := a.Run(ctx)
	t1 := b.o.Now()
	js.state.Store(StateDone)
	res.FinishedAt = t1.UTC().Format(time.RFC3339Nano)
	res.DurationSeconds = t1.Sub(t0).Seconds()
	res.ExitCode = exitcode.Of(err)
	if err != nil {
		res.Error, res.Hint = err.Error(), hintOf(err)
	}
	if r == nil {
		res.Status = "refused"
		if !errors.Is(err, acquire.ErrUsage) {
			res.Status = string(report.StatusFailed)
		}
	} else {
		reportPath := ""
		if root, oerr := os.OpenRoot(pj.Dir); oerr == nil {
			if _, serr := root.Lstat(name + ".report.json"); serr == nil {
				reportPath = filepath.Join(pj.Dir, name+".report.json")
			}
			root.Close()
		}
		fromReport(&res, r, reportPath)
	}
	b.finish(k, res)
}

func (b *Batch) result(k int) JobResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.summary.Jobs[k]
}

// finish records a job's result, tells OnEnd and rewrites the summary.
func (b *Batch) finish(k int, res JobResult) {
	b.mu.Lock()
	b.summary.Jobs[k] = res
	_ = b.writeSummaryLocked() // Run's final write reports a failure
	b.mu.Unlock()
	if b.o.OnEnd != nil {
		b.o.OnEnd(res)
	}
}

// fromReport fills a result from the job's report.
func fromReport(res *JobResult, r *report.Report, path string) {
	res.Status = string(r.Status)
	res.Hashes = r.Hashes
	if res.Hashes == nil {
		res.Hashes = report.Hashes{}
	}
	res.UnreadableBytes = 0
	for _, u := range r.Unreadable {
		res.UnreadableBytes += u.Length
	}
	if r.Verification.Performed {
		v := r.Verification.Matched
		res.Verified = &v
	}
	res.Report = path
	if res.Source.Model == "" && res.Source.Serial == "" {
		res.Source.Model, res.Source.Serial = r.Source.Model, r.Source.Serial
	}
	if res.StartedAt == "" {
		res.StartedAt, res.FinishedAt = r.StartedAt, r.FinishedAt
	}
}

// reportExit is the exit status a complete report stands for.
func reportExit(r *report.Report) int {
	switch {
	case r.Verification.Performed && !r.Verification.Matched:
		return exitcode.Mismatch
	case len(r.Unreadable) > 0:
		return exitcode.Unreadable
	}
	return exitcode.OK
}

// writeSummaryLocked replaces the summary file atomically. b.mu is held.
func (b *Batch) writeSummaryLocked() error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // a "&" in a name stays "&"
	enc.SetIndent("", "  ")
	if err := enc.Encode(b.summary); err != nil {
		return err
	}
	if err := atomicfile.WriteFileIn(b.root, SummaryName, buf.Bytes(), 0o640); err != nil {
		return fmt.Errorf("write the batch summary: %w", err)
	}
	return nil
}
