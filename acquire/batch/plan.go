package batch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/units"
	"github.com/custodian-forensics/custodian/report"
)

// SummaryName is the summary's file name in the batch's output folder.
const SummaryName = "batch-summary.json"

// Job is one acquisition of the batch, its options resolved by the caller.
type Job struct {
	// Label names the job in problems (its name, else its position).
	Label string
	// Line is the job's line in the batch file (0 if none).
	Line int
	// Source is the device or image file to acquire.
	Source string
	// Dir is the job's folder (OUTPUT/NAME).
	Dir string
	// Options are the job's acquisition options; Options.Name is the job's
	// name. Resume and OnEvent are set by the runner.
	Options acquire.Options
	// Unresolved says the caller already reported problems with the job's
	// settings: Options holds only the name, and only the checks across
	// jobs (sources, names, folders) apply, so every problem is still
	// found in one pass.
	Unresolved bool
}

// Config is a batch to validate.
type Config struct {
	// Output is the batch's folder: the summary goes there.
	Output string
	Jobs   []Job
	// Resume skips complete jobs and resumes incomplete ones.
	Resume bool
}

// Action says what the runner will do with a job.
type Action string

const (
	ActionStart  Action = "start"  // a new acquisition
	ActionResume Action = "resume" // continue from the journal
	ActionSkip   Action = "skip"   // complete already (resume)
)

// PlannedJob is a validated job.
type PlannedJob struct {
	Job
	// Info is the source's identity (for a regular file, its path and size).
	Info *blockdev.Info
	// Disk is the physical disk the source is on ("" for a regular file);
	// jobs of one disk share a chain.
	Disk string
	// Chain is the index of the job's chain in Plan.Chains.
	Chain  int
	Action Action
	// Need is the worst-case number of bytes the job still writes.
	Need int64
	// Report is the complete report of a skipped job.
	Report *report.Report
}

// Space is one destination filesystem and what the batch needs of it.
type Space struct {
	Path string   `json:"path"` // the nearest existing folder of the first job on it
	Free int64    `json:"free"` // bytes available
	Need int64    `json:"need"` // summed worst-case bytes of its jobs
	Jobs []string `json:"jobs"` // the jobs writing there
}

// Plan is a validated batch: the jobs in file order, the chains (indices
// into Jobs, each run in order, one chain per physical disk or regular
// file), and the space each destination needs.
type Plan struct {
	Output string
	// AllowForeignFolder: every job allows a folder of another user or
	// writable by others (allow-foreign-folder), so the batch's own
	// output folder may be one too.
	AllowForeignFolder bool
	Jobs               []PlannedJob
	Chains             [][]int
	Space              []Space
}

// Validate checks the whole batch (see the package doc) and returns its
// plan, or every problem found. It creates nothing and writes nothing.
func Validate(c Config) (*Plan, Problems) {
	var ps Problems
	add := func(j *Job, msg, hint string) {
		p := Problem{Msg: msg, Hint: hint}
		if j != nil {
			p.Job, p.Line = j.Label, j.Line
		}
		ps = append(ps, p)
	}
	if strings.TrimSpace(c.Output) == "" {
		add(nil, "no output folder: give 'output:' in defaults (each job writes to OUTPUT/NAME/, the summary to OUTPUT/"+SummaryName+")", "defaults:\n  output: /evidence/case-42")
	}
	plan := &Plan{Output: c.Output, AllowForeignFolder: allowForeign(c.Jobs)}
	if strings.TrimSpace(c.Output) != "" {
		if fi, err := os.Stat(c.Output); err == nil && !plan.AllowForeignFolder {
			if why := acquire.FolderProblem(fi); why != "" {
				add(nil, fmt.Sprintf("the batch's output folder %s %s: another user could replace the summary or the job folders", c.Output, why),
					"write into a folder of your own that only you can write (e.g. mkdir -m 0750 /evidence/case-42), or set 'allow-foreign-folder: true' in defaults if you trust everyone who can write it")
			}
		}
	}
	sources := map[[2]uint64]string{}
	names := map[string]string{}
	dirs := map[string]string{}
	var related []uint64
	for i := range c.Jobs {
		j := c.Jobs[i]
		pj := PlannedJob{Job: j, Action: ActionStart}
		o := j.Options // Check fills defaults: on a copy
		if err := o.Check(); err != nil && !j.Unresolved {
			add(&j, err.Error(), hintOf(err))
		}
		prev, nameDup := names[j.Options.Name]
		if nameDup {
			add(&j, fmt.Sprintf("the name %q is also %s's: each job needs its own name", j.Options.Name, prev), "give each job its own 'name:'")
		} else {
			names[j.Options.Name] = j.Label
		}
		if abs, err := filepath.Abs(j.Dir); err == nil && j.Dir != "" {
			if prev, dup := dirs[abs]; dup && !nameDup {
				add(&j, fmt.Sprintf("the output folder %s is also %s's", abs, prev), "give each job its own name or output folder")
			} else if !dup {
				dirs[abs] = j.Label
			}
		}
		switch {
		case strings.TrimSpace(j.Source) == "":
			add(&j, errNoSource.Error(), "")
		default:
			info, id, err := inspect(j.Source)
			if err != nil {
				add(&j, err.Error(), "a source is a block device (e.g. /dev/sdb; 'custodian list' shows them) or a regular image file")
				break
			}
			pj.Info = info
			pj.Disk = info.DiskName()
			if prev, dup := sources[id]; dup {
				add(&j, fmt.Sprintf("source %s is the same as %s's", j.Source, prev), "image each source once")
			} else {
				sources[id] = j.Label
			}
			related = append(related, info.RelatedDevNums()...)
			if busy := append(slices.Clone(info.Mounts), info.Holders...); len(busy) > 0 && !j.Options.AllowBusy && !j.Unresolved {
				add(&j, fmt.Sprintf("source %s is in use (%s): acquire would refuse it after other jobs began", j.Source, strings.Join(busy, ", ")),
					"unmount it (or stop what holds it), or add 'allow-busy: true' to the job to image it as it is")
			}
		}
		plan.Jobs = append(plan.Jobs, pj)
	}
	// Output folders on any job's source device.
	folders := []string{c.Output}
	for _, j := range plan.Jobs {
		folders = append(folders, j.Dir)
	}
	for i, dir := range folders {
		if strings.TrimSpace(dir) == "" {
			continue
		}
		st, existing, err := acquire.NearestFolder(dir)
		if err != nil {
			var j *Job
			if i > 0 {
				j = &plan.Jobs[i-1].Job
			}
			add(j, fmt.Sprintf("output folder %s: %v", dir, err), "")
			continue
		}
		if slices.Contains(related, st.Dev) {
			var j *Job
			what := "the batch's output folder"
			if i > 0 {
				j = &plan.Jobs[i-1].Job
				what = "its output folder"
			}
			add(j, fmt.Sprintf("%s %s is on a filesystem of a source device of this batch (%s)", what, dir, existing),
				"write the images to a disk that is not imaged: output: /path/on/another/disk")
		}
	}
	plan.chain()
	if err := plan.checkChains(); err != nil {
		add(nil, err.Error(), "")
	}
	for i := range plan.Jobs {
		if plan.Jobs[i].Dir == "" {
			continue // no output folder: reported above
		}
		if err := plan.Jobs[i].existing(c.Resume); err != nil {
			add(&plan.Jobs[i].Job, err.Error(), hintOf(err))
		}
	}
	ps = append(ps, plan.space()...)
	ps.Sort()
	if len(ps) > 0 {
		return nil, ps
	}
	return plan, nil
}

// allowForeign reports whether every job was given allow-foreign-folder
// (in practice: in defaults).
func allowForeign(jobs []Job) bool {
	for _, j := range jobs {
		if !j.Options.AllowForeignFolder {
			return false
		}
	}
	return len(jobs) > 0
}

// hinted is an error with a hint (acquire's refusals are).
type hinted interface{ Hint() string }

func hintOf(err error) string {
	var h hinted
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// inspect identifies a source: its Info, and its identity (st_rdev for a
// device, st_dev and inode for a file) for "the same source twice".
func inspect(src string) (*blockdev.Info, [2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, [2]uint64{}, fmt.Errorf("source %s does not exist", src)
		}
		return nil, [2]uint64{}, fmt.Errorf("source %s: %w", src, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK, unix.S_IFREG:
	default:
		return nil, [2]uint64{}, fmt.Errorf("source %s is not a block device or regular file", src)
	}
	info, err := blockdev.Inspect(src)
	if err != nil {
		return nil, [2]uint64{}, fmt.Errorf("source %s: %w", src, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return info, [2]uint64{0, st.Rdev}, nil
	}
	return info, [2]uint64{st.Dev, st.Ino}, nil
}

// chain groups the jobs: one chain per physical disk (every job of a disk,
// in file order), one per regular file; chains ordered by first job.
func (p *Plan) chain() {
	byDisk := map[string]int{}
	p.Chains = nil
	for i := range p.Jobs {
		j := &p.Jobs[i]
		if j.Disk != "" {
			if c, ok := byDisk[j.Disk]; ok {
				j.Chain = c
				p.Chains[c] = append(p.Chains[c], i)
				continue
			}
			byDisk[j.Disk] = len(p.Chains)
		}
		j.Chain = len(p.Chains)
		p.Chains = append(p.Chains, []int{i})
	}
}

// checkChains confirms the plan never runs two jobs of one disk at once:
// every job of a disk is in that disk's one chain.
func (p *Plan) checkChains() error {
	chainOf := map[string]int{}
	for i, ch := range p.Chains {
		for _, k := range ch {
			d := p.Jobs[k].Disk
			if d == "" {
				continue
			}
			if c, ok := chainOf[d]; ok && c != i {
				return fmt.Errorf("internal error: jobs of disk %s are in chains %d and %d", d, c, i)
			}
			chainOf[d] = i
		}
	}
	return nil
}

// existing decides the job's action from its folder: without resume, a
// folder holding any of the job's files is refused (acquire would refuse
// it after other jobs began); with resume, a complete report skips the
// job, a journal resumes it, and anything else starts it anew.
func (j *PlannedJob) existing(resume bool) error {
	root, err := os.OpenRoot(j.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		j.Need = j.size()
		return nil
	}
	if err != nil {
		return fmt.Errorf("open output folder %s: %w", j.Dir, err)
	}
	defer root.Close()
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	name := j.Options.Name
	var mine []string
	var kept int64
	for _, n := range names {
		if strings.HasPrefix(n, name+".") {
			mine = append(mine, n)
			if fi, err := root.Lstat(n); err == nil && fi.Mode().IsRegular() {
				kept += fi.Size()
			}
		}
	}
	slices.Sort(mine)
	if !resume {
		j.Need = j.size()
		if len(mine) > 0 {
			return &format.Hinted{Err: fmt.Errorf("the folder %s already holds %s (an earlier run of this job)", j.Dir, strings.Join(mine, ", ")),
				Tip: "run the same batch with --resume: complete jobs are skipped, interrupted ones continue"}
		}
		return nil
	}
	// A complete report is written last: a journal beside it is one a
	// crash left before removing it (acquire --resume refuses such a
	// folder as already complete).
	if r, err := report.ReadIn(root, name+report.JSONSuffix); err == nil && r.Status == report.StatusComplete {
		j.Action, j.Report = ActionSkip, r
		return nil
	}
	if _, err := root.Lstat(name + ".journal"); err == nil {
		j.Action = ActionResume
		j.Need = max(0, j.size()-kept)
		return nil
	}
	j.Need = j.size()
	if len(mine) > 0 {
		return &format.Hinted{Err: fmt.Errorf("the folder %s holds %s but no journal to resume from", j.Dir, strings.Join(mine, ", ")),
			Tip: "the run was stopped before its first checkpoint: look at the files (the report says how far it got), then move them away and run the batch again with --resume"}
	}
	return nil
}

// size is the job's worst-case output: the whole source (raw; EWF of data
// that does not compress), plus the report, journal and map.
func (j *PlannedJob) size() int64 {
	if j.Info == nil {
		return 0
	}
	return j.Info.Size + j.Info.Size/1000 + 1<<20
}

// space sums the jobs' needs per destination filesystem (jobs with force
// are left out, as acquire --force skips its own check) and refuses any
// filesystem whose free space is smaller.
func (p *Plan) space() Problems {
	byDev := map[uint64]int{}
	p.Space = []Space{}
	for _, j := range p.Jobs {
		if j.Action == ActionSkip || j.Options.Force || j.Info == nil || j.Dir == "" {
			continue
		}
		st, existing, err := acquire.NearestFolder(j.Dir)
		if err != nil {
			continue // reported already
		}
		k, ok := byDev[st.Dev]
		if !ok {
			free, err := acquire.FreeSpace(existing)
			if err != nil {
				continue // unknown: nothing to refuse on
			}
			k = len(p.Space)
			byDev[st.Dev] = k
			p.Space = append(p.Space, Space{Path: existing, Free: free})
		}
		p.Space[k].Need += j.Need
		p.Space[k].Jobs = append(p.Space[k].Jobs, j.Options.Name)
	}
	var ps Problems
	for _, s := range p.Space {
		if s.Need > s.Free {
			ps = append(ps, Problem{
				Msg: fmt.Sprintf("the destination %s has %s free; its jobs (%s) need up to %s together",
					s.Path, units.FormatSize(s.Free), strings.Join(s.Jobs, ", "), units.FormatSize(s.Need)),
				Hint: "free space, move some jobs to another disk (output: in the job), or add 'force: true' to jobs that may be tried anyway",
			})
		}
	}
	return ps
}
