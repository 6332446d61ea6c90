package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/report"
)

// acquireOptions are the acquire command's flags.
type acquireOptions struct {
	output, name, format, compress, segmentHash string
	segmentSize, hashWindow, readSize, ckpt     sizeValue
	hashes                                      hashing.Set
	buffers, retries                            int
	caseInfo                                    report.Case
	signKey, stateDir                           string
	verify, resume, noWriteBlock, restoreWB     bool
	allowBusy, force, json, allowForeign        bool
}

func newAcquireCommand(g *globalOptions) *cobra.Command {
	c, _ := acquireCommand(g)
	return c
}

// acquireCommand builds the acquire command and returns its options too:
// batch parses each job through this same flag set.
func acquireCommand(g *globalOptions) (*cobra.Command, *acquireOptions) {
	o := &acquireOptions{
		segmentSize: 2 << 30, readSize: acquire.DefaultReadSize, ckpt: acquire.DefaultCheckpoint,
		hashes: hashing.Set{hashing.MD5, hashing.SHA1, hashing.SHA256},
	}
	c := &cobra.Command{
		Use:   "acquire SOURCE -o DIR [flags]",
		Short: "Image a device or file into segmented raw or EWF-E01 files with hashes and a report",
		Long: `Image SOURCE (a block device or a regular file) into DIR, read-only.

The source is set read-only (BLKROSET) on the disk and all its partitions and
confirmed before the first read; the block layer's write counters prove that
nothing was written meanwhile, and every checkpoint re-checks the disk's
medium and read-only flags. The protection is recorded in --state-dir, so
'custodian writeblock status' shows afterwards whether anything wrote to
the source since. The stream is read once; every selected hash is
computed over it in parallel; the image is written as NAME.001, NAME.002, …
(--format raw) or NAME.E01, NAME.E02, … (--format ewf), named *.partial until
the acquisition is complete and synced. Failed reads are re-read in 64 KiB
clusters and scraped sector by sector; unreadable sectors are zero-filled and
listed. Ctrl-C, SIGTERM and a destination about to fill up stop with a
checkpoint where reading stopped. An interrupted or crashed acquisition
(Ctrl-C, full disk, SIGKILL) resumes with --resume, which first proves that
what was kept came from this source; the report lists every run.

Outputs in DIR: the segments, NAME.report.json (+ .sig when signed),
NAME.report.txt, NAME.map (a GNU ddrescue mapfile), and NAME.journal while
incomplete. An existing DIR must be this user's and not writable by others.

Before imaging a header names the source, its write-block, the destination
and its free space, the format and the hashes; afterwards a closing block
gives the duration, the average speed, what the exit status means, the
report paths and the command that verifies the evidence. Without --json
these go to stdout and the progress to stderr: a bar on a terminal, else a
plain line every 5 % or 10 s. With --json, stdout has JSON lines only
({"schema":"custodian/acquire/v1","type":"progress"|"event"|"result",…})
and all human text goes to stderr.

` + exitStatusHelp,
		Example: `  custodian acquire /dev/sdb -o /evidence/case-42 --case-number 2026-042 --examiner "J. Doe"
  custodian acquire testdata/sample.img -o /tmp/out --hash md5,sha256 --segment-size 2MiB --verify
  custodian acquire /dev/sdc -o /evidence/usb --sign-key ~/.ssh/custodian_ed25519 --json`,
		Args:        exactArgs(1, "one SOURCE (a block device or an image file)"),
		Annotations: map[string]string{configAnnotation: "flags"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAcquire(cmd.Context(), g, o, cmd, args[0])
		},
	}
	f := c.Flags()
	f.StringVarP(&o.output, "output", "o", "", "evidence folder for the image and report (created if missing)")
	f.StringVar(&o.name, "name", "", "base name of the image files (default: from the source, e.g. sdb)")
	f.StringVar(&o.format, "format", "raw", "image format: raw (NAME.001, NAME.002, …) or ewf (EWF-E01: NAME.E01, NAME.E02, …, with the case fields, MD5 and SHA-1 inside)")
	f.Var(&o.segmentSize, "segment-size", "largest image file, e.g. 2GiB, 640MB; 0 = one file (default 2GiB raw, 1500MiB ewf)")
	f.Var(&hashList{set: &o.hashes}, "hash", "hashes of the whole image: md5, sha1, sha256, sha512 (comma-separated, or the flag repeated)")
	f.StringVar(&o.segmentHash, "segment-hash", "auto", "hashes of each segment file (comma-separated), 'none', or 'auto' (sha256 if selected, else the first of --hash)")
	f.Var(&o.hashWindow, "hash-window", "also hash every SIZE bytes piecewise (listed in the report); 0 = off")
	f.StringVar(&o.compress, "compress", "", "EWF compression: none, empty (only constant chunks), fast (default), best")
	f.StringVar(&o.caseInfo.CaseNumber, "case-number", "", "case number (chain of custody)")
	f.StringVar(&o.caseInfo.EvidenceNumber, "evidence-number", "", "evidence number")
	f.StringVar(&o.caseInfo.Examiner, "examiner", "", "examiner's name")
	f.StringVar(&o.caseInfo.Description, "description", "", "description of the evidence")
	f.StringVar(&o.caseInfo.Notes, "notes", "", "notes")
	f.StringVar(&o.signKey, "sign-key", "", "sign the report with this OpenSSH Ed25519 key file, or agent:FINGERPRINT")
	f.BoolVar(&o.verify, "verify", false, "re-read the written image afterwards and compare every hash")
	f.BoolVar(&o.resume, "resume", false, "continue an interrupted acquisition in DIR from its journal (which keeps the case fields and the history of runs)")
	f.IntVar(&o.retries, "retries", acquire.DefaultRetries, "extra reads of a failed sector in a partly readable 64 KiB cluster (sectors of fully unreadable clusters are read once, as ddrescue -d does)")
	f.BoolVar(&o.noWriteBlock, "no-writeblock", false, "do not set the source read-only first (the write counters are still checked)")
	f.BoolVar(&o.restoreWB, "restore-writeblock", false, "after imaging, put back the source's previous read-only state")
	f.StringVar(&o.stateDir, "state-dir", blockdev.DefaultStateDir, "where the write-block record of the source's disk is left for 'writeblock status' (as writeblock's --state-dir)")
	f.BoolVar(&o.allowBusy, "allow-busy", false, "image a source that is mounted or held by another driver")
	f.BoolVar(&o.force, "force", false, "proceed although the destination looks too small")
	f.BoolVar(&o.allowForeign, "allow-foreign-folder", false, "write into an existing output folder owned by another user or writable by others (refused by default)")
	f.BoolVar(&o.json, "json", false, "JSON progress lines and a final JSON result on stdout; human text on stderr")
	f.Var(&o.readSize, "read-size", "bytes per read (advanced)")
	f.Var(&o.ckpt, "checkpoint-every", "save resume state every SIZE imaged, and at every segment end (each costs one fsync)")
	f.IntVar(&o.buffers, "buffers", acquire.DefaultBuffers, "read buffers in flight; memory is buffers × read size (advanced)")
	c.MarkFlagRequired("output")
	return c, o
}

// segmentHashes resolves --segment-hash against the selected hashes.
func segmentHashes(spec string, hashes hashing.Set) (hashing.Set, error) {
	switch strings.ToLower(spec) {
	case "none", "":
		return hashing.Set{}, nil
	case "auto":
		if hashes.Contains(hashing.SHA256) {
			return hashing.Set{hashing.SHA256}, nil
		}
		return hashing.Set{hashes[0]}, nil
	}
	return hashing.ParseSet(spec)
}

func runAcquire(ctx context.Context, g *globalOptions, o *acquireOptions, cmd *cobra.Command, source string) error {
	if err := promptCase(g, o, cmd.Flags()); err != nil {
		return err
	}
	opts, err := o.acquisition(g, cmd.Flags(), source, nil)
	if err != nil {
		return err
	}
	name := opts.Name
	out := newProgressOutput(g, o.json)
	opts.OnEvent = out.event
	opts.OnStart = out.begin
	a := acquire.New(source, o.output, opts)
	stop := out.start(a.Progress)
	r, runErr := a.Run(ctx)
	stop()
	if r == nil {
		return sourceHint(runErr)
	}
	reportPath := filepath.Join(o.output, name+".report.json")
	if _, err := os.Stat(reportPath); err != nil {
		reportPath = "" // not written (e.g. the destination is full)
	}
	out.result(r, reportPath, runErr)
	g.resultPrinted = o.json
	switch {
	case runErr == nil:
		return nil
	case errors.Is(runErr, acquire.ErrUnreadable):
		return silent(exitcode.Of(runErr), runErr)
	case errors.Is(runErr, context.Canceled) && r.Status == report.StatusComplete:
		return withHints(errors.New("interrupted during verification: the image is complete but was not re-read"),
			fmt.Sprintf("check it with: custodian verify %s", o.output))
	case errors.Is(runErr, context.Canceled):
		return withHints(errors.New("interrupted before the image was complete (the report says incomplete)"),
			fmt.Sprintf("continue later with: custodian acquire %s -o %s --name %s --resume (same flags)", source, o.output, name))
	case errors.Is(runErr, acquire.ErrNoSpace), errors.Is(runErr, syscall.ENOSPC), errors.Is(runErr, syscall.EDQUOT):
		return withHints(runErr,
			fmt.Sprintf("the complete segments and the journal are kept: free space on the destination (or move %s with its files to a larger disk) and run the same command with --resume", o.output))
	case errors.Is(runErr, acquire.ErrSourceDead):
		return withHints(runErr,
			"the image and journal are kept up to that point: check the drive's cable and power (or let it cool down), then run the same command with --resume",
			"a drive that keeps stopping is best imaged with GNU ddrescue first (good areas before bad ones); then acquire its image")
	case errors.Is(runErr, acquire.ErrSourceChanged):
		return withHints(runErr, "the source's disk now holds another medium (re-plugged, swapped card, loop device re-attached): the partial image is kept as evidence of the first medium; start a new acquisition of the medium you mean")
	case errors.Is(runErr, acquire.ErrSourceWritten):
		return withHints(runErr, "something holds the source and writes to it (a mounted filesystem, md, dm); the image may not match the evidence as seized")
	}
	return runErr
}

// origins lists where each flag that was given a value came from, for the
// report (passphrases never travel in flags).
func origins(g *globalOptions, f *pflag.FlagSet) []report.SettingOrigin {
	var out []report.SettingOrigin
	f.VisitAll(func(fl *pflag.Flag) {
		if from, ok := g.origins[fl.Name]; ok {
			out = append(out, report.SettingOrigin{Setting: fl.Name, Value: fl.Value.String(), From: from})
		}
	})
	return out
}

// sourceHint adds a hint to errors about the SOURCE argument.
func sourceHint(err error) error {
	switch {
	case errors.Is(err, blockdev.ErrUnsupportedType):
		return usageError(err, "SOURCE must be a block device (e.g. /dev/sdb) or a regular image file; 'custodian info DEV' shows what a path is")
	case errors.Is(err, acquire.ErrUsage) && errors.Is(err, fs.ErrNotExist):
		return usageError(err, "check the source path; 'custodian list' shows the attached disks")
	}
	return err
}

// summary writes the human summary of a finished acquisition.
func summary(w io.Writer, r *report.Report, reportPath string) {
	fmt.Fprintf(w, "status:      %s\n", r.Status)
	fmt.Fprintf(w, "source:      %s (%d bytes)\n", r.Source.Path, r.Source.Size)
	fmt.Fprintf(w, "acquired:    %d bytes in %d segment(s)\n", r.BytesAcquired, len(r.Image.Segments))
	keys := make([]string, 0, len(r.Hashes))
	for k := range r.Hashes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%-12s %s\n", k+":", r.Hashes[k])
	}
	if len(r.Unreadable) > 0 {
		var n int64
		for _, u := range r.Unreadable {
			n += u.Length
		}
		fmt.Fprintf(w, "unreadable:  %d bytes in %d range(s), zero-filled (see report)\n", n, len(r.Unreadable))
	}
	if r.Verification.Performed {
		fmt.Fprintf(w, "verified:    %v\n", r.Verification.Matched)
	}
	if r.Source.WriteBlock.CounterChecked {
		fmt.Fprintf(w, "written to source during acquisition: %d sectors\n", r.Source.SectorsWrittenDuring)
	}
	if r.Signer != nil {
		fmt.Fprintf(w, "signed by:   %s\n", r.Signer.Fingerprint)
	}
	if reportPath == "" {
		fmt.Fprintf(w, "report:      NOT WRITTEN (see the error below; the journal records the progress)\n")
	}
}

// promptCase asks for an empty case number and examiner, as ewfacquire
// does, when a person is at a terminal (stdin and stderr both terminals,
// no --json, not a --resume: the journal keeps the first run's fields).
// An answer is recorded like a flag, its origin "terminal prompt"; an
// empty answer leaves the field empty (the report then warns).
func promptCase(g *globalOptions, o *acquireOptions, f *pflag.FlagSet) error {
	if o.json || o.resume || !isTerminal(g.stdin) || !isTerminal(g.stderr) {
		return nil
	}
	in := bufio.NewReader(g.stdin)
	for _, q := range []struct{ flag, what, val string }{
		{"case-number", "case number", o.caseInfo.CaseNumber},
		{"examiner", "examiner", o.caseInfo.Examiner},
	} {
		if strings.TrimSpace(q.val) != "" {
			continue
		}
		fmt.Fprintf(g.stderr, "custodian: no %s given (--%s); type it, or press Enter to leave it empty: ", q.what, q.flag)
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(g.stderr)
			return nil // end of input: leave the rest empty
		}
		if v := strings.TrimSpace(line); v != "" {
			if err := f.Set(q.flag, v); err != nil {
				return usageError(fmt.Errorf("--%s: %w", q.flag, err))
			}
			g.origins[q.flag] = "terminal prompt"
		}
	}
	return nil
}
