package blockdev

import (
	"fmt"
	"path"
	"path/filepath"
)

// Kinds of [Info.Kind].
const (
	KindDisk      = "disk"
	KindPartition = "partition"
	KindRegular   = "regular file"
)

// Info is the identity and state of a block device or regular file, as
// `custodian info --json` prints it (names shared with the report's source).
// Lists are never nil, so they encode as [] rather than null.
type Info struct {
	// Path is the device node or file with every symbolic link resolved:
	// /dev/sdb when /dev/disk/by-id/ata-… was given.
	Path string `json:"path"`
	// GivenPath is the path as it was given, symbolic links and all.
	GivenPath          string `json:"given_path"`
	Name               string `json:"name"`
	Kind               string `json:"kind"`
	Major              uint32 `json:"major"`
	Minor              uint32 `json:"minor"`
	Size               int64  `json:"size"`
	LogicalSectorSize  int    `json:"logical_sector_size"`
	PhysicalSectorSize int    `json:"physical_sector_size"`
	Vendor             string `json:"vendor"`
	Model              string `json:"model"`
	Serial             string `json:"serial"`
	WWID               string `json:"wwid"`
	// FirmwareRevision is the device's firmware revision (sysfs
	// device/firmware_rev or device/rev), "" where sysfs has none.
	FirmwareRevision string `json:"firmware_revision"`
	// Transport is how the disk is attached: usb, sata, nvme, scsi, mmc,
	// virtio, or virtual (loop, dm, md: no hardware); "" when unknown.
	Transport  string          `json:"transport"`
	ReadOnly   bool            `json:"read_only"`
	Removable  bool            `json:"removable"`
	Rotational bool            `json:"rotational"`
	Parent     string          `json:"parent,omitempty"` // disk of a partition, e.g. /dev/sda
	Partitions []PartitionInfo `json:"partitions"`
	// Mounts are the mount points of the device and of its partitions.
	Mounts []string `json:"mounts"`
	// Holders are the devices (dm-0, md0, …) holding the device or one of
	// its partitions.
	Holders []string `json:"holders"`
	// SectorsWrittenSinceProtected is null unless the device is protected
	// by a write-block that records its counters.
	SectorsWrittenSinceProtected *int64 `json:"sectors_written_since_protected"`
	// CountersCompared names the devices whose sysfs stat counters gave
	// SectorsWrittenSinceProtected (["loop3", "loop3p1", "loop3p2"]); empty
	// when it is null. See [System.WrittenSince].
	CountersCompared []string `json:"counters_compared"`

	related []uint64
}

// PartitionInfo is one partition of a disk.
type PartitionInfo struct {
	Path     string   `json:"path"`
	Name     string   `json:"name"`
	Number   int      `json:"number"`
	Major    uint32   `json:"major"`
	Minor    uint32   `json:"minor"`
	Start    int64    `json:"start"` // byte offset in the disk
	Size     int64    `json:"size"`
	ReadOnly bool     `json:"read_only"`
	Mounts   []string `json:"mounts"`
	Holders  []string `json:"holders"`
}

// Inspect describes path on the running machine.
func Inspect(path string) (*Info, error) {
	return DefaultSystem().Inspect(path)
}

// Inspect describes path: a block device node (or a symlink to one) or a
// regular file. Other file types fail with [ErrUnsupportedType]. Symbolic
// links are resolved first (filepath.EvalSymlinks), so Info.Path is the
// kernel's node (/dev/sdb for /dev/disk/by-id/…) and Info.GivenPath is p.
func (s *System) Inspect(p string) (*Info, error) {
	resolved := s.resolvePath(p)
	n, err := s.statPath(resolved)
	if err != nil {
		return nil, err
	}
	if n.kind == nodeRegular {
		return &Info{
			Path: resolved, GivenPath: p, Name: Sanitize(filepath.Base(resolved)), Kind: KindRegular, Size: n.size,
			LogicalSectorSize: 512, PhysicalSectorSize: 512,
			Partitions: []PartitionInfo{}, Mounts: []string{}, Holders: []string{}, CountersCompared: []string{},
		}, nil
	}
	e, err := s.lookupDev(devMajor(n.rdev), devMinor(n.rdev))
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", p, err)
	}
	info, err := s.inspectEntry(resolved, e)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", p, err)
	}
	info.GivenPath = p
	return info, nil
}

func (s *System) inspectEntry(p string, e blockEntry) (*Info, error) {
	info := &Info{Path: p, Name: e.name, Kind: KindDisk, Partitions: []PartitionInfo{}, Mounts: []string{}, Holders: []string{},
		CountersCompared: []string{}}
	var err error
	if info.Major, info.Minor, err = s.devNum(e.dir); err != nil {
		return nil, err
	}
	disk := e
	if e.parent != "" {
		info.Kind = KindPartition
		info.Parent = s.nodePath(e.parent)
		disk = blockEntry{name: e.parent, dir: path.Join("block", e.parent)}
	}
	// Geometry from sysfs; the queue belongs to the disk. sysfs size is in
	// 512-byte units whatever the sector size.
	sectors, _ := s.attrInt(path.Join(e.dir, "size"))
	info.Size = sectors * 512
	info.LogicalSectorSize = s.intAttr(path.Join(disk.dir, "queue/logical_block_size"), 512)
	info.PhysicalSectorSize = s.intAttr(path.Join(disk.dir, "queue/physical_block_size"), info.LogicalSectorSize)
	info.ReadOnly = s.attr(path.Join(e.dir, "ro")) == "1"
	if s.probe != nil {
		// The device's own answer wins where its node can be opened.
		if g, err := s.probe(p); err == nil {
			info.Size, info.LogicalSectorSize, info.PhysicalSectorSize, info.ReadOnly = g.size, g.lss, g.pss, g.ro
		}
	}
	info.Removable = s.attr(path.Join(disk.dir, "removable")) == "1"
	info.Rotational = s.attr(path.Join(disk.dir, "queue/rotational")) == "1"
	s.identity(info, disk.dir)
	info.Transport = s.transport(disk.name)

	mounts, err := s.mounts()
	if err != nil {
		return nil, err
	}
	info.Mounts = append(info.Mounts, mountsOf(mounts, info.Major, info.Minor)...)
	info.Holders = append(info.Holders, s.holders(e.dir)...)
	info.related = []uint64{mkdev(info.Major, info.Minor)}
	if e.parent != "" {
		if ma, mi, err := s.devNum(disk.dir); err == nil {
			info.related = append(info.related, mkdev(ma, mi))
		}
	}
	for _, pe := range s.partitionsOf(disk.name) {
		pi, err := s.partitionInfo(pe, mounts)
		if err != nil {
			return nil, err
		}
		info.related = append(info.related, mkdev(pi.Major, pi.Minor))
		if e.parent != "" {
			continue // a partition lists no partitions of its own
		}
		info.Partitions = append(info.Partitions, pi)
		info.Mounts = append(info.Mounts, pi.Mounts...)
		info.Holders = append(info.Holders, pi.Holders...)
	}
	info.Mounts = dedupStrings(info.Mounts)
	info.Holders = dedupStrings(info.Holders)
	info.related = append(info.related, s.holderDevNums(append([]string{disk.name}, namesOf(s.partitionsOf(disk.name))...))...)
	info.related = dedupUint64(info.related)
	return info, nil
}

func (s *System) partitionInfo(pe blockEntry, mounts []Mount) (PartitionInfo, error) {
	pi := PartitionInfo{Path: s.nodePath(pe.name), Name: pe.name, Mounts: []string{}, Holders: []string{}}
	var err error
	if pi.Major, pi.Minor, err = s.devNum(pe.dir); err != nil {
		return pi, err
	}
	n, _ := s.attrInt(path.Join(pe.dir, "partition"))
	pi.Number = int(n)
	start, _ := s.attrInt(path.Join(pe.dir, "start"))
	pi.Start = start * 512
	size, _ := s.attrInt(path.Join(pe.dir, "size"))
	pi.Size = size * 512
	pi.ReadOnly = s.attr(path.Join(pe.dir, "ro")) == "1"
	pi.Mounts = append(pi.Mounts, mountsOf(mounts, pi.Major, pi.Minor)...)
	pi.Holders = append(pi.Holders, s.holders(pe.dir)...)
	return pi, nil
}

// identity fills vendor, model, serial and WWID from the disk's sysfs
// directory, each sanitized: they are the device's own, untrusted words.
func (s *System) identity(info *Info, dir string) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := Sanitize(s.attr(path.Join(dir, n))); v != "" {
				return v
			}
		}
		return ""
	}
	info.Vendor = first("device/vendor")
	info.Model = first("device/model")
	info.Serial = first("device/serial", "serial")
	if info.Serial == "" {
		info.Serial = s.vpdSerial(path.Join(dir, "device/vpd_pg80"))
	}
	info.WWID = first("wwid", "device/wwid")
	info.FirmwareRevision = s.firmware(dir)
}

// vpdSerial reads a SCSI unit serial number VPD page (0x80): a 4-byte
// header whose bytes 2-3 are the length, then the serial in ASCII.
func (s *System) vpdSerial(p string) string {
	raw, err := s.readAttr(p)
	if err != nil || len(raw) < 4 || raw[1] != 0x80 {
		return ""
	}
	n := int(raw[2])<<8 | int(raw[3])
	if 4+n > len(raw) {
		n = len(raw) - 4
	}
	return Sanitize(raw[4 : 4+n])
}

func (s *System) intAttr(p string, def int) int {
	if v, ok := s.attrInt(p); ok && v > 0 {
		return int(v)
	}
	return def
}

func (s *System) nodePath(name string) string {
	dev := s.Dev
	if dev == "" {
		dev = "/dev"
	}
	return path.Join(dev, name)
}

// holderDevNums returns the device numbers of every holder of names,
// recursively (a dm device on an md device on a partition).
func (s *System) holderDevNums(names []string) []uint64 {
	var out []uint64
	seen := map[string]bool{}
	queue := append([]string(nil), names...)
	for len(queue) > 0 && len(seen) < 1024 {
		name := queue[0]
		queue = queue[1:]
		e, err := s.lookupName(name)
		if err != nil {
			continue
		}
		for _, h := range s.holders(e.dir) {
			if seen[h] {
				continue
			}
			seen[h] = true
			he, err := s.lookupName(h)
			if err != nil {
				continue
			}
			if ma, mi, err := s.devNum(he.dir); err == nil {
				out = append(out, mkdev(ma, mi))
			}
			queue = append(queue, h)
		}
	}
	return out
}

// DiskName is the kernel name of the disk that holds the device: the
// device itself for a disk ("sdb"), the parent disk for a partition ("sdb"
// for sdb1, "nvme0n1" for nvme0n1p2), and "" for a regular file (or a
// partition Info without its Parent, not made by [System.Inspect]). It is the
// name [WriteStats], [DiskSeq], [Snapshot] and the state records use: the
// disk's counters are the ones that see writes through the disk node.
func (i *Info) DiskName() string {
	switch {
	case i == nil || i.Kind == KindRegular:
		return ""
	case i.Kind == KindPartition:
		if i.Parent == "" {
			return ""
		}
		return path.Base(i.Parent)
	}
	return i.Name
}

// RelatedDevNums returns the device numbers (dev_t as in st_dev/st_rdev) of
// the device, its parent disk, every partition of that disk and, recursively,
// their holders. A file whose st_dev is among them lives on the source: the
// output of an acquisition must never be there. Empty for regular files and
// for an Info not made by Inspect.
func (i *Info) RelatedDevNums() []uint64 {
	return append([]uint64(nil), i.related...)
}

func mountsOf(mounts []Mount, major, minor uint32) []string {
	var out []string
	for _, m := range mounts {
		if m.Major == major && m.Minor == minor {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

func namesOf(es []blockEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

// mkdev encodes a device number as Linux's stat(2) reports it.
func mkdev(major, minor uint32) uint64 {
	ma, mi := uint64(major), uint64(minor)
	return (ma&0xfffff000)<<32 | (ma&0xfff)<<8 | (mi&0xffffff00)<<12 | mi&0xff
}

func dedupStrings(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func dedupUint64(xs []uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// busyUsers names who uses path, for a [BusyError]: mount points and
// holders of the device and its partitions.
func busyUsers(p string) []string {
	info, err := Inspect(p)
	if err != nil {
		return nil
	}
	var users []string
	for _, m := range info.Mounts {
		users = append(users, "mounted on "+m)
	}
	for _, h := range info.Holders {
		users = append(users, "held by "+h)
	}
	return users
}
