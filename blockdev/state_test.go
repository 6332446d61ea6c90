package blockdev

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStateStoreRoundTrip(t *testing.T) {
	st := &StateStore{Dir: t.TempDir() + "/wb"}
	if names, err := st.List(); err != nil || len(names) != 0 {
		t.Fatalf("empty store: %v %v", names, err)
	}
	rec := &StateRecord{Disk: "sdb", Path: "/dev/sdb", Major: 8, Minor: 16, DiskSeq: 7, Size: 1 << 30, Serial: "S1",
		ProtectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), By: "on",
		Devices: []StateDevice{{Name: "sdb", Path: "/dev/sdb", SectorsWritten: 10}, {Name: "sdb1", Path: "/dev/sdb1", SectorsWritten: 3}}}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load("sdb")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(st.Dir + "/sdb.json"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record file: %v %v, want mode 0600", fi, err)
	}
	if es, _ := os.ReadDir(st.Dir); len(es) != 1 {
		t.Errorf("left over files in the state folder: %v", es)
	}
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if names, _ := st.List(); !cmp.Equal(names, []string{"sdb"}) {
		t.Errorf("List = %v", names)
	}
	if err := st.Remove("sdb"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load("sdb"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove: %v", err)
	}
	if err := st.Remove("sdb"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	for _, bad := range []string{"", "..", "a/b", "x\n"} {
		if err := st.Save(&StateRecord{Disk: bad}); err == nil {
			t.Errorf("Save(%q) accepted", bad)
		}
	}
}

func TestCmdlineBlockdevRO(t *testing.T) {
	for cmdline, want := range map[string]bool{
		"quiet root=/dev/sda1":                               false,
		"quiet udev.blockdev_read_only":                      true,
		"rd.udev.blockdev_read_only=1":                       true,
		"udev.blockdev_read_only=0":                          false,
		"udev.blockdev_read_only udev.blockdev_read_only=no": false,
		"x -- udev.blockdev_read_only":                       false,
	} {
		if got := cmdlineBlockdevRO(cmdline); got != want {
			t.Errorf("%q: %v, want %v", cmdline, got, want)
		}
	}
}

func TestMountReadWrite(t *testing.T) {
	for line, want := range map[string]bool{
		"36 35 7:3 / /mnt rw,relatime shared:1 - ext4 /dev/loop3 rw,seclabel": true,
		"36 35 7:3 / /mnt ro,relatime shared:1 - ext4 /dev/loop3 rw,seclabel": true, // ro bind of a rw superblock
		"36 35 7:3 / /mnt ro,relatime - vfat /dev/loop3p1 ro,fmask=0022":      false,
		"36 35 7:3 / /mnt rw -": false,
	} {
		m, _ := parseMountLine(line)
		if got := m.ReadWrite; got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}

func TestUdevRule(t *testing.T) {
	rule, err := UdevRule(UdevRuleOptions{Exclude: []string{"vda*", "S3Z9NB0K123"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`SUBSYSTEM!="block", GOTO="custodian_writeblock_end"`,
		`ACTION!="add|change", GOTO="custodian_writeblock_end"`,
		`KERNELS=="vda*", GOTO="custodian_writeblock_end"`,
		`ENV{ID_SERIAL_SHORT}=="S3Z9NB0K123", GOTO="custodian_writeblock_end"`,
		`RUN+="/usr/sbin/blockdev --setro $devnode"`,
		`LABEL="custodian_writeblock_end"`,
	} {
		if !strings.Contains(rule, want) {
			t.Errorf("rule lacks %q:\n%s", want, rule)
		}
	}
	if strings.Index(rule, "RUN+=") < strings.Index(rule, `KERNELS==`) {
		t.Error("RUN comes before the exclusions")
	}
	for _, bad := range []string{`a"b`, "a\nb", `a\b`, "$x", ""} {
		if _, err := UdevRule(UdevRuleOptions{Exclude: []string{bad}}); err == nil {
			t.Errorf("exclusion %q accepted", bad)
		}
	}
	if _, err := UdevRule(UdevRuleOptions{Blockdev: "blockdev"}); err == nil {
		t.Error("relative blockdev path accepted")
	}
}

func TestExclusions(t *testing.T) {
	if !excludedName([]string{"vda*"}, "vda1", "vda") || !excludedName([]string{"nvme0n1"}, "nvme0n1p2", "nvme0n1") {
		t.Error("name patterns do not match device or disk")
	}
	if excludedName([]string{"vda*"}, "loop3", "loop3") || excludedName([]string{"[", ""}, "x", "x") {
		t.Error("unrelated or malformed patterns match")
	}
	if !excludedID([]string{"S1"}, "S1", "") || excludedID([]string{""}, "", "") {
		t.Error("serial exclusion")
	}
}
