package cmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

// tool runs an external tool in dir and returns its output (stdout and
// stderr), failing the test when it fails.
func tool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAcquireEWFReadByLibewfAndTSK: the sample disk acquired with --format
// ewf in several segments is accepted by libewf (ewfverify with MD5 and
// SHA-1, ewfinfo with the case fields) and The Sleuth Kit reads it as EWF
// (not as its raw fallback): the partitions and the deleted file across
// chunk and segment boundaries. custodian verify checks it, and a flipped
// byte in a chunk is a mismatch naming the segment and the chunk.
func TestAcquireEWFReadByLibewfAndTSK(t *testing.T) {
	for _, tl := range []string{"ewfverify", "ewfinfo", "ewfexport"} {
		looptest.RequireTool(t, tl, "ewf-tools")
	}
	for _, tl := range []string{"img_stat", "mmls", "icat"} {
		looptest.RequireTool(t, tl, "sleuthkit")
	}
	out := filepath.Join(t.TempDir(), "ev")
	code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", out, "--format", "ewf", "--segment-size", "1MiB", "--compress", "none",
		"--hash", "sha256", "--case-number", "2026-042", "--evidence-number", "EV-07", "--examiner", "J. Doe",
		"--description", "sample disk", "--notes", "seized at the scene", "--verify", "--json")
	if code != 0 {
		t.Fatalf("acquire: exit %d\n%s", code, stderr)
	}
	r, err := readReportFile(filepath.Join(out, "sample.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Image.Format != "ewf" || len(r.Image.Segments) < 3 || r.Hashes["md5"] == "" || r.Hashes["sha1"] == "" || r.Hashes["sha256"] != sampleSHA256(t) {
		t.Fatalf("report: format %s, %d segments, hashes %v", r.Image.Format, len(r.Image.Segments), r.Hashes)
	}
	said := false
	for _, e := range r.Events {
		said = said || strings.Contains(e.Message, "md5 and sha1 computed too, although not asked for")
	}
	if !said {
		t.Errorf("the report does not say md5 and sha1 were added for EWF: %+v", r.Events)
	}

	if v := tool(t, out, "ewfverify", "-q", "-d", "sha1", "sample.E01"); !strings.Contains(v, "ewfverify: SUCCESS") {
		t.Errorf("ewfverify:\n%s", v)
	}
	info := tool(t, out, "ewfinfo", "sample.E01")
	for _, want := range []string{"File format:\t\tEnCase 6", "Case number:\t\t2026-042", "Evidence number:\tEV-07", "Examiner name:\t\tJ. Doe",
		"Description:\t\tsample disk", "Notes:\t\t\tseized at the scene", "MD5:\t\t\t" + r.Hashes["md5"], "SHA1:\t\t\t" + r.Hashes["sha1"]} {
		if !strings.Contains(info, want) {
			t.Errorf("ewfinfo lacks %q:\n%s", want, info)
		}
	}
	tool(t, out, "ewfexport", "-q", "-u", "-f", "raw", "-t", filepath.Join(t.TempDir(), "exported"), "sample.E01")
	if st := tool(t, out, "img_stat", "sample.E01"); !regexp.MustCompile(`Image Type:\s+ewf`).MatchString(st) {
		t.Errorf("img_stat does not read it as EWF:\n%s", st)
	}
	mm := tool(t, out, "mmls", "-i", "ewf", "sample.E01")
	for _, want := range []string{"0000002048   0000008191   0000006144   DOS FAT12", "0000008704   0000014847   0000006144   DOS FAT16"} {
		if !strings.Contains(mm, want) {
			t.Errorf("mmls -i ewf lacks %q:\n%s", want, mm)
		}
	}
	c := exec.Command("icat", "-i", "ewf", "-o", "2048", "sample.E01", "10")
	c.Dir = out
	secret, err := c.Output()
	if err != nil {
		t.Fatalf("icat: %v", err)
	}
	if sum := sha256.Sum256(secret); hex.EncodeToString(sum[:]) != "296a7abbbc8ef9593b3b5325199b76f4ac8c340effd8832b55be2a4fad1ee8cf" {
		t.Errorf("deleted SECRET.TXT recovered through the E01 has sha256 %x", sum)
	}

	code, vout, _ := runCLI(t, "verify", "--no-trust", out)
	if code != ExitOK || !strings.Contains(vout, "ok         stored     sample (ewf): the hashes stored in the image (md5, sha1) match") {
		t.Errorf("custodian verify: exit %d\n%s", code, vout)
	}
	seg := filepath.Join(out, "sample.E03")
	b, _ := os.ReadFile(seg)
	os.Chmod(seg, 0o640)
	b[len(b)/2] ^= 0xff
	os.WriteFile(seg, b, 0o640)
	code, vout, _ = runCLI(t, "verify", "--no-trust", out)
	if code != ExitMismatch || !regexp.MustCompile(`MISMATCH\s+segment\s+sample\.E03: chunk \d+`).MatchString(vout) {
		t.Errorf("a flipped byte in a chunk: exit %d, want 4 naming sample.E03 and the chunk\n%s", code, vout)
	}
}

// TestAcquireEWF4KnDisk: a partitioned 4Kn loop device acquired as EWF has
// 4096-byte sectors and the physical flag (a whole disk with a partition
// table), and ewfexport gives back the device byte for byte.
func TestAcquireEWF4KnDisk(t *testing.T) {
	looptest.RequireRoot(t)
	looptest.RequireTool(t, "ewfinfo", "ewf-tools")
	img := filepath.Join(t.TempDir(), "disk.img")
	looptest.MakePartitionedImage(t, img, 16<<20, 4096, 2)
	dev := looptest.Attach(t, img, looptest.Options{Partscan: true, SectorSize: 4096, ReadOnly: true})
	out := filepath.Join(t.TempDir(), "ev")
	if code, _, stderr := runCLI(t, "acquire", dev, "-o", out, "--name", "disk", "--format", "ewf", "--json"); code != 0 {
		t.Fatalf("acquire: exit %d\n%s", code, stderr)
	}
	info := tool(t, out, "ewfinfo", "disk.E01")
	for _, want := range []string{"Bytes per sector:\t4096", "Is physical:\t\tyes", "Sectors per chunk:\t8"} {
		if !strings.Contains(info, want) {
			t.Errorf("ewfinfo lacks %q:\n%s", want, info)
		}
	}
	exported := filepath.Join(t.TempDir(), "exported")
	tool(t, out, "ewfexport", "-q", "-u", "-f", "raw", "-t", exported, "disk.E01")
	got, _ := os.ReadFile(exported + ".raw")
	want, _ := os.ReadFile(img)
	if !bytes.Equal(got, want) {
		t.Errorf("ewfexport gave %d bytes that differ from the %d-byte device", len(got), len(want))
	}
}

// TestVerifyForeignE01: an E01 set that ewfacquire wrote (no custodian
// report) is checked as ewfverify checks it: every chunk, the stored MD5
// and SHA-1, its header fields shown; a flipped byte in a chunk of its
// second segment is a mismatch naming the segment and the chunk.
func TestVerifyForeignE01(t *testing.T) {
	looptest.RequireTool(t, "ewfacquire", "ewf-tools")
	dir := t.TempDir()
	src, _ := filepath.Abs("../testdata/sample.img")
	tool(t, dir, "ewfacquire", "-u", "-q", "-t", filepath.Join(dir, "other"), "-f", "encase6", "-c", "none", "-S", "1MiB",
		"-d", "sha1", "-C", "CASE-9", "-e", "Other Lab", "-E", "EV-9", src)
	code, out, stderr := runCLI(t, "verify", filepath.Join(dir, "other.E01"))
	if code != ExitOK || !strings.Contains(out, `case number "CASE-9"`) || !strings.Contains(out, `examiner "Other Lab"`) ||
		!strings.Contains(out, "md5, sha1 stored in the image match (md5 1f60dc909b8195e90f93f455332f615b") ||
		!strings.Contains(out, "ok         segment    other.E03") {
		t.Fatalf("verify of ewfacquire's set: exit %d\n%s%s", code, out, stderr)
	}
	seg := filepath.Join(dir, "other.E02")
	b, _ := os.ReadFile(seg)
	b[len(b)/2] ^= 0x55
	os.WriteFile(seg, b, 0o600)
	code, out, _ = runCLI(t, "verify", filepath.Join(dir, "other.E01"))
	if code != ExitMismatch || !regexp.MustCompile(`MISMATCH\s+segment\s+other\.E02: chunk \d+`).MatchString(out) {
		t.Errorf("a flipped byte in other.E02: exit %d, want 4 naming the segment and chunk\n%s", code, out)
	}
}

// TestAcquireEWFFromFailingDisk: a real failing device (a FUSE file with
// EIO ranges behind a read-only loop device) acquired as EWF completes with
// exit 3; libewf lists the unreadable sectors (error2) and still verifies
// the image, and custodian verify accepts it.
func TestAcquireEWFFromFailingDisk(t *testing.T) {
	looptest.RequireTool(t, "ewfinfo", "ewf-tools")
	bad := []faultdisk.Range{{Offset: 1<<20 + 512, Length: 512}, {Offset: 3 << 20, Length: 8 << 10}}
	d := faultdisk.Device(t, faultdisk.Options{Size: 4 << 20, Content: faultdisk.Pattern(3), Bad: bad}, 512)
	out := filepath.Join(t.TempDir(), "ev")
	code, _, stderr := runCLI(t, "acquire", d.Dev, "-o", out, "--name", "bad", "--format", "ewf", "--read-size", "64KiB",
		"--retries", "1", "--restore-writeblock", "--json")
	if code != ExitUnreadable {
		t.Fatalf("exit %d, want 3\n%s", code, stderr)
	}
	info := tool(t, out, "ewfinfo", "bad.E01")
	for _, want := range []string{"Read errors during acquiry", "total number: 2", "at sector(s): 2049 - 2049 number: 1", "at sector(s): 6144 - 6159 number: 16"} {
		if !strings.Contains(info, want) {
			t.Errorf("ewfinfo lacks %q:\n%s", want, info)
		}
	}
	if v := tool(t, out, "ewfverify", "-q", "bad.E01"); !strings.Contains(v, "ewfverify: SUCCESS") {
		t.Errorf("ewfverify:\n%s", v)
	}
	if code, vout, _ := runCLI(t, "verify", "--no-trust", out); code != ExitOK {
		t.Errorf("custodian verify: exit %d\n%s", code, vout)
	}
}
