package blockdev

import (
	"fmt"
	"path"
)

// DiskState is a cheap look at a disk from sysfs alone (no device is
// opened): which medium it holds, its size, the read-only flags and the
// sectors-written counters of the disk and of every partition. An
// acquisition takes one when it starts and one at every checkpoint, and
// [DiskState.Changes] says what happened in between.
type DiskState struct {
	// Disk is the kernel name, "sdb".
	Disk string `json:"disk"`
	// DiskSeq is the kernel's sequence number of the medium (sysfs
	// diskseq); another value means another medium. 0 when the kernel has
	// none.
	DiskSeq uint64 `json:"diskseq"`
	// Size in bytes (sysfs size, 512-byte units, whatever the sector size).
	Size int64 `json:"size"`
	// ReadOnly is sysfs ro of the disk: the kernel's read-only flag.
	ReadOnly bool `json:"read_only"`
	// SectorsWritten is field 7 of the disk's stat: 512-byte sectors
	// written through the disk node and through its partitions.
	SectorsWritten int64 `json:"sectors_written"`
	// Partitions are the disk's partitions, by number.
	Partitions []PartitionState `json:"partitions"`
}

// PartitionState is one partition in a [DiskState].
type PartitionState struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	ReadOnly bool   `json:"read_only"`
	// SectorsWritten counts writes through the partition's own node only.
	SectorsWritten int64 `json:"sectors_written"`
}

// Snapshot reads the state of disk (a kernel name such as "sdb", not a
// partition) on the running machine.
func Snapshot(disk string) (DiskState, error) {
	return DefaultSystem().Snapshot(disk)
}

// Snapshot reads sysfs block/DISK/{diskseq,size,ro,stat} and the same of
// every partition. The diskseq is read before and after the rest; if it
// changed meanwhile (a medium swapped while being read) the snapshot is
// read again, and after a second change it fails.
func (s *System) Snapshot(disk string) (DiskState, error) {
	if !validName(disk) {
		return DiskState{}, fmt.Errorf("snapshot: invalid disk name %q", disk)
	}
	for range 2 {
		before := s.diskSeq(disk)
		st, err := s.readDiskState(disk)
		if err != nil {
			return DiskState{}, fmt.Errorf("snapshot %s: %w", disk, err)
		}
		if s.diskSeq(disk) == before {
			return st, nil
		}
	}
	return DiskState{}, fmt.Errorf("snapshot %s: the medium changed while it was read", disk)
}

func (s *System) readDiskState(disk string) (DiskState, error) {
	e, err := s.lookupName(disk)
	if err != nil {
		return DiskState{}, err
	}
	if e.parent != "" {
		return DiskState{}, fmt.Errorf("%s is a partition of %s; snapshot the disk", disk, e.parent)
	}
	st := DiskState{Disk: disk, DiskSeq: s.diskSeq(disk), Partitions: []PartitionState{}}
	if st.Size, st.ReadOnly, st.SectorsWritten, err = s.deviceState(e); err != nil {
		return DiskState{}, err
	}
	for _, pe := range s.partitionsOf(disk) {
		ps := PartitionState{Name: pe.name}
		if ps.Size, ps.ReadOnly, ps.SectorsWritten, err = s.deviceState(pe); err != nil {
			return DiskState{}, err
		}
		st.Partitions = append(st.Partitions, ps)
	}
	return st, nil
}

// deviceState reads size, ro and the sectors-written counter of e.
func (s *System) deviceState(e blockEntry) (size int64, ro bool, written int64, err error) {
	sectors, ok := s.attrInt(path.Join(e.dir, "size"))
	if !ok || sectors < 0 {
		return 0, false, 0, fmt.Errorf("%s: no size in sysfs", e.name)
	}
	switch v := s.attr(path.Join(e.dir, "ro")); v {
	case "0":
	case "1":
		ro = true
	default:
		return 0, false, 0, fmt.Errorf("%s: sysfs ro reads %q", e.name, v)
	}
	raw, err := s.readAttr(path.Join(e.dir, "stat"))
	if err != nil {
		return 0, false, 0, fmt.Errorf("%s: stat counters: %w", e.name, err)
	}
	c, err := parseStat(e.name, raw)
	if err != nil {
		return 0, false, 0, err
	}
	return sectors * 512, ro, c.SectorsWritten, nil
}

// Changes describes, one sentence each, what changed from a (earlier) to b
// (later) that matters to an acquisition of the disk: another medium
// (diskseq), a size, a read-only flag cleared, partitions gone or added,
// and sectors written (a counter that rose, or went back). Counters are
// compared only while the medium is the same; a new medium's counters say
// nothing about the old one. No changes give an empty list.
func (a DiskState) Changes(b DiskState) []string {
	if a.Disk != b.Disk {
		return []string{fmt.Sprintf("the snapshots are of different disks, %s and %s", a.Disk, b.Disk)}
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	sameMedium := a.DiskSeq == b.DiskSeq
	if !sameMedium {
		add("%s holds a different medium: diskseq %d became %d", a.Disk, a.DiskSeq, b.DiskSeq)
	}
	if a.Size != b.Size {
		add("the size of %s changed from %d to %d bytes", a.Disk, a.Size, b.Size)
	}
	if a.ReadOnly && !b.ReadOnly {
		add("the read-only flag of %s was cleared", a.Disk)
	}
	if sameMedium {
		out = append(out, counterChange(a.Disk, a.SectorsWritten, b.SectorsWritten)...)
	}
	later := map[string]PartitionState{}
	for _, p := range b.Partitions {
		later[p.Name] = p
	}
	earlier := map[string]bool{}
	for _, p := range a.Partitions {
		earlier[p.Name] = true
		q, ok := later[p.Name]
		if !ok {
			add("partition %s disappeared", p.Name)
			continue
		}
		if p.Size != q.Size {
			add("the size of partition %s changed from %d to %d bytes", p.Name, p.Size, q.Size)
		}
		if p.ReadOnly && !q.ReadOnly {
			add("the read-only flag of %s was cleared", p.Name)
		}
		if sameMedium {
			out = append(out, counterChange(p.Name, p.SectorsWritten, q.SectorsWritten)...)
		}
	}
	for _, q := range b.Partitions {
		if !earlier[q.Name] {
			ro := "writable"
			if q.ReadOnly {
				ro = "read-only"
			}
			add("partition %s appeared (%d bytes, %s)", q.Name, q.Size, ro)
		}
	}
	return out
}

func counterChange(name string, from, to int64) []string {
	switch {
	case to > from:
		return []string{fmt.Sprintf("%d sectors (%d bytes) were written to %s (sectors-written counter %d, then %d)",
			to-from, (to-from)*512, name, from, to)}
	case to < from:
		return []string{fmt.Sprintf("the sectors-written counter of %s went back from %d to %d: the counters were reset, so writes may have gone unseen",
			name, from, to)}
	}
	return nil
}
