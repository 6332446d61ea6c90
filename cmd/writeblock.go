package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/spf13/cobra"
)

const writeblockExitHelp = `EXIT STATUS
  0  done: every device confirmed read-only (on), writable (off)
  1  not protected: a device could not be confirmed read-only, or on refused
     because a filesystem of the device is mounted read-write or the device
     has holders (device-mapper, md, bcache), which the flag does not stop;
     status: some protected device was written since protection began
  2  usage error (missing device, not a block device, off without --yes on a
     non-terminal stdin); nothing was changed`

type writeblockOptions struct {
	json          bool
	force         bool
	partitionOnly bool
	yes           bool
	stateDir      string
	// watch
	includeExisting bool
	exclude         []string
	interval        time.Duration
	noKmsg          bool
	// udev-rule
	install  bool
	rulePath string
	blockdev string
	// match restricts watch to some devices (tests: only their own).
	match func(blockdev.WatchDevice) bool
}

func (o *writeblockOptions) store() *blockdev.StateStore {
	return &blockdev.StateStore{Dir: o.stateDir}
}

func newWriteblockCommand(g *globalOptions) *cobra.Command {
	var opts writeblockOptions
	cmd := &cobra.Command{
		Use:   "writeblock on|off|status|watch|udev-rule",
		Short: "Software write-block: the kernel's read-only flag (BLKROSET), recursive to partitions",
		Long: `writeblock sets, clears and reports the kernel's per-device read-only flag
(BLKROSET), and watches for newly attached devices to set it on them.

The flag stops writes through the device nodes (write(2) fails with EPERM),
discard and zero-out ioctls, and new read-write mounts. It does NOT stop
writers that already hold the device: a filesystem mounted read-write before
the flag was set keeps writing, and so do device-mapper, md and bcache
holders. So "on" refuses such devices unless --force, and every protection
records the block layer's write counters (sysfs stat) in ` + blockdev.DefaultStateDir + `,
so "status" can show the sectors written since protection began.

` + writeblockExitHelp,
	}
	cmd.PersistentFlags().StringVar(&opts.stateDir, "state-dir", blockdev.DefaultStateDir, "directory of the write-block state records")
	cmd.AddCommand(newWriteblockOnCommand(g, &opts), newWriteblockOffCommand(g, &opts),
		newWriteblockStatusCommand(g, &opts), newWriteblockWatchCommand(g, &opts), newWriteblockUdevRuleCommand(g, &opts))
	return cmd
}

func newWriteblockOnCommand(g *globalOptions, opts *writeblockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "on DEV...",
		Short: "Set and confirm the read-only flag on devices, their disks and all partitions",
		Long: `on sets the read-only flag on each DEV: on a whole disk and every partition
of it; given a partition, on its disk and all the disk's partitions too
(on Linux a partition's flag does not stop writes through the disk node into
its sectors; --partition-only changes the partition alone). Each device is
confirmed read-only by both BLKROGET and sysfs "ro", and a table shows them.

Before anything is changed, on looks for writers the flag does not stop: a
filesystem of the device or of a partition mounted read-write, and holders
(sysfs holders/: device-mapper, md, bcache). If there are any it names them
and changes nothing (exit 1); --force sets the flag anyway, with the same
warning. The write counters of each device are recorded when protection
begins (see "writeblock status").

` + writeblockExitHelp,
		Args: needDevices("on"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWriteblockOn(g, *opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.force, "force", false, "set the flag although the device is mounted read-write or held (those writers are not stopped)")
	cmd.Flags().BoolVar(&opts.partitionOnly, "partition-only", false, "given a partition, leave its disk and sibling partitions alone (writes through the disk node still reach it)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON list of results")
	return cmd
}

func newWriteblockOffCommand(g *globalOptions, opts *writeblockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "off DEV...",
		Short: "Clear the read-only flag on devices, their disks and all partitions",
		Long: `off is the reverse of on: it clears the read-only flag on each DEV's disk and
all its partitions (with --partition-only, on the partition alone), confirms
that they are writable, and removes the state record, printing what it
measured first: "N sectors written while protected since T" (anything but
0 means the device was written; also a warning on stderr). When stdin is
not a terminal it refuses unless --yes is given; on a terminal it asks.

` + writeblockExitHelp,
		Args: needDevices("off"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWriteblockOff(g, *opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.yes, "yes", false, "do not ask: make the devices writable")
	cmd.Flags().BoolVar(&opts.partitionOnly, "partition-only", false, "given a partition, clear that partition's flag only")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON list of results")
	return cmd
}

func newWriteblockStatusCommand(g *globalOptions, opts *writeblockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [DEV...]",
		Short: "Read-only state, identity, partitions, mounts and writes since protection",
		Long: `status lists every block device (loop devices with nothing attached are
left out), or the ones named, with the read-only flag, size, model and serial,
partitions, mounts and holders, and for devices protected by "writeblock on"
or "watch" the sectors written since protection began (512-byte units, from
the block layer's counters; anything but 0 means the device was written).
Linux counts a write made through the disk node on the disk's counter only,
also when it lands in a partition, so for a partition the writes through the
disk node since protection began are added to the partition's own (the
disk's rise less all its partitions' rises): with --partition-only the disk
stays writable, and such writes reach the partition. COUNTERS COMPARED
(counters_compared in JSON) names the counters used.
It says when the kernel command line turns on udev.blockdev_read_only.

With --json it prints a JSON list of objects, as "info --json" prints one.

` + writeblockExitHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWriteblockStatus(g, *opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON list")
	return cmd
}

func newWriteblockWatchCommand(g *globalOptions, opts *writeblockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Set every newly attached block device and partition read-only",
		Long: `watch listens to the kernel's uevents and sets every new block device and
partition read-only the moment its event arrives ("add", and "change" of a
disk that gets a new medium: card readers, optical drives, loop devices). It
logs each action with the time, device, identity and the latency from event
to confirmed flag. It compares the write counters of every device it
protected every --interval and reports any rise as a violation, and reads
/dev/kmsg for the kernel's "Trying to write to read-only block-device"
warning (printed once per device per boot). It runs until SIGINT or SIGTERM.

Exclude the system disk and anything else that must stay writable with
--exclude (a shell pattern for kernel names, matched against the device and
its disk, or a serial/WWID), e.g. --exclude 'nvme0n1' --exclude 'S3Z9NB0K123'.
Without --include-existing, devices present at start are left as they are.

With --json every event is one JSON line on stdout.

` + writeblockExitHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWriteblockWatch(cmd.Context(), g, *opts)
		},
	}
	cmd.Flags().BoolVar(&opts.includeExisting, "include-existing", false, "also set the devices present at start read-only")
	cmd.Flags().StringArrayVar(&opts.exclude, "exclude", nil, "leave devices alone: kernel name pattern or serial (repeatable)")
	cmd.Flags().DurationVar(&opts.interval, "interval", 200*time.Millisecond, "how often the write counters are compared")
	cmd.Flags().BoolVar(&opts.noKmsg, "no-kmsg", false, "do not read /dev/kmsg")
	cmd.Flags().BoolVar(&opts.json, "json", false, "one JSON line per event on stdout")
	return cmd
}

func newWriteblockUdevRuleCommand(g *globalOptions, opts *writeblockOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "udev-rule",
		Short: "Print or install a udev rule that makes new block devices read-only",
		Long: `udev-rule prints a udev rules file that runs "blockdev --setro" for every
new block device and partition (and on "change" with a medium), except the
--exclude'd ones, for machines that run udev, from boot on. Without an
--exclude that matches it, it warns and names the disk that holds /. --install writes
it to ` + blockdev.DefaultUdevRulePath + ` (or --path); then run
"udevadm control --reload". See the README for the trade-offs against
"writeblock watch" and systemd's udev.blockdev_read_only.

` + writeblockExitHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWriteblockUdevRule(g, *opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.exclude, "exclude", nil, "leave devices alone: kernel name pattern or serial (repeatable)")
	cmd.Flags().BoolVar(&opts.install, "install", false, "write the rule file instead of printing it")
	cmd.Flags().StringVar(&opts.rulePath, "path", blockdev.DefaultUdevRulePath, "where --install writes the rule")
	cmd.Flags().StringVar(&opts.blockdev, "blockdev", "/usr/sbin/blockdev", "path of blockdev(8) in the rule")
	return cmd
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// deviceArgError turns errors about a named device into usage errors.
func deviceArgError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageError(err, "give the path of a block device (e.g. /dev/sdb) or of a partition")
	case errors.Is(err, blockdev.ErrUnsupportedType), errors.Is(err, blockdev.ErrNotBlockDevice):
		return usageError(err, "writeblock works on block devices only")
	}
	return err
}

// checkDeviceArgs inspects every argument before anything is changed.
func checkDeviceArgs(args []string) error {
	for _, a := range args {
		info, err := blockdev.Inspect(a)
		if err != nil {
			return deviceArgError(err)
		}
		if info.Kind == blockdev.KindRegular {
			return deviceArgError(fmt.Errorf("%s: %w", a, blockdev.ErrNotBlockDevice))
		}
	}
	return nil
}

func runWriteblockOn(g *globalOptions, opts writeblockOptions, args []string) error {
	if err := checkDeviceArgs(args); err != nil {
		return err
	}
	wo := blockdev.WriteBlockOptions{Force: opts.force, PartitionOnly: opts.partitionOnly, State: opts.store()}
	results, errs, err := applyEach(g, opts, args, true, blockdev.DefaultSystem().WriteBlockOn, wo)
	if err != nil {
		return err
	}
	for _, r := range results {
		if len(r.Writers) > 0 && opts.force {
			fmt.Fprintf(g.stderr, "custodian: warning: %s: the read-only flag is set, but these writers are not stopped:\n", r.Target)
			for _, w := range r.Writers {
				fmt.Fprintf(g.stderr, "custodian:   %s\n", w)
			}
			fmt.Fprintf(g.stderr, "custodian: warning: writes by them still reach the device; \"writeblock status\" shows the sectors written\n")
		}
	}
	return onError(errs)
}

func onError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	var hints []string
	if errors.Is(err, blockdev.ErrInUse) {
		hints = append(hints, "unmount the filesystems and stop the holders first (the flag does not stop them, and they may write to the device)",
			"or pass --force to set the flag anyway: their writes are then counted by 'custodian writeblock status', not stopped")
	}
	if errors.Is(err, blockdev.ErrNotProtected) {
		hints = append(hints, "setting the flag needs root (CAP_SYS_ADMIN); the device is NOT write-blocked")
	}
	return withCode(ExitFailure, err, hints...)
}

func runWriteblockOff(g *globalOptions, opts writeblockOptions, args []string) error {
	if err := checkDeviceArgs(args); err != nil {
		return err
	}
	if !opts.yes {
		if !isTerminal(g.stdin) {
			return usageError(errors.New("writeblock off would make the devices writable, and stdin is not a terminal to ask"),
				"pass --yes to clear the read-only flag of "+strings.Join(args, ", "))
		}
		fmt.Fprintf(g.stderr, "make %s (with the disk and all its partitions) writable? [y/N] ", strings.Join(args, ", "))
		line, _ := bufio.NewReader(g.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return usageErrorf("not confirmed; nothing changed")
		}
	}
	wo := blockdev.WriteBlockOptions{PartitionOnly: opts.partitionOnly, State: opts.store()}
	results, errs, err := applyEach(g, opts, args, false, blockdev.DefaultSystem().WriteBlockOff, wo)
	if err != nil {
		return err
	}
	for _, r := range results {
		if p := r.Protection; p != nil && p.SectorsWritten != 0 {
			fmt.Fprintf(g.stderr, "custodian: warning: %s was written while protected: %d sectors since %s; check mounts, holders and the kernel log\n",
				r.Target, p.SectorsWritten, p.Since.UTC().Format(time.RFC3339))
		}
	}
	if len(errs) > 0 {
		return withCode(ExitFailure, errors.Join(errs...), "a partition stays read-only while its disk is; clear the disk (without --partition-only)")
	}
	return nil
}

func writeJSON(w io.Writer, v any) error { return newJSONEncoder(w, "  ").Encode(v) }

// renderWriteblockResults prints one table row per device.
func renderWriteblockResults(w io.Writer, results []*blockdev.WriteBlockResult, on bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tBEFORE\tBLKROGET\tSYSFS RO\tRESULT")
	for _, r := range results {
		for _, d := range r.Devices {
			result := "read-only (confirmed)"
			switch {
			case d.Error != "":
				result = "ERROR: " + d.Error
			case on && !d.ReadOnly():
				result = "NOT READ-ONLY"
			case !on && d.Writable():
				result = "writable (confirmed)"
			case !on:
				result = "STILL READ-ONLY"
			}
			if on && len(r.Writers) > 0 && d.ReadOnly() {
				result += ", writers not stopped"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Path, roRW(d.WasReadOnly), roRW(d.IoctlRO), roRW(d.SysfsRO), result)
		}
	}
	tw.Flush()
	for _, r := range results {
		for _, wr := range r.Writers {
			fmt.Fprintf(w, "%s: %s\n", r.Target, wr)
		}
		if !on {
			fmt.Fprintln(w, protectionLine(r))
		}
	}
}

// protectionLine says what "off" measured of the protection it ended.
func protectionLine(r *blockdev.WriteBlockResult) string {
	p := r.Protection
	if p == nil {
		return fmt.Sprintf("%s: no protection record (not protected by custodian since boot, or another medium): nothing measured", r.Target)
	}
	return fmt.Sprintf("%s: %d sectors written while protected since %s (protected by %s; counters of %s)",
		r.Target, p.SectorsWritten, p.Since.UTC().Format(time.RFC3339), p.By, strings.Join(p.CountersCompared, ", "))
}

func roRW(ro bool) string {
	if ro {
		return "ro"
	}
	return "rw"
}

func runWriteblockStatus(g *globalOptions, opts writeblockOptions, args []string) error {
	if err := checkDeviceArgs(args); err != nil {
		return err
	}
	sys := blockdev.DefaultSystem()
	infos, err := sys.WriteBlockStatus(args, opts.store())
	if err != nil {
		return deviceArgError(err)
	}
	udevRO := sys.UdevBlockdevReadOnly()
	if opts.json {
		if udevRO {
			fmt.Fprintln(g.stderr, "custodian: note: udev.blockdev_read_only is on (kernel command line): udevd sets new physical block devices read-only")
		}
		if err := writeJSON(g.stdout, infos); err != nil {
			return err
		}
	} else {
		renderStatus(g.stdout, infos)
		if udevRO {
			fmt.Fprintln(g.stdout, "\nudev.blockdev_read_only is on (kernel command line): udevd sets new physical block devices read-only")
		}
	}
	var written []string
	for _, in := range infos {
		if n := in.SectorsWrittenSinceProtected; n != nil && *n != 0 {
			written = append(written, fmt.Sprintf("%s: %d sectors written since protection began (counters of %s)",
				in.Path, *n, strings.Join(in.CountersCompared, ", ")))
		}
	}
	if len(written) > 0 {
		return withCode(ExitFailure, errors.New(strings.Join(written, "\n")),
			"something wrote to a protected device: check 'writeblock status' for mounts and holders, and the kernel log")
	}
	return nil
}

func renderStatus(w io.Writer, infos []*blockdev.Info) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tRO\tSIZE\tMODEL\tSERIAL\tWRITTEN SINCE PROTECTED\tCOUNTERS COMPARED\tMOUNTS\tHOLDERS")
	row := func(path string, ro bool, size int64, model, serial string, since *int64, counters, mounts, holders []string) {
		ws := "-"
		if since != nil {
			ws = fmt.Sprintf("%d sectors", *since)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", path, roRW(ro), humanBytes(size), dash(model), dash(serial), ws,
			dash(strings.Join(counters, "+")), dash(strings.Join(mounts, ", ")), dash(strings.Join(holders, ", ")))
	}
	for _, in := range infos {
		row(in.Path, in.ReadOnly, in.Size, in.Model, in.Serial, in.SectorsWrittenSinceProtected, in.CountersCompared, in.Mounts, in.Holders)
		for _, p := range in.Partitions {
			row("  "+p.Path, p.ReadOnly, p.Size, "", "", nil, nil, p.Mounts, p.Holders)
		}
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runWriteblockWatch(ctx context.Context, g *globalOptions, opts writeblockOptions) error {
	enc := newJSONEncoder(g.stdout, "")
	violations := 0
	wo := blockdev.WatchOptions{
		IncludeExisting: opts.includeExisting,
		Exclude:         opts.exclude,
		Match:           opts.match,
		PollInterval:    opts.interval,
		KernelLog:       !opts.noKmsg,
		State:           opts.store(),
		OnEvent: func(e blockdev.WatchEvent) {
			if e.Kind == blockdev.WatchViolation || e.Kind == blockdev.WatchFailed {
				violations++
			}
			if opts.json {
				_ = enc.Encode(e)
				return
			}
			fmt.Fprintln(g.stdout, formatWatchEvent(e))
		},
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := blockdev.Watch(ctx, wo); err != nil {
		return withCode(ExitFailure, err, "watch needs root (a uevent socket and CAP_SYS_ADMIN for BLKROSET)")
	}
	if violations > 0 {
		return silent(ExitFailure, fmt.Errorf("%d violations or failures", violations))
	}
	return nil
}

// formatWatchEvent is one log line for people.
func formatWatchEvent(e blockdev.WatchEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-17s", e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), e.Kind)
	if e.Device != "" {
		fmt.Fprintf(&b, " %s", e.Device)
	}
	var id []string
	if e.Model != "" {
		id = append(id, "model "+e.Model)
	}
	if e.Serial != "" {
		id = append(id, "serial "+e.Serial)
	}
	if e.Size > 0 {
		id = append(id, humanBytes(e.Size))
	}
	if len(id) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(id, ", "))
	}
	if e.Trigger != "" {
		fmt.Fprintf(&b, " on %s", e.Trigger)
	}
	if e.Latency > 0 {
		fmt.Fprintf(&b, " in %s", e.Latency.Round(time.Microsecond))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Error != "" {
		fmt.Fprintf(&b, ": error: %s", e.Error)
	}
	return b.String()
}

func runWriteblockUdevRule(g *globalOptions, opts writeblockOptions) error {
	rule, err := blockdev.UdevRule(blockdev.UdevRuleOptions{Exclude: opts.exclude, Blockdev: opts.blockdev})
	if err != nil {
		return usageError(err)
	}
	warnSystemDisk(g.stderr, opts.exclude, blockdev.DefaultSystem().RootDisks())
	if !opts.install {
		_, err := io.WriteString(g.stdout, rule)
		return err
	}
	// udevd reads the rule as root, but other tools (and people) read rules
	// too: 0644 as every rules file, whatever the umask.
	if err := atomicfile.WriteFile(opts.rulePath, []byte(rule), 0o644, atomicfile.ExactPerm()); err != nil {
		return withCode(ExitFailure, fmt.Errorf("install udev rule: %w", err))
	}
	fmt.Fprintf(g.stdout, "installed %s\nrun 'udevadm control --reload' so udevd uses it; devices present now are not changed\n", opts.rulePath)
	return nil
}

// warnSystemDisk warns when the udev rule would make the disk that holds /
// read-only at the next boot: no --exclude, or none that matches it.
func warnSystemDisk(w io.Writer, exclude, roots []string) {
	if len(roots) == 0 {
		if len(exclude) == 0 {
			fmt.Fprintln(w, "custodian: warning: no --exclude: the rule makes every block device read-only from the next boot on, the system disk too (which disk holds / could not be told)")
		}
		return
	}
	var hit []string
	for _, r := range roots {
		matched := false
		for _, p := range exclude {
			if ok, err := path.Match(p, r); err == nil && ok {
				matched = true
			}
		}
		if !matched {
			hit = append(hit, r)
		}
	}
	if len(hit) == 0 {
		return
	}
	what := "no --exclude"
	if len(exclude) > 0 {
		what = "no --exclude matches it"
	}
	fmt.Fprintf(w, "custodian: warning: %s: the rule makes %s, which holds /, read-only from the next boot on (the system may not come up writable)\n",
		what, strings.Join(hit, " and "))
	fmt.Fprintf(w, "custodian: hint: add --exclude %s (a kernel name pattern or a serial)\n", strings.Join(hit, " --exclude "))
}

// needDevices is the Args check of a writeblock subcommand that takes one
// or more devices.
func needDevices(sub string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageErrorf("writeblock %s needs at least one device", sub)
		}
		return nil
	}
}

// applyEach runs op (WriteBlockOn or WriteBlockOff) on every device and
// renders the results as a table or JSON. It returns the results and the
// devices' errors; err is an error of the rendering itself.
func applyEach(g *globalOptions, opts writeblockOptions, args []string, on bool,
	op func(string, blockdev.WriteBlockOptions) (*blockdev.WriteBlockResult, error), wo blockdev.WriteBlockOptions,
) (results []*blockdev.WriteBlockResult, errs []error, err error) {
	for _, a := range args {
		res, err := op(a, wo)
		if res != nil {
			results = append(results, res)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if opts.json {
		return results, errs, writeJSON(g.stdout, results)
	}
	renderWriteblockResults(g.stdout, results, on)
	return results, errs, nil
}
