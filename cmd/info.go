package cmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/units"
	"github.com/spf13/cobra"
)

type infoOptions struct {
	json bool
}

func newInfoCommand(g *globalOptions) *cobra.Command {
	var opts infoOptions
	cmd := &cobra.Command{
		Use:   "info DEV",
		Short: "Show identity, size, sector sizes, read-only state, partitions and mounts",
		Long: `info describes a block device (or a regular file standing in for one):
its identity (vendor, model, serial, WWID, firmware revision, sanitized:
they come from the device), its transport (usb, sata, nvme, scsi, mmc,
virtio; "virtual" for loop, dm, md), size, logical and physical sector sizes, the kernel's read-only
flag, its partitions, where it or its partitions are mounted, and which
devices (device-mapper, md, ...) hold it. Nothing is written.

With --json it prints one JSON object.

` + exitStatusHelp,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("info takes one device or file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInfo(cmd.OutOrStdout(), opts, args[0])
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	return cmd
}

func runInfo(w io.Writer, opts infoOptions, path string) error {
	info, err := blockdev.Inspect(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageError(err, "give the path of a block device (e.g. /dev/sdb) or of an image file")
	case errors.Is(err, blockdev.ErrUnsupportedType):
		return usageError(err, "info reads block devices and regular files only")
	case err != nil:
		return err
	}
	if opts.json {
		return newJSONEncoder(w, "  ").Encode(info)
	}
	return renderInfo(w, info)
}

// renderInfo prints info for people: aligned "key: value" lines, then a
// partitions table, mounts and holders.
func renderInfo(w io.Writer, info *blockdev.Info) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	line("path", info.Path)
	if info.GivenPath != "" && info.GivenPath != info.Path {
		line("given as", info.GivenPath)
	}
	if info.Kind != blockdev.KindRegular {
		line("name", fmt.Sprintf("%s (%d:%d)", info.Name, info.Major, info.Minor))
	}
	line("kind", info.Kind)
	line("parent", info.Parent)
	line("size", fmt.Sprintf("%d bytes (%s)", info.Size, humanBytes(info.Size)))
	line("sectors", fmt.Sprintf("%d logical, %d physical bytes", info.LogicalSectorSize, info.PhysicalSectorSize))
	line("vendor", info.Vendor)
	line("model", info.Model)
	line("serial", info.Serial)
	line("wwid", info.WWID)
	line("firmware", info.FirmwareRevision)
	line("transport", info.Transport)
	if info.Kind != blockdev.KindRegular {
		line("read-only", yesNo(info.ReadOnly))
		line("removable", yesNo(info.Removable))
		line("rotational", yesNo(info.Rotational))
	}
	if info.SectorsWrittenSinceProtected != nil {
		line("written since protected", fmt.Sprintf("%d sectors", *info.SectorsWrittenSinceProtected))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(info.Partitions) > 0 {
		fmt.Fprintln(w, "\npartitions:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  #\tdevice\tstart\tsize\t\tro\t  mounted on")
		for _, p := range info.Partitions {
			fmt.Fprintf(tw, "  %d\t%s\t%d\t%d\t%s\t%s\t  %s\n", p.Number, p.Path, p.Start, p.Size,
				humanBytes(p.Size), yesNo(p.ReadOnly), strings.Join(p.Mounts, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	list := func(title string, xs []string) {
		if len(xs) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, x := range xs {
			fmt.Fprintf(w, "  %s\n", x)
		}
	}
	list("mounts", info.Mounts)
	list("holders", info.Holders)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// humanBytes formats n in binary units, e.g. "16.0 MiB".
func humanBytes(n int64) string { return units.FormatShort(n) }
