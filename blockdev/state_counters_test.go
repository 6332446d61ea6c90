package blockdev

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWrittenSinceFixture: testdata/sysfs/counters is loop3 with two
// partitions after writes: since the baseline below, 5 sectors were written
// through loop3p1, 30 through loop3p2 and 8 through the disk node (the
// disk's counter rose by 43, its partitions' by 35).
func TestWrittenSinceFixture(t *testing.T) {
	s := fixtureSystem(t, "counters", nil)
	baseline := []StateDevice{{Name: "loop3", SectorsWritten: 100}, {Name: "loop3p1", SectorsWritten: 10}, {Name: "loop3p2", SectorsWritten: 20}}
	all := []string{"loop3", "loop3p1", "loop3p2"}
	rec := func(partitionOnly bool, devices, base []StateDevice) *StateRecord {
		return &StateRecord{Schema: StateSchema, Disk: "loop3", Major: 7, Minor: 3, DiskSeq: 12,
			PartitionOnly: partitionOnly, Devices: devices, Baseline: base}
	}
	p1Only := rec(true, baseline[1:2], baseline)
	whole := rec(false, baseline, baseline)
	type want struct {
		sectors  int64
		counters []string
		ok       bool
	}
	for _, tc := range []struct {
		name string
		rec  *StateRecord
		dev  string
		want want
	}{
		// --partition-only: the disk node stays writable, and its 8
		// sectors may have landed in loop3p1; loop3p2's own 30 did not.
		{"partition-only, the partition", p1Only, "loop3p1", want{5 + 8, all, true}},
		{"partition-only, the disk", p1Only, "loop3", want{5 + 8, all, true}},
		{"partition-only, a sibling not protected", p1Only, "loop3p2", want{}},
		// Whole disk: the disk's counter includes everything; a partition
		// gets its own writes and those through the disk node.
		{"whole disk, the disk", whole, "loop3", want{43, []string{"loop3"}, true}},
		{"whole disk, a partition", whole, "loop3p1", want{5 + 8, all, true}},
		{"whole disk, the other partition", whole, "loop3p2", want{30 + 8, all, true}},
		// A whole-disk record of an older version (no baseline): Devices
		// were read together and serve as one.
		{"old whole-disk record", rec(false, baseline, nil), "loop3p1", want{5 + 8, all, true}},
		// An older partition-only record knows no disk counter: the
		// partition's own, and it says so.
		{"old partition-only record", rec(true, baseline[1:2], nil), "loop3p1", want{5, []string{"loop3p1"}, true}},
		// A sibling re-created since (its counter went back) counts from
		// 0: its 50 exceed the rise the disk can explain, nothing is left
		// for the disk node.
		{"sibling re-created", rec(true, baseline[1:2], []StateDevice{baseline[0], baseline[1], {Name: "loop3p2", SectorsWritten: 60}}), "loop3p1", want{5, all, true}},
		{"another medium", &StateRecord{Disk: "loop3", Major: 7, Minor: 3, DiskSeq: 11, Devices: baseline, Baseline: baseline}, "loop3p1", want{}},
		{"counter gone back", rec(false, []StateDevice{{Name: "loop3", SectorsWritten: 500}}, nil), "loop3", want{}},
		{"no record", nil, "loop3", want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := s.WrittenSince(tc.rec, tc.dev)
			got := want{w.Sectors, w.Counters, ok}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("WrittenSince(%s) (-want +got):\n%s", tc.dev, diff)
			}
		})
	}
}

// TestNewRecordBaseline: a partition-only record keeps the counters of the
// disk and of every partition, not only of the partition it protects.
func TestNewRecordBaseline(t *testing.T) {
	s := fixtureSystem(t, "counters", map[string][2]uint32{"/dev/loop3p1": {259, 0}})
	info, err := s.Inspect("/dev/loop3p1")
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.lookupName("loop3p1")
	if err != nil {
		t.Fatal(err)
	}
	rec := s.newRecord(info, []blockEntry{e}, WriteBlockOptions{PartitionOnly: true, State: &StateStore{}})
	var names []string
	for _, d := range rec.Devices {
		names = append(names, d.Name)
	}
	if !rec.PartitionOnly || !cmp.Equal(names, []string{"loop3p1"}) {
		t.Errorf("devices %v, partition-only %t", names, rec.PartitionOnly)
	}
	want := []StateDevice{
		{Name: "loop3", Path: "/dev/loop3", SectorsWritten: 143, WritesDone: 40},
		{Name: "loop3p1", Path: "/dev/loop3p1", SectorsWritten: 15, WritesDone: 4},
		{Name: "loop3p2", Path: "/dev/loop3p2", SectorsWritten: 50, WritesDone: 12},
	}
	if diff := cmp.Diff(want, rec.Baseline); diff != "" {
		t.Errorf("baseline (-want +got):\n%s", diff)
	}
}
