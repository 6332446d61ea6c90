package cmd

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/custodian-forensics/custodian/blockdev"
)

func newListCommand(g *globalOptions) *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the attached disks to pick a source from",
		Long: `list shows every attached disk (loop devices with nothing attached and
devices without a medium are left out): kernel name, size, transport (usb,
sata, nvme, scsi, mmc, virtio; "virtual" for loop, dm, md and other devices
without hardware), model, serial, removable, read-only, where it or its
partitions are mounted, and its partitions with their filesystem type and
label. The disk that holds / (the system disk) is marked: it is not the
evidence.

Filesystems come from udev's database where udev runs, else from a
read-only probe by blkid(8) (nothing is written). With --json it prints a
JSON list of objects (the "info --json" names where they overlap, plus
"transport", "firmware_revision", "mounted", "holds_root", and "fstype",
"label", "uuid" of the disk and of each partition).

` + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(g.stdout, jsonOut)
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print a JSON list")
	return c
}

func runList(w io.Writer, jsonOut bool) error {
	disks, err := blockdev.List()
	if err != nil {
		return withCode(ExitFailure, err)
	}
	if jsonOut {
		return writeJSON(w, disks)
	}
	renderList(w, disks)
	return nil
}

// renderList prints one row per disk and one per partition.
func renderList(w io.Writer, disks []blockdev.Disk) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSIZE\tTRANSPORT\tMODEL\tSERIAL\tRM\tRO\tFILESYSTEM\tMOUNTED ON\tNOTE")
	for _, d := range disks {
		note := "-"
		if d.HoldsRoot {
			note = "holds / (system disk)"
		}
		model := strings.TrimSpace(d.Vendor + " " + d.Model)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, humanBytes(d.Size), dash(d.Transport), dash(model), dash(d.Serial),
			yesNo(d.Removable), yesNo(d.ReadOnly), fsText(d.Filesystem), dash(strings.Join(mountsOfDisk(d), ", ")), note)
		for _, p := range d.Partitions {
			fmt.Fprintf(tw, "  %s\t%s\t\t\t\t\t%s\t%s\t%s\t\n", p.Path, humanBytes(p.Size), yesNo(p.ReadOnly), fsText(p.Filesystem), dash(strings.Join(p.Mounts, ", ")))
		}
	}
	tw.Flush()
	if len(disks) == 0 {
		fmt.Fprintln(w, "no disks found")
	}
}

// mountsOfDisk are the mounts of the disk node itself (its partitions'
// are on their own rows).
func mountsOfDisk(d blockdev.Disk) []string {
	part := map[string]bool{}
	for _, p := range d.Partitions {
		for _, m := range p.Mounts {
			part[m] = true
		}
	}
	var out []string
	for _, m := range d.Mounts {
		if !part[m] {
			out = append(out, m)
		}
	}
	return out
}

func fsText(f blockdev.Filesystem) string {
	switch {
	case f.FSType == "":
		return "-"
	case f.Label != "":
		return fmt.Sprintf("%s %q", f.FSType, f.Label)
	}
	return f.FSType
}
