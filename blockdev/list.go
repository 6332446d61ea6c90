package blockdev

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"
)

// Disk is one attached disk as [System.List] describes it: what an
// examiner needs to pick a source (and to tell it from the system disk).
// The names are those of [Info] where they overlap.
type Disk struct {
	Path               string `json:"path"`
	Name               string `json:"name"`
	Size               int64  `json:"size"`
	LogicalSectorSize  int    `json:"logical_sector_size"`
	PhysicalSectorSize int    `json:"physical_sector_size"`
	Vendor             string `json:"vendor"`
	Model              string `json:"model"`
	Serial             string `json:"serial"`
	FirmwareRevision   string `json:"firmware_revision"`
	Transport          string `json:"transport"`
	Removable          bool   `json:"removable"`
	ReadOnly           bool   `json:"read_only"`
	Rotational         bool   `json:"rotational"`
	// Mounted: the disk or one of its partitions is mounted; Mounts lists
	// where.
	Mounted bool     `json:"mounted"`
	Mounts  []string `json:"mounts"`
	Holders []string `json:"holders"`
	// HoldsRoot: the filesystem mounted on / lives on this disk (directly,
	// or under device-mapper or md).
	HoldsRoot bool `json:"holds_root"`
	// Filesystem of the whole disk, when it has one instead of partitions.
	Filesystem
	Partitions []ListedPartition `json:"partitions"`
}

// ListedPartition is one partition of a [Disk].
type ListedPartition struct {
	Path     string   `json:"path"`
	Name     string   `json:"name"`
	Number   int      `json:"number"`
	Start    int64    `json:"start"`
	Size     int64    `json:"size"`
	ReadOnly bool     `json:"read_only"`
	Mounts   []string `json:"mounts"`
	Filesystem
}

// Filesystem is what a probe of a device's first sectors says: its
// filesystem type, label and UUID (sanitized: they come from the medium).
type Filesystem struct {
	FSType string `json:"fstype"`
	Label  string `json:"label"`
	UUID   string `json:"uuid"`
}

// List describes every disk attached to the running machine.
func List() ([]Disk, error) { return DefaultSystem().List() }

// List describes every disk in sysfs, by kernel name, leaving out loop
// devices with nothing attached and devices without a medium (size 0:
// an empty card reader, an unused zram). Filesystems come from udev's
// database (/run/udev/data) where udev runs, else from blkid(8)'s
// low-level probe (read-only); without either they are empty.
func (s *System) List() ([]Disk, error) {
	ents, err := fs.ReadDir(s.Sys, "block")
	if err != nil {
		return nil, fmt.Errorf("read sysfs block directory: %w", err)
	}
	roots := s.RootDisks()
	out := []Disk{}
	for _, e := range ents {
		name := e.Name()
		if s.unboundLoop(name) {
			continue
		}
		if size, _ := s.attrInt(path.Join("block", name, "size")); size == 0 {
			continue
		}
		info, err := s.inspectEntry(s.nodePath(name), blockEntry{name: name, dir: path.Join("block", name)})
		if err != nil {
			return out, err
		}
		d := Disk{Path: info.Path, Name: info.Name, Size: info.Size, LogicalSectorSize: info.LogicalSectorSize,
			PhysicalSectorSize: info.PhysicalSectorSize, Vendor: info.Vendor, Model: info.Model, Serial: info.Serial,
			FirmwareRevision: info.FirmwareRevision, Transport: info.Transport, Removable: info.Removable,
			ReadOnly: info.ReadOnly, Rotational: info.Rotational, Mounted: len(info.Mounts) > 0, Mounts: info.Mounts,
			Holders: info.Holders, HoldsRoot: slices.Contains(roots, name), Partitions: []ListedPartition{}}
		if len(info.Partitions) == 0 {
			d.Filesystem = s.filesystem(info.Major, info.Minor, info.Path)
		}
		for _, p := range info.Partitions {
			d.Partitions = append(d.Partitions, ListedPartition{Path: p.Path, Name: p.Name, Number: p.Number, Start: p.Start,
				Size: p.Size, ReadOnly: p.ReadOnly, Mounts: p.Mounts, Filesystem: s.filesystem(p.Major, p.Minor, p.Path)})
		}
		out = append(out, d)
	}
	return out, nil
}

// RootDisks names the disks that hold the filesystem mounted on /: the
// disk of its device, or for a device-mapper or md device every disk
// under it (sysfs slaves/, recursively). Empty when / is not on a block
// device (a container's overlay, tmpfs) or cannot be told.
func (s *System) RootDisks() []string {
	mounts, err := s.mounts()
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range mounts {
		if m.MountPoint != "/" {
			continue
		}
		e, err := s.lookupDev(m.Major, m.Minor)
		if err != nil {
			continue
		}
		out = append(out, s.baseDisks(e, 0)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// baseDisks follows e down to the disks it lives on.
func (s *System) baseDisks(e blockEntry, depth int) []string {
	if e.parent != "" {
		e = blockEntry{name: e.parent, dir: path.Join("block", e.parent)}
	}
	slaves, err := fs.ReadDir(s.Sys, path.Join(e.dir, "slaves"))
	if err != nil || len(slaves) == 0 || depth > 16 {
		return []string{e.name}
	}
	var out []string
	for _, sl := range slaves {
		if se, err := s.lookupName(sl.Name()); err == nil {
			out = append(out, s.baseDisks(se, depth+1)...)
		}
	}
	return out
}

// filesystem probes the device major:minor (node p) for a filesystem.
func (s *System) filesystem(major, minor uint32, p string) Filesystem {
	if s.udevData != nil {
		if f, ok := s.udevData(major, minor); ok {
			return f
		}
	}
	if s.probeFS != nil {
		if f, err := s.probeFS(p); err == nil {
			return f
		}
	}
	return Filesystem{}
}

// parseFSExport reads KEY=value lines (blkid -o export, or udev's E:KEY=
// database lines with prefix "E:") into a Filesystem.
func parseFSExport(text, prefix string) (Filesystem, bool) {
	var f Filesystem
	found := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = Sanitize(strings.ReplaceAll(v, `\ `, " "))
		switch k {
		case "ID_FS_TYPE", "TYPE":
			f.FSType, found = v, true
		case "ID_FS_LABEL", "LABEL":
			f.Label = v
		case "ID_FS_UUID", "UUID":
			f.UUID = v
		}
	}
	return f, found
}

// udevDataFS reads udev's database entry of a block device
// (/run/udev/data/bMAJ:MIN).
func udevDataFS(run fs.FS) func(major, minor uint32) (Filesystem, bool) {
	return func(major, minor uint32) (Filesystem, bool) {
		b, err := fs.ReadFile(run, fmt.Sprintf("udev/data/b%d:%d", major, minor))
		if err != nil || len(b) > maxSysfsFile {
			return Filesystem{}, false
		}
		return parseFSExport(string(b), "E:")
	}
}

// blkidProbe runs "blkid -p -o export DEV": a low-level probe that opens
// the device read-only and bypasses (and does not write) blkid's cache.
// Exit status 2 means no filesystem was found.
func blkidProbe(p string) (Filesystem, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-o", "export", p).Output()
	if err != nil {
		return Filesystem{}, err
	}
	f, _ := parseFSExport(string(out), "")
	return f, nil
}
