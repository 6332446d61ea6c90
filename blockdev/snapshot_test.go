package blockdev

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testdata/sysfs/checkpoint-{a,b,c} are loop5 at three checkpoints: a,
// protected; b, the same medium with the disk's flag cleared (so its first
// partition's too), 64 sectors written through loop5p1 and 8 through the
// disk node; c, another medium in the same node, twice the size, with one
// partition.
func snapshotFixture(t *testing.T, name string) DiskState {
	t.Helper()
	st, err := fixtureSystem(t, name, nil).Snapshot("loop5")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSnapshotFixture(t *testing.T) {
	want := DiskState{Disk: "loop5", DiskSeq: 40, Size: 65536 * 512, ReadOnly: true, SectorsWritten: 1000,
		Partitions: []PartitionState{
			{Name: "loop5p1", Size: 30720 * 512, ReadOnly: true, SectorsWritten: 300},
			{Name: "loop5p2", Size: 30720 * 512, ReadOnly: true, SectorsWritten: 200},
		}}
	if diff := cmp.Diff(want, snapshotFixture(t, "checkpoint-a")); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
	s := fixtureSystem(t, "checkpoint-a", nil)
	for _, bad := range []string{"loop5p1", "loop9", "", "../loop5", "a/b"} {
		if _, err := s.Snapshot(bad); err == nil {
			t.Errorf("Snapshot(%q) accepted", bad)
		}
	}
	// Counters that cannot be read fail the snapshot rather than read as 0.
	if st, err := fixtureSystem(t, "basic", nil).Snapshot("nvme0n1"); err == nil || !strings.Contains(err.Error(), "stat") {
		t.Errorf("nvme0n1 of the basic fixture has no stat file, yet: %+v, %v", st, err)
	}
}

func TestDiskStateChanges(t *testing.T) {
	a, b, c := snapshotFixture(t, "checkpoint-a"), snapshotFixture(t, "checkpoint-b"), snapshotFixture(t, "checkpoint-c")
	for _, tc := range []struct {
		name     string
		from, to DiskState
		want     []string
	}{
		{"nothing", a, a, nil},
		{"flag cleared and written", a, b, []string{
			"the read-only flag of loop5 was cleared",
			"72 sectors (36864 bytes) were written to loop5 (sectors-written counter 1000, then 1072)",
			"the read-only flag of loop5p1 was cleared",
			"64 sectors (32768 bytes) were written to loop5p1 (sectors-written counter 300, then 364)",
		}},
		{"another medium", a, c, []string{
			"loop5 holds a different medium: diskseq 40 became 41",
			"the size of loop5 changed from 33554432 to 67108864 bytes",
			"the read-only flag of loop5 was cleared",
			"the size of partition loop5p1 changed from 15728640 to 66060288 bytes",
			"the read-only flag of loop5p1 was cleared",
			"partition loop5p2 disappeared",
		}},
		{"made read-only, counters back", b, a, []string{
			"the sectors-written counter of loop5 went back from 1072 to 1000: the counters were reset, so writes may have gone unseen",
			"the sectors-written counter of loop5p1 went back from 364 to 300: the counters were reset, so writes may have gone unseen",
		}},
		{"a partition appeared", c, DiskState{Disk: "loop5", DiskSeq: 41, Size: c.Size, SectorsWritten: 8,
			Partitions: append(append([]PartitionState{}, c.Partitions...), PartitionState{Name: "loop5p2", Size: 4096, ReadOnly: true})},
			[]string{"partition loop5p2 appeared (4096 bytes, read-only)"}},
		{"another disk", a, DiskState{Disk: "loop6"}, []string{"the snapshots are of different disks, loop5 and loop6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.from.Changes(tc.to)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Changes (-want +got):\n%s", diff)
			}
			for _, s := range got {
				if strings.ContainsAny(s, "\n") || strings.HasSuffix(s, ".") {
					t.Errorf("not one sentence without a trailing period: %q", s)
				}
			}
		})
	}
}
