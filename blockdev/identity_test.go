package blockdev

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fixtureSystem is a System over testdata/sysfs/NAME, whose /dev nodes are
// described by nodes (path → device number) instead of stat(2), and whose
// symbolic links are fixtureLinks.
func fixtureSystem(t *testing.T, name string, nodes map[string][2]uint32) *System {
	t.Helper()
	root := "testdata/sysfs/" + name
	return &System{
		Sys: os.DirFS(root + "/sys"), Proc: os.DirFS(root + "/proc"), Dev: "/dev",
		resolve: func(p string) (string, error) {
			if target, ok := fixtureLinks[p]; ok {
				return target, nil
			}
			if _, ok := nodes[p]; ok {
				return p, nil
			}
			return "", fs.ErrNotExist
		},
		stat: func(p string) (node, error) {
			n, ok := nodes[p]
			if !ok {
				return node{}, fs.ErrNotExist
			}
			return node{kind: nodeBlock, rdev: mkdev(n[0], n[1])}, nil
		},
	}
}

// fixtureLinks are the fixtures' symbolic links, as udev makes them.
var fixtureLinks = map[string]string{"/dev/disk/by-id/ata-Samsung": "/dev/sda"}

var basicNodes = map[string][2]uint32{
	"/dev/sda": {8, 0}, "/dev/sda1": {8, 1}, "/dev/sda2": {8, 2},
	"/dev/disk/by-id/ata-Samsung": {8, 0},
	"/dev/nvme0n1":                {259, 0}, "/dev/dm-0": {253, 0}, "/dev/ghost": {8, 99},
}

func TestInspectFixtureDisk(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	got, err := s.Inspect("/dev/disk/by-id/ata-Samsung")
	if err != nil {
		t.Fatal(err)
	}
	mounts1 := []string{"/media/ev idence", `/mnt/tab\011and\012newline`}
	want := &Info{
		Path: "/dev/sda", GivenPath: "/dev/disk/by-id/ata-Samsung", Name: "sda", Kind: KindDisk, Major: 8, Minor: 0,
		Size: 4194304 * 512, LogicalSectorSize: 512, PhysicalSectorSize: 4096,
		Vendor: "ATA", Model: "Samsung SSD 860", Serial: "S3Z9NB0K123456X",
		Rotational: true,
		Partitions: []PartitionInfo{
			{Path: "/dev/sda1", Name: "sda1", Number: 1, Major: 8, Minor: 1, Start: 2048 * 512, Size: 1048576 * 512,
				Mounts: mounts1, Holders: []string{}},
			{Path: "/dev/sda2", Name: "sda2", Number: 2, Major: 8, Minor: 2, Start: 1050624 * 512, Size: 3143680 * 512,
				ReadOnly: true, Mounts: []string{}, Holders: []string{"dm-0"}},
		},
		Mounts:           mounts1,
		Holders:          []string{"dm-0"},
		CountersCompared: []string{},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Info{})); diff != "" {
		t.Errorf("Inspect (-want +got):\n%s", diff)
	}
	wantRel := []uint64{mkdev(8, 0), mkdev(8, 1), mkdev(8, 2), mkdev(253, 0)}
	if diff := cmp.Diff(wantRel, got.RelatedDevNums(), cmpopts.SortSlices(func(a, b uint64) bool { return a < b })); diff != "" {
		t.Errorf("RelatedDevNums (-want +got):\n%s", diff)
	}
}

func TestInspectFixturePartition(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	got, err := s.Inspect("/dev/sda2")
	if err != nil {
		t.Fatal(err)
	}
	want := &Info{
		Path: "/dev/sda2", GivenPath: "/dev/sda2", Name: "sda2", Kind: KindPartition, Major: 8, Minor: 2,
		Size: 3143680 * 512, LogicalSectorSize: 512, PhysicalSectorSize: 4096,
		Vendor: "ATA", Model: "Samsung SSD 860", Serial: "S3Z9NB0K123456X",
		ReadOnly: true, Rotational: true, Parent: "/dev/sda",
		Partitions: []PartitionInfo{}, Mounts: []string{}, Holders: []string{"dm-0"}, CountersCompared: []string{},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Info{})); diff != "" {
		t.Errorf("Inspect (-want +got):\n%s", diff)
	}
	rel := got.RelatedDevNums()
	for _, d := range []uint64{mkdev(8, 0), mkdev(8, 1), mkdev(8, 2), mkdev(253, 0)} {
		if !containsU64(rel, d) {
			t.Errorf("RelatedDevNums %v lacks %d:%d", rel, devMajor(d), devMinor(d))
		}
	}
}

func TestInspectFixture4KnHostile(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	got, err := s.Inspect("/dev/nvme0n1")
	if err != nil {
		t.Fatal(err)
	}
	if got.LogicalSectorSize != 4096 || got.PhysicalSectorSize != 4096 || got.Size != 8388608*512 {
		t.Errorf("4Kn geometry: lss %d pss %d size %d", got.LogicalSectorSize, got.PhysicalSectorSize, got.Size)
	}
	if !got.Removable || got.Rotational {
		t.Errorf("removable %t rotational %t, want true false", got.Removable, got.Rotational)
	}
	if want := `Evil\x1b[2J\x07Disk\x09Model`; got.Model != want {
		t.Errorf("model %q, want %q", got.Model, want)
	}
	wantSerial := `SER\xff\xfeIAL` + strings.Repeat("A", MaxIdentityLen-len(`SER\xff\xfeIAL`)-len("…")) + "…"
	if got.Serial != wantSerial {
		t.Errorf("serial %q (%d bytes), want %q", got.Serial, len(got.Serial), wantSerial)
	}
	if got.WWID != "eui.0025388b91b2c3d4" {
		t.Errorf("wwid %q", got.WWID)
	}
	if len(got.Mounts) != 0 || len(got.Partitions) != 0 {
		t.Errorf("mounts %v partitions %v, want none", got.Mounts, got.Partitions)
	}
}

func TestInspectFixtureHolder(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	got, err := s.Inspect("/dev/dm-0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/srv/crypt"}, got.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
}

func TestInspectFixtureUnknownDevice(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	if _, err := s.Inspect("/dev/ghost"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/dev/ghost") {
		t.Errorf("Inspect(/dev/ghost) = %v, want not-exist naming the path", err)
	}
	if _, err := s.Inspect("/dev/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Inspect(/dev/none) = %v, want fs.ErrNotExist", err)
	}
}

func TestWriteStatsFixture(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	for name, want := range map[string]Stats{
		"sda":  {ReadsCompleted: 1000, SectorsRead: 80000, WritesCompleted: 2000, SectorsWritten: 16000},
		"sda1": {ReadsCompleted: 500, SectorsRead: 40000, WritesCompleted: 700, SectorsWritten: 6000},
	} {
		got, err := s.WriteStats(name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if _, err := s.WriteStats("sda2"); err == nil {
		t.Error("WriteStats(sda2) without a stat file: want error")
	}
	if _, err := s.WriteStats("../etc"); err == nil {
		t.Error("WriteStats(../etc): want error")
	}
}

func TestParseMountInfo(t *testing.T) {
	f, err := os.Open("testdata/sysfs/basic/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseMountInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Major: 0, Minor: 21, Root: "/", MountPoint: "/proc", FSType: "proc", Source: "proc", ReadWrite: true},
		{Major: 254, Minor: 0, Root: "/", MountPoint: "/", FSType: "ext4", Source: "/dev/vda", ReadWrite: true},
		{Major: 8, Minor: 1, Root: "/", MountPoint: "/media/ev idence", FSType: "ext4", Source: "/dev/sda1", ReadWrite: true},
		{Major: 8, Minor: 1, Root: "/sub", MountPoint: `/mnt/tab\011and\012newline`, FSType: "ext4", Source: "/dev/sda1", ReadWrite: true},
		{Major: 253, Minor: 0, Root: "/", MountPoint: "/srv/crypt", FSType: "xfs", Source: "/dev/mapper/crypt", ReadWrite: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseMountInfo (-want +got):\n%s", diff)
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  WDC WD10EZEX-08WN4A0   ", "WDC WD10EZEX-08WN4A0"},
		{"a\x00\x00", "a"},
		{"esc\x1b[31mred", `esc\x1b[31mred`},
		{`back\slash`, `back\\slash`},
		{"bad\xc3", `bad\xc3`},
		{"naïve", "naïve"},
		{"rtl\u202eevil", `rtl\u202eevil`},
		{strings.Repeat("x", 200), strings.Repeat("x", MaxIdentityLen-3) + "…"},
		{strings.Repeat("x", MaxIdentityLen), strings.Repeat("x", MaxIdentityLen)},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func checkPrintable(t *testing.T, s string, limit int) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("invalid UTF-8: %q", s)
	}
	if len(s) > limit {
		t.Fatalf("%d bytes > %d: %q", len(s), limit, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("control character %U in %q", r, s)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ATA", "\x1b]0;pwned\x07", "\xff\xfe", strings.Repeat("é", 100), "a\u202eb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		checkPrintable(t, out, MaxIdentityLen)
		if Sanitize(out) != out && !strings.HasSuffix(out, "…") && !strings.Contains(out, `\`) {
			t.Fatalf("not idempotent on plain output %q", out)
		}
	})
}

func FuzzParseMountInfo(f *testing.F) {
	raw, err := os.ReadFile("testdata/sysfs/basic/proc/self/mountinfo")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(raw))
	f.Add("1 2 8:1 / /a\\040b rw - ext4 /dev/x rw\n")
	f.Add("1 2 8:1 / /a\\7 - \n")
	f.Fuzz(func(t *testing.T, in string) {
		ms, err := ParseMountInfo(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, m := range ms {
			for _, s := range []string{m.Root, m.MountPoint, m.FSType, m.Source} {
				checkPrintable(t, s, 4*len(in)+4)
			}
		}
	})
}

func containsU64(xs []uint64, x uint64) bool {
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestDiskName(t *testing.T) {
	s := fixtureSystem(t, "basic", basicNodes)
	for p, want := range map[string]string{"/dev/sda": "sda", "/dev/sda2": "sda", "/dev/nvme0n1": "nvme0n1", "/dev/dm-0": "dm-0"} {
		info, err := s.Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.DiskName(); got != want {
			t.Errorf("%s: DiskName %q, want %q", p, got, want)
		}
	}
	for _, info := range []*Info{nil, {Kind: KindRegular, Name: "x.img"}, {Kind: KindPartition, Name: "sdb1"}} {
		if got := info.DiskName(); got != "" {
			t.Errorf("DiskName of %+v = %q, want \"\"", info, got)
		}
	}
}

// TestBusyErrorWording: one sentence that names the users (issue 13 #14:
// "device is in use by mounted on" read as two halves glued).
func TestBusyErrorWording(t *testing.T) {
	for _, c := range []struct {
		e    BusyError
		want string
	}{
		{BusyError{Path: "/dev/sdb", Users: []string{"mounted on /mnt", "held by dm-0"}}, "/dev/sdb is in use (mounted on /mnt, held by dm-0), so it cannot be opened exclusively"},
		{BusyError{Path: "/dev/sdb"}, "/dev/sdb is in use by another program (it holds the device exclusively), so it cannot be opened exclusively"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
