package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

// TestListLoopDisk: list shows a partitioned loop device with its two FAT
// labels (from blkid's probe: no udev runs here), transport "virtual"
// (loop devices have no hardware, hence no model or serial), and marks the
// disk holding / (issue 13 #16).
func TestListLoopDisk(t *testing.T) {
	looptest.RequireRoot(t)
	looptest.RequireTool(t, "blkid", "util-linux")
	img := filepath.Join(t.TempDir(), "sample.img")
	b, err := os.ReadFile("../testdata/sample.img")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dev := looptest.Attach(t, img, looptest.Options{ReadOnly: true, Partscan: true})
	code, stdout, stderr := runCLI(t, "list", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var disks []blockdev.Disk
	if err := json.Unmarshal([]byte(stdout), &disks); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var mine *blockdev.Disk
	roots := 0
	for i, d := range disks {
		if d.Path == dev {
			mine = &disks[i]
		}
		if d.HoldsRoot {
			roots++
			if want := rootDiskName(t); want != "" && d.Name != want {
				t.Errorf("holds_root on %s, / is on %s", d.Name, want)
			}
		}
	}
	if mine == nil {
		t.Fatalf("%s not listed:\n%s", dev, stdout)
	}
	if mine.Transport != blockdev.TransportVirtual || !mine.ReadOnly || mine.Size != int64(len(b)) || mine.HoldsRoot || mine.Mounted {
		t.Errorf("loop disk %+v", *mine)
	}
	var got []string
	for _, p := range mine.Partitions {
		got = append(got, p.FSType+":"+p.Label)
	}
	if strings.Join(got, " ") != "vfat:EVIDENCE1 vfat:EVIDENCE2" {
		t.Errorf("partitions %q", got)
	}
	if rootDiskName(t) != "" && roots != 1 {
		t.Errorf("%d disks hold /", roots)
	}
	// The table has the same facts.
	code, table, _ := runCLI(t, "list")
	if code != ExitOK || !strings.Contains(table, dev) || !strings.Contains(table, `vfat "EVIDENCE2"`) || (rootDiskName(t) != "" && !strings.Contains(table, "holds / (system disk)")) {
		t.Errorf("table:\n%s", table)
	}
}

// rootDiskName finds the disk of / independently of blockdev: stat's
// st_dev, then sysfs dev/block/MAJ:MIN and its parent for a partition.
func rootDiskName(t *testing.T) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	p, err := filepath.EvalSymlinks(filepath.Join("/sys/dev/block", strings.Join([]string{itoa(major), itoa(minor)}, ":")))
	if err != nil {
		return "" // / is not on a block device (overlay, tmpfs)
	}
	if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
		p = filepath.Dir(p)
	}
	if _, err := os.Stat(filepath.Join(p, "slaves")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(p, "slaves")); len(ents) > 0 {
			return "" // dm or md: not this test's business
		}
	}
	return filepath.Base(p)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestAcquireLeavesWriteblockRecord: an acquisition of a block device
// leaves a protection record that "writeblock status" shows afterwards,
// and "writeblock off" says what it measured (issue 13 #11); the header
// and the report name the transport (a loop device's is "virtual").
func TestAcquireLeavesWriteblockRecord(t *testing.T) {
	looptest.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakeImage(t, img, 4<<20)
	dev := attachClearRO(t, img, looptest.Options{})
	state, out := t.TempDir(), filepath.Join(t.TempDir(), "ev")
	code, stdout, stderr := runCLI(t, "acquire", dev, "-o", out, "--name", "d", "--hash", "sha256", "--state-dir", state)
	if code != ExitOK {
		t.Fatalf("acquire: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"source:      " + dev + ", kernel name " + filepath.Base(dev), "transport virtual",
		"write-block: confirmed: BLKROSET set, read back by BLKROGET and sysfs on " + dev} {
		if !strings.Contains(stdout, want) {
			t.Errorf("header lacks %q:\n%s", want, stdout)
		}
	}
	r, err := readReportFile(filepath.Join(out, "d.report.json"))
	if err != nil || r.Source.Transport != blockdev.TransportVirtual {
		t.Errorf("report transport: %v %+v", err, r)
	}
	if txt, _ := os.ReadFile(filepath.Join(out, "d.report.txt")); !strings.Contains(string(txt), "Transport") || !strings.Contains(string(txt), "virtual") {
		t.Errorf("text report without the transport:\n%s", txt)
	}
	code, s, errs := statusOf(t, state, dev)
	if code != 0 || !s.ReadOnly || s.Since == nil || *s.Since != 0 {
		t.Errorf("status after acquire: exit %d, %+v\n%s", code, s, errs)
	}
	code, offOut, errs := runCLI(t, "writeblock", "off", "--yes", "--state-dir", state, dev)
	if code != 0 || !strings.Contains(offOut, dev+": 0 sectors written while protected since ") || !strings.Contains(offOut, "protected by acquire") {
		t.Errorf("off: exit %d\n%s%s", code, offOut, errs)
	}
}
