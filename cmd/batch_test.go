package cmd

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire/batch"
	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// fillDevice writes data at the start of dev (a device this test created).
func fillDevice(t *testing.T, dev string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// deviceBytes reads a whole device.
func deviceBytes(t *testing.T, dev string) []byte {
	t.Helper()
	b, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readSummary(t *testing.T, path string) batch.Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s batch.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// rawImage concatenates a raw image's segments.
func rawImage(t *testing.T, dir, name string) []byte {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, name+".[0-9][0-9][0-9]"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments of %s in %s: %v", name, dir, err)
	}
	sort.Strings(segs)
	var buf bytes.Buffer
	for _, s := range segs {
		f, err := os.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(&buf, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestBatchFourDevices is issue 11's batch: four real block devices, one
// with a bad sector (FUSE faultdisk), one imaged as EWF, two of them
// partitions of one disk, --jobs 2. Every image is exact, every status,
// exit code and report is right, and the two partitions' jobs never ran
// at the same time.
func TestBatchFourDevices(t *testing.T) {
	tmp := t.TempDir()
	// 1. a failing disk: one bad sector, zero-filled in the image.
	bad := faultdisk.Range{Offset: 1<<20 + 4096, Length: 512}
	fo := faultdisk.Options{Size: 3 << 20, Bad: []faultdisk.Range{bad}}
	fd := faultdisk.Device(t, fo, 512)
	badWant := fo.Image()
	clear(badWant[bad.Offset : bad.Offset+bad.Length])
	// 2. a plain disk, imaged as EWF.
	plainFile := filepath.Join(tmp, "plain.img")
	plainData := randomBytes(1, 5<<20)
	if err := os.WriteFile(plainFile, plainData, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := looptest.Attach(t, plainFile, looptest.Options{})
	// 3, 4. two partitions of one disk.
	diskFile := filepath.Join(tmp, "parted.img")
	looptest.MakePartitionedImage(t, diskFile, 12<<20, 512, 2)
	disk := looptest.Attach(t, diskFile, looptest.Options{Partscan: true})
	parts := looptest.Partitions(disk)
	if len(parts) != 2 {
		t.Fatalf("%s has partitions %v, want 2", disk, parts)
	}
	for i, p := range parts {
		fillDevice(t, p, randomBytes(uint64(10+i), 2<<20))
	}
	p1Want, p2Want := deviceBytes(t, parts[0]), deviceBytes(t, parts[1])

	out := filepath.Join(tmp, "case")
	yaml := fmt.Sprintf(`defaults:
  output: %s
  hash: [md5, sha256]
  examiner: J. Doe
  case_number: "2026-042"
  read-size: 64KiB
  retries: 1
  restore_writeblock: true
jobs:
  - source: %s
    name: failing
    evidence_number: EV-01
  - source: %s
    name: plain
    format: ewf
    evidence_number: EV-02
  - source: %s
    name: part1
  - source: %s
    name: part2
`, out, fd.Dev, plain, parts[0], parts[1])
	file := filepath.Join(tmp, "batch.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "batch", file, "--jobs", "2", "--json")
	if code != ExitUnreadable {
		t.Fatalf("exit %d, want %d (worst of 3 and 0s)\nstdout:\n%s\nstderr:\n%s", code, ExitUnreadable, stdout, stderr)
	}
	s := readSummary(t, filepath.Join(out, batch.SummaryName))
	if s.Schema != batch.SummarySchema || !s.Finished || s.ExitCode != ExitUnreadable || len(s.Jobs) != 4 {
		t.Fatalf("summary %+v", s)
	}
	want := map[string]struct {
		data []byte
		code int
	}{
		"failing": {badWant, ExitUnreadable}, "plain": {plainData, ExitOK},
		"part1": {p1Want, ExitOK}, "part2": {p2Want, ExitOK},
	}
	byName := map[string]batch.JobResult{}
	for _, j := range s.Jobs {
		byName[j.Name] = j
		w := want[j.Name]
		if j.Status != string(report.StatusComplete) || j.ExitCode != w.code || j.Hashes["sha256"] != sha256Hex(w.data) {
			t.Errorf("%s: status %s exit %d sha256 %s; want complete, %d, %s", j.Name, j.Status, j.ExitCode, j.Hashes["sha256"], w.code, sha256Hex(w.data))
		}
		r, err := readReportFile(j.Report)
		if err != nil {
			t.Fatalf("%s: %v", j.Name, err)
		}
		if r.Status != report.StatusComplete || r.Hashes["sha256"] != sha256Hex(w.data) || r.Case.CaseNumber != "2026-042" {
			t.Errorf("%s: report %s %s case %q", j.Name, r.Status, r.Hashes["sha256"], r.Case.CaseNumber)
		}
		if j.Name != "plain" {
			if img := rawImage(t, j.Folder, j.Name); !bytes.Equal(img, w.data) {
				t.Errorf("%s: the raw image differs from the source", j.Name)
			}
		} else if r.Image.Format != "ewf" {
			t.Errorf("plain: format %q, want ewf", r.Image.Format)
		}
		if vc, _, verr := runCLI(t, "verify", "--no-trust", j.Folder); vc != ExitOK && vc != ExitUnreadable {
			t.Errorf("%s: verify exit %d\n%s", j.Name, vc, verr)
		}
	}
	if f := byName["failing"]; f.UnreadableBytes != bad.Length {
		t.Errorf("failing: %d unreadable bytes, want %d", f.UnreadableBytes, bad.Length)
	}
	// The partitions' jobs: one chain, never at once.
	p1, p2 := byName["part1"], byName["part2"]
	if p1.Disk == "" || p1.Disk != p2.Disk {
		t.Errorf("partition jobs on disks %q and %q, want the same", p1.Disk, p2.Disk)
	}
	span := func(j batch.JobResult) (time.Time, time.Time) {
		a, err1 := time.Parse(time.RFC3339Nano, j.StartedAt)
		b, err2 := time.Parse(time.RFC3339Nano, j.FinishedAt)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: times %q %q", j.Name, j.StartedAt, j.FinishedAt)
		}
		return a, b
	}
	s1, e1 := span(p1)
	s2, e2 := span(p2)
	if s1.Before(e2) && s2.Before(e1) {
		t.Errorf("part1 [%v, %v] and part2 [%v, %v] overlapped", s1, e1, s2, e2)
	}
	// Every JSON line is tagged with the schema, and with its job when it
	// is about one.
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["schema"] != BatchSchema {
			t.Errorf("line without schema: %s", l)
		}
		if typ := m["type"]; typ != "summary" && typ != "plan" && m["job"] == nil {
			t.Errorf("line without job: %s", l)
		}
	}
}

// TestBatchSIGINTThenResume interrupts a real custodian batch process with
// SIGINT while two slow disks are imaged and a third waits, then runs the
// same batch with --resume: every job ends complete with its source's
// hashes; the interrupted ones were resumed, not started again.
func TestBatchSIGINTThenResume(t *testing.T) {
	tmp := t.TempDir()
	var devs []string
	var wants []string
	for i := range 3 {
		o := faultdisk.Options{Size: 6 << 20, Content: faultdisk.Pattern(uint64(i + 1)), Rate: 3 << 20}
		d := faultdisk.Device(t, o, 512)
		devs = append(devs, d.Dev)
		wants = append(wants, sha256Hex(o.Image()))
	}
	out := filepath.Join(tmp, "case")
	yaml := fmt.Sprintf(`defaults:
  output: %s
  hash: [sha256]
  read-size: 256KiB
  checkpoint-every: 1MiB
  restore-writeblock: true
jobs:
  - {source: %s, name: d0}
  - {source: %s, name: d1}
  - {source: %s, name: d2}
`, out, devs[0], devs[1], devs[2])
	file := filepath.Join(tmp, "batch.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := custodianProcess(t, "batch", file, "--jobs", "2", "--json")
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Interrupt once both first jobs imaged a little.
	started := 0
	var seen []string
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("custodian ended before it was interrupted:\n%s\n%s", strings.Join(seen, "\n"), stderr.String())
			}
			seen = append(seen, l)
			if strings.Contains(l, `"type":"job_start"`) {
				started++
			}
			if started == 2 {
				time.Sleep(1200 * time.Millisecond)
				break wait
			}
		case <-deadline:
			t.Fatal("no two jobs started within 30 s")
		}
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		seen = append(seen, l)
	}
	werr := c.Wait()
	if code := exitOf(werr); code != ExitFailure {
		t.Fatalf("interrupted batch: exit %d, want %d\n%s\n%s", code, ExitFailure, strings.Join(seen, "\n"), stderr.String())
	}
	s := readSummary(t, filepath.Join(out, batch.SummaryName))
	if s.Finished {
		t.Errorf("the summary of an interrupted batch says finished")
	}
	statuses := map[string]string{}
	for _, j := range s.Jobs {
		statuses[j.Name] = j.Status
	}
	if statuses["d0"] != "incomplete" || statuses["d1"] != "incomplete" || statuses["d2"] != batch.StateNotStarted {
		t.Fatalf("statuses after SIGINT: %v\n%s", statuses, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--resume") {
		t.Errorf("no --resume hint:\n%s", stderr.String())
	}

	code, rout, rerr := runCLI(t, "batch", file, "--jobs", "2", "--resume", "--json")
	if code != ExitOK {
		t.Fatalf("--resume: exit %d\n%s\n%s", code, rout, rerr)
	}
	s = readSummary(t, filepath.Join(out, batch.SummaryName))
	for i, j := range s.Jobs {
		wantAction := batch.ActionResume
		if i == 2 {
			wantAction = batch.ActionStart
		}
		if j.Status != string(report.StatusComplete) || j.ExitCode != ExitOK || j.Hashes["sha256"] != wants[i] || j.Action != wantAction {
			t.Errorf("%s after --resume: %s exit %d action %s sha256 %s, want complete 0 %s %s", j.Name, j.Status, j.ExitCode, j.Action, j.Hashes["sha256"], wantAction, wants[i])
		}
		r, err := readReportFile(j.Report)
		if err != nil || !r.Settings.Resumed && i < 2 {
			t.Errorf("%s: report %v, resumed %v", j.Name, err, r != nil && r.Settings.Resumed)
		}
	}
}
