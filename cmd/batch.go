package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/acquire/batch"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/internal/units"
	"github.com/custodian-forensics/custodian/report"
)

// DefaultJobs is batch's default --jobs (see the README's measurements:
// two disks at once already beat one after another by most when each
// disk's read speed is the limit, and more only share the same cores when
// hashing is).
const DefaultJobs = 2

// batchOptions are the batch command's flags.
type batchOptions struct {
	jobs                 int
	dryRun, resume, json bool
}

// batchOnlyKeys are acquire flags that belong to the batch command line,
// not to a job.
var batchOnlyKeys = map[string]string{
	"resume": "custodian batch FILE --resume (resumes every incomplete job, skips complete ones)",
	"json":   "custodian batch FILE --json",
	"help":   "custodian batch --help",
}

// listKeys are the keys whose value may be a YAML list (their flags take
// comma-separated lists).
var listKeys = map[string]bool{"hash": true, "segment-hash": true}

func newBatchCommand(g *globalOptions) *cobra.Command {
	o := &batchOptions{}
	c := &cobra.Command{
		Use:   "batch FILE.yaml [--jobs N] [--dry-run] [--resume] [--json]",
		Short: "Run several acquisitions from one YAML file, concurrently, one disk at a time each",
		Long: `Run the acquisitions described in FILE.yaml as one job.

The file has 'defaults' (acquire flags for every job) and 'jobs' (a list, each
with a source and its own flags). Keys are the acquire flags' long names (an
underscore counts as a dash: case_number is case-number); a value means
exactly what the flag means on the command line, lists (hash) as YAML lists:

  defaults:
    output: /evidence/case-42      # each job writes to OUTPUT/NAME/
    format: ewf
    hash: [md5, sha1, sha256]
    examiner: J. Doe
    case_number: "2026-042"
  jobs:
    - source: /dev/sdb
      name: laptop-ssd
      evidence_number: EV-01
    - source: /dev/sdc
      name: usb-stick
      evidence_number: EV-02
      format: raw                  # per-job override

The whole file is checked before anything starts, and every problem is listed
at once (exit 2, nothing written). Jobs run concurrently, up to --jobs at a
time; jobs on the same physical disk (a disk and its partitions) run one after
another, never at once. Each job is an ordinary acquisition: its folder holds
what 'custodian acquire' writes. A failing job does not stop the others.
Ctrl-C stops every job resumably; --resume then resumes the incomplete jobs
and skips the complete ones. OUTPUT/batch-summary.json lists every job's
result; the exit status is the worst of the jobs' (4 > 1 > 2 > 3 > 0).

` + exitStatusHelp,
		Example: `  custodian batch case-42.yaml --dry-run
  custodian batch case-42.yaml --jobs 2
  custodian batch case-42.yaml --resume --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBatch(cmd, g, o, args[0])
		},
	}
	f := c.Flags()
	f.IntVar(&o.jobs, "jobs", DefaultJobs, "acquisitions at once (jobs of one physical disk always run one after another)")
	f.BoolVar(&o.dryRun, "dry-run", false, "check the file and print the plan (jobs, order, chains per disk, folders, space); write nothing")
	f.BoolVar(&o.resume, "resume", false, "resume every incomplete job, skip the complete ones")
	f.BoolVar(&o.json, "json", false, "JSON lines (schema custodian/batch/v1) on stdout, each tagged with its job; human text on stderr")
	return c
}

func runBatch(cmd *cobra.Command, g *globalOptions, o *batchOptions, file string) error {
	if o.jobs < 1 {
		return usageError(fmt.Errorf("--jobs must be at least 1, got %d", o.jobs),
			fmt.Sprintf("--jobs 1 runs the jobs one after another; the default is %d", DefaultJobs))
	}
	data, err := readBatchFile(file)
	if err != nil {
		return err
	}
	bf, problems := batch.Parse(data)
	var plan *batch.Plan
	if bf != nil && len(bf.Jobs) > 0 {
		// Every problem at once: the jobs' settings, then the checks
		// across jobs (also of jobs whose settings had problems).
		cfg, more := batchConfig(g, bf, file)
		problems = append(problems, more...)
		cfg.Resume = o.resume
		plan, more = batch.Validate(cfg)
		problems = append(problems, more...)
	}
	if len(problems) > 0 {
		problems.Sort()
		printProblems(g.stderr, file, problems)
		return silent(ExitUsage, problems)
	}
	out := newBatchOutput(g, o.json)
	if o.dryRun {
		out.plan(plan, o.jobs, o.json)
		return nil
	}
	b := batch.New(plan, batch.RunOptions{Parallel: o.jobs, OnStart: out.jobStart, OnEnd: out.jobEnd, OnEvent: out.event})
	stop := out.start(b.Progress)
	sum, runErr := b.Run(cmd.Context())
	stop()
	if sum == nil {
		return runErr
	}
	out.summary(sum, filepath.Join(plan.Output, batch.SummaryName))
	if runErr != nil {
		return withCode(exitcode.Worst(sum.ExitCode, ExitFailure), runErr, "the jobs' own folders hold their reports")
	}
	if sum.ExitCode == ExitOK {
		return nil
	}
	failed := 0
	for _, j := range sum.Jobs {
		if j.ExitCode != ExitOK {
			failed++
		}
	}
	msg := fmt.Errorf("%d of %d job(s) did not end with exit status 0 (see the table above)", failed, len(sum.Jobs))
	if !sum.Finished {
		msg = fmt.Errorf("interrupted: %d of %d job(s) are not complete", failed, len(sum.Jobs))
	}
	var hints []string
	for _, j := range sum.Jobs {
		if j.Status != string(report.StatusComplete) && j.Status != "refused" {
			hints = append(hints, fmt.Sprintf("continue with: custodian %s --resume (complete jobs are skipped)", strings.Join(withoutFlag(g.args, "--resume"), " ")))
			break
		}
	}
	return withCode(sum.ExitCode, msg, hints...)
}

// withoutFlag returns args without flag (so a hint can add it once).
func withoutFlag(args []string, flag string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == flag })
}

// readBatchFile reads FILE, bounded.
func readBatchFile(file string) ([]byte, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, usageError(fmt.Errorf("read the batch file: %w", err),
			"give the YAML file that lists the jobs; 'custodian batch --help' shows its format")
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, batch.MaxFileSize+1))
	if err != nil {
		return nil, usageError(fmt.Errorf("read the batch file: %w", err))
	}
	return data, nil
}

// batchConfig turns every job's settings into acquire.Options through the
// acquire command's own flag set: pflag's Set, the same parser and the
// same meaning as on the command line.
func batchConfig(g *globalOptions, bf *batch.File, file string) (batch.Config, batch.Problems) {
	var cfg batch.Config
	var ps batch.Problems
	reported := map[string]bool{} // problems of the defaults, once
	problem := func(s *batch.Setting, job, msg, hint string) {
		p := batch.Problem{Job: job, Msg: msg, Hint: hint}
		if s != nil {
			p.Line = s.Line
			if s.InDefaults {
				p.Job = ""
				p.Msg = "defaults: " + msg
				if reported[p.String()] {
					return
				}
				reported[p.String()] = true
			}
		}
		ps = append(ps, p)
	}
	for _, s := range bf.Defaults {
		if s.Flag == "source" {
			problem(&s, "", "source belongs in a job, not in the defaults", "jobs:\n  - source: /dev/sdb")
		}
		if s.Flag == "output" && !s.List {
			cfg.Output = s.Value()
		}
	}
	signers := map[string]report.Signer{}
	for i, spec := range bf.Jobs {
		label := bf.Label(i)
		c, o := acquireCommand(g)
		f := c.Flags()
		var names []string
		f.VisitAll(func(fl *pflag.Flag) { names = append(names, fl.Name) })
		names = append(names, "source")
		jg := *g
		jg.origins = map[string]string{}
		source := ""
		bad := false
		for _, s := range bf.Merged(i) {
			if s.Flag == "source" {
				if s.InDefaults {
					continue
				}
				if s.List {
					problem(&s, label, `"source" takes one path, not a list`, "one job per source")
					bad = true
				}
				source = s.Value()
				continue
			}
			if how, ok := batchOnlyKeys[s.Flag]; ok {
				problem(&s, label, fmt.Sprintf("%q is a flag of the batch command, not of a job", s.Key), how)
				bad = true
				continue
			}
			fl := f.Lookup(s.Flag)
			if fl == nil {
				problem(&s, label, fmt.Sprintf("unknown key %q", s.Key), didYouMean(s.Key, names, "keys are acquire's long flag names (custodian acquire --help); remove it"))
				bad = true
				continue
			}
			if s.List && !listKeys[s.Flag] {
				problem(&s, label, fmt.Sprintf("wrong type: %q takes one value, not a list", s.Key), "")
				bad = true
				continue
			}
			if err := f.Set(s.Flag, s.Value()); err != nil {
				problem(&s, label, fmt.Sprintf("wrong type or value for %q (%s): %q: %v", s.Key, fl.Value.Type(), s.Value(), err), "the value means what --"+s.Flag+" takes on the command line")
				bad = true
				continue
			}
			where := "job " + label
			if s.InDefaults {
				where = "defaults"
			}
			jg.origins[s.Flag] = fmt.Sprintf("batch %s line %d (%s)", file, s.Line, where)
		}
		if source == "" {
			ps = append(ps, batch.Problem{Job: label, Line: spec.Line, Msg: "no source: every job needs 'source:' (a block device or an image file)"})
			bad = true
		}
		name := o.name
		if name == "" && source != "" {
			name = acquire.DefaultName(source) // as acquire derives it
			o.name = name
		}
		dir := ""
		if strings.TrimSpace(o.output) != "" {
			dir = filepath.Join(o.output, name)
		}
		o.output = dir
		if dir == "" {
			o.output = "." // the missing output is the batch's problem, reported once by Validate
		}
		job := batch.Job{Label: label, Line: spec.Line, Source: source, Dir: dir, Options: acquire.Options{Name: name}, Unresolved: bad}
		if !bad {
			opts, err := o.acquisition(&jg, f, source, signers)
			if err != nil {
				ps = append(ps, batch.Problem{Job: label, Line: spec.Line, Msg: err.Error(), Hint: strings.Join(hintsOf(err), "; ")})
				job.Unresolved = true
			} else {
				job.Options = opts
			}
		}
		cfg.Jobs = append(cfg.Jobs, job)
	}
	return cfg, ps
}

// printProblems lists every problem of a batch, each with its hint.
func printProblems(w io.Writer, file string, ps batch.Problems) {
	fmt.Fprintf(w, "custodian: error: %s: %d problem(s); nothing was started or written\n", file, len(ps))
	for _, p := range ps {
		lines := strings.Split(p.String(), "\n")
		fmt.Fprintf(w, "custodian:   %s\n", lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "custodian:     %s\n", l)
		}
		if p.Hint != "" {
			for i, l := range strings.Split(p.Hint, "\n") {
				if i == 0 {
					fmt.Fprintf(w, "custodian:     hint: %s\n", l)
				} else {
					fmt.Fprintf(w, "custodian:           %s\n", l)
				}
			}
		}
	}
}

// formatSize is a size for the plan and the table.
func formatSize(n int64) string { return units.FormatSize(n) }
