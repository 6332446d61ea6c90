package cmd

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/report"
)

// exitBound is how long a signalled custodian may take to stop: generous,
// so that a busy machine does not make the test flaky; a Ctrl-C that is
// not honoured takes far longer (the run's whole rest).
const exitBound = 5 * time.Second

// interruptWhen starts custodian with args (which must include --json),
// sends SIGINT once a JSON line on stdout satisfies ready, and returns the
// exit code, how long the process took after the signal, the JSON lines
// and stderr. The process is killed if it does not end in time.
func interruptWhen(t *testing.T, args []string, ready func(line string) bool) (code int, took time.Duration, lines []string, stderr string) {
	t.Helper()
	c := custodianProcess(t, args...)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	killer := time.AfterFunc(60*time.Second, func() { c.Process.Kill() })
	defer killer.Stop()
	var sent time.Time
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sent.IsZero() && ready(sc.Text()) {
			sent = time.Now()
			if err := c.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			// The process must end by itself within exitBound.
			killer.Reset(exitBound + 5*time.Second)
		}
	}
	c.Wait()
	if sent.IsZero() {
		t.Fatalf("custodian ended before the moment to interrupt it came\nstderr:\n%s", errb.String())
	}
	return c.ProcessState.ExitCode(), time.Since(sent), lines, errb.String()
}

// progressBeyond is a ready function: a progress line with at least n
// bytes done.
func progressBeyond(n int64) func(string) bool {
	return func(line string) bool {
		var p struct {
			Type string `json:"type"`
			Done int64  `json:"done"`
		}
		return json.Unmarshal([]byte(line), &p) == nil && p.Type == "progress" && p.Done >= n
	}
}

// eventOf is a ready function: an event line of this kind.
func eventOf(kind string) func(string) bool {
	return func(line string) bool {
		var e struct {
			Type string `json:"type"`
			Kind string `json:"kind"`
		}
		return json.Unmarshal([]byte(line), &e) == nil && e.Type == "event" && e.Kind == kind
	}
}

func readJSONReport(t *testing.T, path string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSIGINTWithSmallSegments (issue 13, item 3): with the smallest
// segments (1 MiB: a checkpoint and a new file every MiB) SIGINT stops
// custodian promptly, with a checkpoint where it stopped.
func TestSIGINTWithSmallSegments(t *testing.T) {
	src := filepath.Join(t.TempDir(), "big.img")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: reads fast, costs no disk; sizes beyond what can be imaged
	// before the signal.
	if err := f.Truncate(4 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(t.TempDir(), "ev")
	args := []string{"acquire", src, "-o", out, "--name", "ev", "--hash", "md5", "--segment-size", "1MiB", "--json"}
	code, took, _, stderr := interruptWhen(t, args, progressBeyond(8<<20))
	if code != ExitFailure || took > exitBound {
		t.Fatalf("after SIGINT: exit %d after %v, want 1 within %v\n%s", code, took, exitBound, stderr)
	}
	t.Logf("stopped %v after SIGINT", took)
	r := readJSONReport(t, filepath.Join(out, "ev.report.json"))
	if r.Status != report.StatusIncomplete || r.BytesAcquired < 8<<20 || len(r.Runs) != 1 || r.Runs[0].Outcome != report.RunInterrupted {
		t.Errorf("report: status %s, %d bytes acquired, runs %+v", r.Status, r.BytesAcquired, r.Runs)
	}
}

// TestSIGINTDuringRescue (issue 13, items 2 and 3): on a slow failing
// source, while a dead area is read sector by sector, SIGINT stops
// custodian promptly; the checkpoint is at the block being rescued (not at
// 0: the default --checkpoint-every is 1 GiB), and --resume continues from
// there to an image that is the source with the bad sectors zeroed.
func TestSIGINTDuringRescue(t *testing.T) {
	const mib = 1 << 20
	const block = 256 << 10
	bad := faultdisk.Range{Offset: 3 * mib, Length: mib}
	o := faultdisk.Options{Size: 6 * mib, Content: faultdisk.Pattern(31), Bad: []faultdisk.Range{bad}, FailDelay: 2 * time.Millisecond}
	d := faultdisk.Device(t, o, 512)
	out := filepath.Join(t.TempDir(), "ev")
	args := []string{"acquire", d.Dev, "-o", out, "--name", "ev", "--hash", "sha256", "--read-size", "256KiB",
		"--restore-writeblock", "--case-number", "2026-042", "--examiner", "J. Doe", "--json"}
	code, took, _, stderr := interruptWhen(t, args, eventOf("read_error"))
	if code != ExitFailure || took > exitBound {
		t.Fatalf("after SIGINT during the rescue: exit %d after %v, want 1 within %v\n%s", code, took, exitBound, stderr)
	}
	t.Logf("stopped %v after SIGINT", took)
	b, err := os.ReadFile(filepath.Join(out, "ev.journal"))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Checkpoint *struct{ Offset int64 } `json:"checkpoint"`
	}
	// The damage events come once a block is settled: the signal came
	// while a later block of the dead area was being scraped, and the
	// checkpoint is at its start.
	if err := json.Unmarshal(b, &j); err != nil || j.Checkpoint == nil || j.Checkpoint.Offset <= bad.Offset ||
		j.Checkpoint.Offset >= bad.Offset+bad.Length || j.Checkpoint.Offset%block != 0 {
		t.Fatalf("journal checkpoint %+v (%v), want the start of a block inside the dead area %+v", j.Checkpoint, err, bad)
	}

	// The resume as the hint prints it, without the case flags.
	resume := []string{"acquire", d.Dev, "-o", out, "--name", "ev", "--hash", "sha256", "--read-size", "256KiB",
		"--restore-writeblock", "--json", "--resume"}
	c := custodianProcess(t, resume...)
	if outb, err := c.CombinedOutput(); c.ProcessState.ExitCode() != ExitUnreadable {
		t.Fatalf("resume: %v\n%s", err, outb)
	}
	r := readJSONReport(t, filepath.Join(out, "ev.report.json"))
	if len(r.Runs) != 2 || r.Runs[1].StartOffset != j.Checkpoint.Offset || r.Case.CaseNumber != "2026-042" || r.Case.Examiner != "J. Doe" {
		t.Errorf("runs %+v, case %+v", r.Runs, r.Case)
	}
	if len(r.Unreadable) != 1 || r.Unreadable[0] != (report.Range{Offset: bad.Offset, Length: bad.Length}) {
		t.Errorf("unreadable %+v, want %+v", r.Unreadable, bad)
	}
	img := o.Image()
	clear(img[bad.Offset : bad.Offset+bad.Length])
	got, err := os.ReadFile(filepath.Join(out, "ev.001"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(img) {
		t.Error("the resumed image is not the source with the bad sectors zeroed")
	}
}
