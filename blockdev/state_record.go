package blockdev

import (
	"fmt"
	"path"
)

// Record stores a state record of pr's disk in st, as "writeblock on"
// does, with by as who protected it ("acquire"), so that "writeblock
// status" can later show the sectors written since protection began. An
// existing record of the same medium is kept (protection began then, not
// now), and created is false. The counters recorded are read now, right
// after the flags were set.
func (pr *Protection) Record(st *StateStore, by string) (created bool, err error) {
	s := pr.sys
	info, err := s.Inspect(pr.Disk)
	if err != nil {
		return false, fmt.Errorf("write-block record of %s: %w", pr.diskName, err)
	}
	if old, err := st.Load(pr.diskName); err == nil && s.recordCurrent(old) {
		return false, nil
	}
	targets := append([]blockEntry{{name: pr.diskName, dir: path.Join("block", pr.diskName)}}, s.partitionsOf(pr.diskName)...)
	rec := s.newRecord(info, targets, WriteBlockOptions{By: by})
	for i := range rec.Devices {
		rec.Devices[i].WasReadOnly = pr.wasRO[rec.Devices[i].Path]
	}
	if err := st.Save(rec); err != nil {
		return false, err
	}
	return true, nil
}
