package blockdev

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// System is where identity comes from: sysfs, procfs and the /dev
// directory. The zero value is not usable; [DefaultSystem] is the running
// machine, and tests build one over fixture trees (testdata/sysfs/...).
//
// Only the /sys/block hierarchy is read: disks are block/NAME, partitions
// block/DISK/PART (directories with a "partition" file). That works through
// an [fs.FS], which cannot read symlinks, because os.DirFS follows them when
// opening the files below.
type System struct {
	Sys  fs.FS  // rooted at /sys
	Proc fs.FS  // rooted at /proc
	Dev  string // directory of device nodes, "/dev"

	// resolve follows symbolic links (/dev/disk/by-id/… → /dev/sdb); nil
	// means filepath.EvalSymlinks.
	resolve func(path string) (string, error)
	// stat describes a path; nil means the real stat(2).
	stat func(path string) (node, error)
	// probe asks a device node by ioctl for its geometry; nil means sysfs
	// only (fixtures).
	probe func(path string) (geometryInfo, error)
	// udevData reads a device's filesystem from udev's database; probeFS
	// probes the device node itself. nil means none (fixtures).
	udevData func(major, minor uint32) (Filesystem, bool)
	probeFS  func(path string) (Filesystem, error)
}

// DefaultSystem is the running machine: /sys, /proc and /dev, with ioctls
// preferred over sysfs for size, sector sizes and the read-only flag.
func DefaultSystem() *System {
	return &System{Sys: os.DirFS("/sys"), Proc: os.DirFS("/proc"), Dev: "/dev", stat: statNode, probe: probeNode,
		udevData: udevDataFS(os.DirFS("/run")), probeFS: blkidProbe}
}

// resolvePath returns p with every symbolic link resolved, or p itself when
// that fails (a missing path then fails in stat, with the usual error).
func (s *System) resolvePath(p string) string {
	resolve := s.resolve
	if resolve == nil {
		resolve = filepath.EvalSymlinks
	}
	if r, err := resolve(p); err == nil && r != "" {
		return r
	}
	return p
}

// statPath is stat(2) of p, or the fixture's stand-in.
func (s *System) statPath(p string) (node, error) {
	if s.stat == nil {
		return statNode(p)
	}
	return s.stat(p)
}

type nodeKind int

const (
	nodeRegular nodeKind = iota + 1
	nodeBlock
)

// node is what stat(2) says about a path.
type node struct {
	kind      nodeKind
	size      int64
	dev, rdev uint64
}

// geometryInfo is what the ioctls say about a block device.
type geometryInfo struct {
	size     int64
	lss, pss int
	ro       bool
}

// blockEntry is a disk or partition in sysfs.
type blockEntry struct {
	name   string
	dir    string // sysfs directory relative to System.Sys
	parent string // disk name of a partition, "" for a disk
}

// maxSysfsFile bounds reads of sysfs attributes (they are at most a page).
const maxSysfsFile = 64 << 10

func (s *System) readAttr(p string) (string, error) {
	f, err := s.Sys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysfsFile))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// attr reads a sysfs attribute, trimmed; "" when absent.
func (s *System) attr(p string) string {
	v, err := s.readAttr(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}

func (s *System) attrInt(p string) (int64, bool) {
	v, err := strconv.ParseInt(s.attr(p), 10, 64)
	return v, err == nil
}

func (s *System) exists(p string) bool {
	_, err := fs.Stat(s.Sys, p)
	return err == nil
}

// entries lists every disk and partition in sysfs.
func (s *System) entries() ([]blockEntry, error) {
	disks, err := fs.ReadDir(s.Sys, "block")
	if err != nil {
		return nil, fmt.Errorf("read sysfs block directory: %w", err)
	}
	var out []blockEntry
	for _, d := range disks {
		dir := path.Join("block", d.Name())
		out = append(out, blockEntry{name: d.Name(), dir: dir})
		out = append(out, s.partitionsOf(d.Name())...)
	}
	return out, nil
}

// partitionsOf lists the partitions of disk, by partition number.
func (s *System) partitionsOf(disk string) []blockEntry {
	dir := path.Join("block", disk)
	subs, err := fs.ReadDir(s.Sys, dir)
	if err != nil {
		return nil
	}
	var parts []blockEntry
	for _, sub := range subs {
		p := path.Join(dir, sub.Name())
		if s.exists(path.Join(p, "partition")) {
			parts = append(parts, blockEntry{name: sub.Name(), dir: p, parent: disk})
		}
	}
	sort.SliceStable(parts, func(i, j int) bool {
		a, _ := s.attrInt(path.Join(parts[i].dir, "partition"))
		b, _ := s.attrInt(path.Join(parts[j].dir, "partition"))
		return a < b
	})
	return parts
}

// lookupName finds a disk or partition by kernel name.
func (s *System) lookupName(name string) (blockEntry, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return blockEntry{}, fmt.Errorf("invalid block device name %q", name)
	}
	if s.exists(path.Join("block", name, "dev")) {
		return blockEntry{name: name, dir: path.Join("block", name)}, nil
	}
	all, err := s.entries()
	if err != nil {
		return blockEntry{}, err
	}
	for _, e := range all {
		if e.name == name {
			return e, nil
		}
	}
	return blockEntry{}, fmt.Errorf("block device %s not found in sysfs: %w", name, fs.ErrNotExist)
}

// lookupDev finds a disk or partition by device number.
func (s *System) lookupDev(major, minor uint32) (blockEntry, error) {
	want := fmt.Sprintf("%d:%d", major, minor)
	all, err := s.entries()
	if err != nil {
		return blockEntry{}, err
	}
	for _, e := range all {
		if s.attr(path.Join(e.dir, "dev")) == want {
			return e, nil
		}
	}
	return blockEntry{}, fmt.Errorf("block device %s not found in sysfs: %w", want, fs.ErrNotExist)
}

// devNum reads a sysfs "dev" attribute ("MAJ:MIN").
func (s *System) devNum(dir string) (major, minor uint32, err error) {
	v := s.attr(path.Join(dir, "dev"))
	ma, mi, ok := strings.Cut(v, ":")
	a, err1 := strconv.ParseUint(ma, 10, 32)
	b, err2 := strconv.ParseUint(mi, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad device number %q in sysfs %s/dev", v, dir)
	}
	return uint32(a), uint32(b), nil
}

// holders lists the names in dir/holders.
func (s *System) holders(dir string) []string {
	ents, err := fs.ReadDir(s.Sys, path.Join(dir, "holders"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, Sanitize(e.Name()))
	}
	return out
}

// Stats are the block layer's I/O counters of a device
// (Documentation/block/stat.rst). Sectors are 512-byte units whatever the
// device's sector size.
type Stats struct {
	ReadsCompleted  int64
	SectorsRead     int64
	WritesCompleted int64
	SectorsWritten  int64
}

// WriteStats reads the counters of disk or partition name on the running
// machine.
func WriteStats(name string) (Stats, error) {
	return DefaultSystem().WriteStats(name)
}

// WriteStats reads sysfs block/.../NAME/stat: field 1 reads completed,
// field 3 sectors read, field 5 writes completed, field 7 sectors written.
// A disk's counters include the I/O of its partitions.
func (s *System) WriteStats(name string) (Stats, error) {
	e, err := s.lookupName(name)
	if err != nil {
		return Stats{}, fmt.Errorf("stat counters of %s: %w", name, err)
	}
	raw, err := s.readAttr(path.Join(e.dir, "stat"))
	if err != nil {
		return Stats{}, fmt.Errorf("stat counters of %s: %w", name, err)
	}
	return parseStat(name, raw)
}

func parseStat(name, raw string) (Stats, error) {
	f := strings.Fields(raw)
	if len(f) < 7 {
		return Stats{}, fmt.Errorf("stat counters of %s: %d fields, want at least 7", name, len(f))
	}
	var v [7]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return Stats{}, fmt.Errorf("stat counters of %s: field %d: %w", name, i+1, err)
		}
		v[i] = n
	}
	return Stats{ReadsCompleted: v[0], SectorsRead: v[2], WritesCompleted: v[4], SectorsWritten: v[6]}, nil
}

// mounts reads the mount table of the System.
func (s *System) mounts() ([]Mount, error) {
	if s.Proc == nil {
		return nil, nil
	}
	f, err := s.Proc.Open("self/mountinfo")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	return ParseMountInfo(f)
}
