package blockdev

// WrittenCount is what [System.WrittenSince] measured: the sectors written
// (512-byte units) and the counters it compared to get them.
type WrittenCount struct {
	Sectors int64
	// Counters are the kernel names of the devices whose sysfs stat
	// counters were compared, the disk first: ["loop3", "loop3p1",
	// "loop3p2"].
	Counters []string
}

// WrittenSince is the number of sectors written to the device named name
// (the disk of rec or one of its partitions) since rec's protection began,
// and false when rec does not cover name or no longer describes the medium
// in the disk.
//
// Linux counts a write on the counters of the node it was made through: a
// write through a partition's node rises that partition's counter and the
// disk's; a write through the disk node, also one into a partition's
// sectors, rises only the disk's. The counters cannot tell where on the
// disk such a write landed. So:
//
//   - for the disk of a whole-disk protection, the disk's counter alone
//     (it includes everything);
//   - for a partition, its own counter plus every write through the disk
//     node since protection began: the rise of the disk's counter less the
//     rises of all its partitions' counters. That is also counted when the
//     disk was made read-only with the partition, since a disk whose flag
//     was cleared for a while, or a holder of the whole disk, writes
//     through the disk node. A write through the disk node into another
//     partition's sectors is counted too: better a false alarm than a
//     write missed;
//   - for the disk of a partition-only protection, the protected
//     partitions' own writes plus the writes through the disk node.
//
// Records of older versions, which have no baseline of the disk and every
// partition, give the device's own counter alone; Counters then says so.
func (s *System) WrittenSince(rec *StateRecord, name string) (WrittenCount, bool) {
	if rec == nil || !s.recordCurrent(rec) {
		return WrittenCount{}, false
	}
	c := counterReader{s: s, now: map[string]int64{}}
	if d, ok := rec.device(name); ok && name == rec.Disk && !rec.PartitionOnly {
		n, ok := c.rise(d)
		return WrittenCount{Sectors: n, Counters: []string{name}}, ok
	}
	var own []StateDevice
	switch d, ok := rec.device(name); {
	case ok && name != rec.Disk:
		own = []StateDevice{d}
	case name == rec.Disk && rec.PartitionOnly:
		for _, d := range rec.Devices {
			if d.Name != rec.Disk {
				own = append(own, d)
			}
		}
	}
	if len(own) == 0 {
		return WrittenCount{}, false
	}
	// The partitions are read before the disk: a write through a
	// partition between the reads then shows on the disk only, a false
	// alarm rather than a hidden write.
	var w WrittenCount
	for _, d := range own {
		n, ok := c.rise(d)
		if !ok {
			return WrittenCount{}, false
		}
		w.Sectors += n
	}
	direct, names, ok := c.throughDisk(rec)
	if !ok {
		for _, d := range own {
			w.Counters = append(w.Counters, d.Name)
		}
		return w, true
	}
	w.Sectors += direct
	w.Counters = names
	return w, true
}

// counterReader reads each device's sectors-written counter once.
type counterReader struct {
	s   *System
	now map[string]int64
}

func (c *counterReader) read(name string) (int64, bool) {
	if v, ok := c.now[name]; ok {
		return v, true
	}
	st, err := c.s.WriteStats(name)
	if err != nil {
		return 0, false
	}
	c.now[name] = st.SectorsWritten
	return st.SectorsWritten, true
}

// rise is the rise of d's counter since d was recorded.
func (c *counterReader) rise(d StateDevice) (int64, bool) {
	v, ok := c.read(d.Name)
	return v - d.SectorsWritten, ok
}

// throughDisk is the number of sectors written through the disk node of
// rec since its baseline: the rise of the disk's counter less the rises of
// the counters of all the disk's partitions now. A partition without a
// baseline (added since), or whose counter went back (removed and added
// again), counts from 0: its writes all came after the baseline. A
// partition removed since takes its writes with it, and they then count as
// writes through the disk node. It names the counters read, the disk
// first, and is false without a baseline of the disk.
func (c *counterReader) throughDisk(rec *StateRecord) (int64, []string, bool) {
	base, ok := rec.baseline(rec.Disk)
	if !ok {
		return 0, nil, false
	}
	parts := c.s.partitionsOf(rec.Disk)
	var partRise int64
	var names []string
	for _, pe := range parts {
		v, ok := c.read(pe.name)
		if !ok {
			return 0, nil, false
		}
		if b, ok := rec.baseline(pe.name); ok && v >= b.SectorsWritten {
			v -= b.SectorsWritten
		}
		partRise += v
		names = append(names, pe.name)
	}
	disk, ok := c.read(rec.Disk)
	if !ok {
		return 0, nil, false
	}
	direct := disk - base.SectorsWritten - partRise
	if direct < 0 {
		// Only a partition counted from 0 that was written before the
		// baseline can make the partitions rise more than their disk.
		direct = 0
	}
	return direct, append([]string{rec.Disk}, names...), true
}
