package blockdev

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// ErrInUse: the device, or a partition of it, is mounted read-write or held
// by another block device (device-mapper, md, bcache). Such writers already
// hold the device, and the kernel's read-only flag does not stop them.
var ErrInUse = errors.New("in use by writers the read-only flag does not stop")

// ErrStillReadOnly: a device could not be made writable again.
var ErrStillReadOnly = errors.New("still read-only")

// Writer is something that can write to a device even after its read-only
// flag is set: a filesystem mounted read-write, or a holder.
type Writer struct {
	Device string `json:"device"` // node of the disk or partition, "/dev/sdb1"
	Kind   string `json:"kind"`   // "mount" or "holder"
	What   string `json:"what"`   // mount point, or holder name ("dm-0")
}

func (w Writer) String() string {
	if w.Kind == "mount" {
		return fmt.Sprintf("%s is mounted read-write on %s", w.Device, w.What)
	}
	return fmt.Sprintf("%s is held by %s", w.Device, w.What)
}

// InUseError is returned by [System.WriteBlockOn] when writers are present
// and Force is not set; nothing was changed.
type InUseError struct {
	Path    string
	Writers []Writer
}

func (e *InUseError) Error() string {
	var ws []string
	for _, w := range e.Writers {
		ws = append(ws, w.String())
	}
	return fmt.Sprintf("write-block %s: not protected: %s (%s); they would keep writing to the device", e.Path, strings.Join(ws, "; "), ErrInUse)
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// WriteBlockOptions says how [System.WriteBlockOn] and [System.WriteBlockOff]
// treat a device.
type WriteBlockOptions struct {
	// Force sets the flag although writers are present (they are still
	// listed in the result and recorded).
	Force bool
	// PartitionOnly: given a partition, change only that partition, not its
	// disk and the disk's other partitions. On Linux a partition's flag does
	// not stop writes through the disk node into its sectors.
	PartitionOnly bool
	// State records the counters when protection begins and is cleared by
	// WriteBlockOff; nil records nothing.
	State *StateStore
	// By is recorded as who started the protection ("on" when empty).
	By string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DeviceState is the read-only state of one device, as both the kernel's
// ioctl (BLKROGET) and sysfs ("ro") report it.
type DeviceState struct {
	Path        string `json:"path"`
	Name        string `json:"name"`
	WasReadOnly bool   `json:"was_read_only"`
	IoctlRO     bool   `json:"blkroget"`
	SysfsRO     bool   `json:"sysfs_ro"`
	Error       string `json:"error,omitempty"`
}

// ReadOnly reports whether both sources agree the device is read-only.
func (d DeviceState) ReadOnly() bool { return d.Error == "" && d.IoctlRO && d.SysfsRO }

// Writable reports whether both sources agree the device is writable.
func (d DeviceState) Writable() bool { return d.Error == "" && !d.IoctlRO && !d.SysfsRO }

// WriteBlockResult is the outcome of [System.WriteBlockOn] or
// [System.WriteBlockOff] for one argument.
type WriteBlockResult struct {
	Target  string        `json:"target"`
	Disk    string        `json:"disk"`
	Devices []DeviceState `json:"devices"`
	Writers []Writer      `json:"writers"`
	// Protection is what [System.WriteBlockOff] measured from the state
	// record it removed; nil when there was none (or for on).
	Protection *ProtectionSummary `json:"protection,omitempty"`
}

// ProtectionSummary is how a protection ended: since when, by whom, and
// the sectors written to the target meanwhile (see [System.WrittenSince]).
type ProtectionSummary struct {
	Since            time.Time `json:"protected_since"`
	By               string    `json:"protected_by"`
	SectorsWritten   int64     `json:"sectors_written_while_protected"`
	CountersCompared []string  `json:"counters_compared"`
}

// WriteBlockOn sets and confirms the read-only flag on path's disk and all
// its partitions (path may be the disk or one of its partitions; see
// PartitionOnly). Before anything is changed it looks for writers the flag
// does not stop (read-write mounts of the disk or its partitions, holders):
// if there are any and not o.Force, it changes nothing and returns an
// [*InUseError]. The counters of every device are recorded in o.State just
// before the flags are set (an existing record of the same medium is kept,
// so protection's start does not move). A device that cannot be confirmed
// read-only by both BLKROGET and sysfs gives an error wrapping
// [ErrNotProtected]; for whole disks the flags set are then rolled back, as
// [Protect] does.
func (s *System) WriteBlockOn(p string, o WriteBlockOptions) (*WriteBlockResult, error) {
	info, targets, err := s.writeBlockTargets(p, o.PartitionOnly)
	if err != nil {
		return nil, err
	}
	res := &WriteBlockResult{Target: p, Disk: s.nodePath(info.DiskName()), Writers: []Writer{}}
	res.Writers, err = s.writersOf(targets)
	if err != nil {
		return nil, fmt.Errorf("write-block %s: %w", p, err)
	}
	if len(res.Writers) > 0 && !o.Force {
		res.Devices = s.deviceStates(targets, nil)
		return res, &InUseError{Path: p, Writers: res.Writers}
	}
	var rec *StateRecord
	if o.State != nil {
		rec = s.newRecord(info, targets, o)
	}
	wasRO := map[string]bool{}
	var setErr error
	if o.PartitionOnly && info.Kind == KindPartition {
		node := s.nodePath(info.Name)
		wasRO[node], _ = ReadOnly(node)
		setErr = SetReadOnly(node, true)
	} else {
		var pr *Protection
		pr, setErr = s.Protect(p)
		if pr != nil {
			wasRO = pr.wasRO
		}
	}
	res.Devices = s.deviceStates(targets, wasRO)
	if setErr != nil {
		return res, setErr
	}
	var bad []string
	for _, d := range res.Devices {
		if !d.ReadOnly() {
			bad = append(bad, d.Path)
		}
	}
	if len(bad) > 0 {
		return res, fmt.Errorf("write-block %s: %w: %s not read-only", p, ErrNotProtected, strings.Join(bad, ", "))
	}
	if rec != nil {
		for i := range rec.Devices {
			rec.Devices[i].WasReadOnly = wasRO[rec.Devices[i].Path]
		}
		rec.Writers = res.Writers
		if err := s.saveRecord(o.State, rec); err != nil {
			return res, fmt.Errorf("write-block %s: protected, but %w", p, err)
		}
	}
	return res, nil
}

// WriteBlockOff clears the read-only flag of path's disk and all its
// partitions (partitions first), or with PartitionOnly of the partition
// alone, confirms that they are writable and removes the state record.
// Writable means both BLKROGET and sysfs say so; a partition of a disk that
// stays read-only stays read-only, which gives an error wrapping
// [ErrStillReadOnly].
func (s *System) WriteBlockOff(p string, o WriteBlockOptions) (*WriteBlockResult, error) {
	info, targets, err := s.writeBlockTargets(p, o.PartitionOnly)
	if err != nil {
		return nil, err
	}
	res := &WriteBlockResult{Target: p, Disk: s.nodePath(info.DiskName()), Writers: []Writer{}}
	if o.State != nil {
		// The last look at what was written while the device was
		// protected, before its flags are cleared and the record goes.
		if rec, err := o.State.Load(info.DiskName()); err == nil {
			if w, ok := s.WrittenSince(rec, info.Name); ok {
				res.Protection = &ProtectionSummary{Since: rec.ProtectedAt, By: rec.By, SectorsWritten: w.Sectors, CountersCompared: w.Counters}
			}
		}
	}
	wasRO := map[string]bool{}
	for _, t := range targets {
		wasRO[s.nodePath(t.name)], _ = ReadOnly(s.nodePath(t.name))
	}
	var errs []error
	for i := len(targets) - 1; i >= 0; i-- { // partitions before the disk
		if err := SetReadOnly(s.nodePath(targets[i].name), false); err != nil {
			errs = append(errs, err)
		}
	}
	res.Devices = s.deviceStates(targets, wasRO)
	for _, d := range res.Devices {
		if !d.Writable() {
			errs = append(errs, fmt.Errorf("%s: %w", d.Path, ErrStillReadOnly))
		}
	}
	if o.State != nil {
		disk := info.DiskName()
		if o.PartitionOnly && info.Kind == KindPartition {
			if rec, err := o.State.Load(disk); err == nil {
				var keep []StateDevice
				for _, d := range rec.Devices {
					if d.Name != info.Name {
						keep = append(keep, d)
					}
				}
				rec.Devices = keep
				if len(keep) == 0 {
					errs = append(errs, o.State.Remove(disk))
				} else {
					errs = append(errs, o.State.Save(rec))
				}
			}
		} else {
			errs = append(errs, o.State.Remove(disk))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("clear write-block of %s: %w", p, err)
	}
	return res, nil
}

// writeBlockTargets resolves p to its Info and the devices to change: the
// disk and its partitions, or the partition alone.
func (s *System) writeBlockTargets(p string, partitionOnly bool) (*Info, []blockEntry, error) {
	info, err := s.Inspect(p)
	if err != nil {
		return nil, nil, err
	}
	if info.Kind == KindRegular {
		return nil, nil, fmt.Errorf("%s: %w", p, ErrNotBlockDevice)
	}
	if partitionOnly && info.Kind == KindPartition {
		e, err := s.lookupName(info.Name)
		if err != nil {
			return nil, nil, err
		}
		return info, []blockEntry{e}, nil
	}
	disk := info.DiskName()
	targets := []blockEntry{{name: disk, dir: path.Join("block", disk)}}
	targets = append(targets, s.partitionsOf(disk)...)
	return info, targets, nil
}

func (s *System) deviceStates(targets []blockEntry, wasRO map[string]bool) []DeviceState {
	var out []DeviceState
	for _, t := range targets {
		d := DeviceState{Path: s.nodePath(t.name), Name: t.name, WasReadOnly: wasRO[s.nodePath(t.name)]}
		ro, err := ReadOnly(d.Path)
		if err != nil {
			d.Error = err.Error()
		}
		d.IoctlRO = ro
		switch v := s.attr(path.Join(t.dir, "ro")); v {
		case "1":
			d.SysfsRO = true
		case "0":
		default:
			if d.Error == "" {
				d.Error = fmt.Sprintf("sysfs ro reads %q", v)
			}
		}
		out = append(out, d)
	}
	return out
}

// writersOf lists read-write mounts and holders of the targets.
func (s *System) writersOf(targets []blockEntry) ([]Writer, error) {
	mounts, err := s.rwMounts()
	if err != nil {
		return nil, err
	}
	out := []Writer{}
	for _, t := range targets {
		ma, mi, err := s.devNum(t.dir)
		if err != nil {
			return nil, err
		}
		for _, m := range mounts {
			if m.Major == ma && m.Minor == mi {
				out = append(out, Writer{Device: s.nodePath(t.name), Kind: "mount", What: m.MountPoint})
			}
		}
		for _, h := range s.holders(t.dir) {
			out = append(out, Writer{Device: s.nodePath(t.name), Kind: "holder", What: h})
		}
	}
	return out, nil
}

// rwMounts lists the mounts whose filesystem is read-write (Mount.ReadWrite).
func (s *System) rwMounts() ([]Mount, error) {
	all, err := s.mounts()
	if err != nil {
		return nil, err
	}
	var out []Mount
	for _, m := range all {
		if m.ReadWrite {
			out = append(out, m)
		}
	}
	return out, nil
}

// newRecord reads the identity and the counters of the targets.
func (s *System) newRecord(info *Info, targets []blockEntry, o WriteBlockOptions) *StateRecord {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	disk := info.DiskName()
	rec := &StateRecord{Disk: disk, Path: s.nodePath(disk), By: o.By, ProtectedAt: now().UTC(),
		PartitionOnly: o.PartitionOnly && info.Kind == KindPartition, DiskSeq: s.diskSeq(disk)}
	if rec.By == "" {
		rec.By = "on"
	}
	dir := path.Join("block", disk)
	rec.Major, rec.Minor, _ = s.devNum(dir)
	sectors, _ := s.attrInt(path.Join(dir, "size"))
	rec.Size = sectors * 512
	id := &Info{}
	s.identity(id, dir)
	rec.Model, rec.Serial = id.Model, id.Serial
	for _, t := range targets {
		st, err := s.WriteStats(t.name)
		if err != nil {
			continue
		}
		rec.Devices = append(rec.Devices, StateDevice{Name: t.name, Path: s.nodePath(t.name),
			SectorsWritten: st.SectorsWritten, WritesDone: st.WritesCompleted})
	}
	rec.Baseline = s.baselineOf(disk)
	return rec
}

// baselineOf reads the counters of disk and of every partition of it, for
// StateRecord.Baseline. The disk's counter is read first: a write through a
// partition between the reads then counts later as a write through the disk
// node (a false alarm), never the other way round (a hidden one).
func (s *System) baselineOf(disk string) []StateDevice {
	st, err := s.WriteStats(disk)
	if err != nil {
		return nil // without the disk's counter the partitions' are of no use
	}
	out := []StateDevice{{Name: disk, Path: s.nodePath(disk), SectorsWritten: st.SectorsWritten, WritesDone: st.WritesCompleted}}
	for _, pe := range s.partitionsOf(disk) {
		if st, err := s.WriteStats(pe.name); err == nil {
			out = append(out, StateDevice{Name: pe.name, Path: s.nodePath(pe.name), SectorsWritten: st.SectorsWritten, WritesDone: st.WritesCompleted})
		}
	}
	return out
}

// saveRecord stores rec, keeping the start of an existing record of the
// same medium (and adding devices it lacks).
func (s *System) saveRecord(st *StateStore, rec *StateRecord) error {
	if old, err := st.Load(rec.Disk); err == nil && s.recordCurrent(old) {
		for _, d := range rec.Devices {
			if _, ok := old.device(d.Name); !ok {
				old.Devices = append(old.Devices, d)
			}
		}
		old.PartitionOnly = old.PartitionOnly && rec.PartitionOnly
		old.Writers = append(old.Writers, rec.Writers...)
		if _, ok := old.baseline(old.Disk); !ok {
			old.Baseline = rec.Baseline // a record of an older version
		}
		rec = old
	}
	return st.Save(rec)
}

// DiskSeq returns the kernel's sequence number of the medium now in disk
// (sysfs block/DISK/diskseq; 0 when the kernel has none). A new medium, or
// the same file attached again to a loop device, gets a new number.
func DiskSeq(disk string) uint64 { return DefaultSystem().diskSeq(disk) }

// diskSeq reads sysfs block/DISK/diskseq (0 when absent).
func (s *System) diskSeq(disk string) uint64 {
	v, _ := strconv.ParseUint(s.attr(path.Join("block", disk, "diskseq")), 10, 64)
	return v
}

// recordCurrent reports whether rec describes the medium now in its disk:
// same device number and diskseq, and no counter gone backwards.
func (s *System) recordCurrent(rec *StateRecord) bool {
	ma, mi, err := s.devNum(path.Join("block", rec.Disk))
	if err != nil || ma != rec.Major || mi != rec.Minor || s.diskSeq(rec.Disk) != rec.DiskSeq {
		return false
	}
	for _, d := range rec.Devices {
		st, err := s.WriteStats(d.Name)
		if err == nil && st.SectorsWritten < d.SectorsWritten {
			return false
		}
	}
	if d, ok := rec.baseline(rec.Disk); ok {
		if st, err := s.WriteStats(d.Name); err == nil && st.SectorsWritten < d.SectorsWritten {
			return false
		}
	}
	return true
}

// WriteBlockStatus describes the named devices, or with no names every
// disk in sysfs (skipping loop devices with nothing attached), with
// SectorsWrittenSinceProtected and CountersCompared filled from st's
// records (see [System.WrittenSince]).
func (s *System) WriteBlockStatus(paths []string, st *StateStore) ([]*Info, error) {
	if len(paths) == 0 {
		disks, err := fs.ReadDir(s.Sys, "block")
		if err != nil {
			return nil, fmt.Errorf("read sysfs block directory: %w", err)
		}
		for _, d := range disks {
			if s.unboundLoop(d.Name()) {
				continue
			}
			paths = append(paths, s.nodePath(d.Name()))
		}
	}
	out := []*Info{}
	for _, p := range paths {
		info, err := s.Inspect(p)
		if err != nil {
			return out, err
		}
		if info.Kind == KindRegular {
			return out, fmt.Errorf("%s: %w", p, ErrNotBlockDevice)
		}
		if rec, err := st.Load(info.DiskName()); err == nil {
			if w, ok := s.WrittenSince(rec, info.Name); ok {
				n := w.Sectors
				info.SectorsWrittenSinceProtected = &n
				info.CountersCompared = w.Counters
			}
		}
		out = append(out, info)
	}
	return out, nil
}

func (s *System) unboundLoop(name string) bool {
	if !strings.HasPrefix(name, "loop") {
		return false
	}
	size, _ := s.attrInt(path.Join("block", name, "size"))
	return size == 0 && !s.exists(path.Join("block", name, "loop/backing_file"))
}

// UdevBlockdevReadOnly reports whether the kernel command line turns on
// systemd-udevd's udev.blockdev_read_only (or rd.udev.blockdev_read_only):
// udevd then marks every new physical block device read-only itself.
func (s *System) UdevBlockdevReadOnly() bool {
	if s.Proc == nil {
		return false
	}
	f, err := s.Proc.Open("cmdline")
	if err != nil {
		return false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	return cmdlineBlockdevRO(string(b))
}

func cmdlineBlockdevRO(cmdline string) bool {
	on := false
	for _, w := range strings.Fields(cmdline) {
		if w == "--" {
			break // the rest goes to init
		}
		k, v, hasV := strings.Cut(w, "=")
		if k != "udev.blockdev_read_only" && k != "rd.udev.blockdev_read_only" {
			continue
		}
		if !hasV {
			on = true
			continue
		}
		switch strings.ToLower(v) {
		case "1", "yes", "y", "true", "t", "on":
			on = true
		case "0", "no", "n", "false", "f", "off":
			on = false
		}
	}
	return on
}
