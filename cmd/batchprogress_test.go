package cmd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/acquire/batch"
	"github.com/custodian-forensics/custodian/report"
)

// TestBatchStatusArea: on a terminal the status area has one line per job
// (name, source, phase, bytes, rate, ETA, unreadable); events and results
// queued meanwhile are printed above it on the next tick, after the area
// was erased (cursor up over its lines, erase to the end of the screen).
func TestBatchStatusArea(t *testing.T) {
	var stderr bytes.Buffer
	p := &batchOutput{stderr: &stderr, stdout: &bytes.Buffer{}, now: time.Now, tty: true}
	r := newRates()
	t0 := time.Now()
	jobs := []batch.JobProgress{
		{Name: "laptop", Source: "/dev/sdb", State: batch.StateRunning,
			Progress: acquire.Progress{Phase: acquire.PhaseImage, Total: 100 << 20, Done: 10 << 20, Unreadable: 4096}},
		{Name: "usb", Source: "/dev/sdc", State: batch.StateWaiting},
	}
	p.draw(jobs, r, t0, false)
	first := stderr.String()
	if strings.Contains(first, "\x1b[") {
		t.Errorf("the first draw moves the cursor: %q", first)
	}
	if n := strings.Count(first, "\n"); n != 2 {
		t.Errorf("first draw has %d lines, want one per job:\n%s", n, first)
	}
	stderr.Reset()
	off, n := int64(512), int64(512)
	p.event("laptop", report.Event{Level: "warning", Kind: "unreadable", Message: "zero-filled", Offset: &off, Length: &n})
	p.event("laptop", report.Event{Level: "info", Kind: "format", Message: "not shown"})
	jobs[0].Done = 30 << 20
	p.draw(jobs, r, t0.Add(time.Second), false)
	second := stderr.String()
	if !strings.HasPrefix(second, "\x1b[2A\r\x1b[J") {
		t.Errorf("the redraw does not start by erasing the 2-line area: %q", second)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(second, "\x1b[2A\r\x1b[J"), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "custodian: laptop: warning: unreadable at byte 512 (+512): zero-filled") {
		t.Fatalf("want the event above the area, then 2 status lines; got:\n%s", strings.Join(lines, "\n"))
	}
	for _, want := range []string{"laptop", "/dev/sdb", "image", "30 MiB/100 MiB", "30.0%", "20 MiB/s", "ETA 4s", "unreadable 4 KiB"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("status line lacks %q: %q", want, lines[1])
		}
	}
	if !strings.Contains(lines[2], "usb") || !strings.Contains(lines[2], "waiting") {
		t.Errorf("waiting job's line: %q", lines[2])
	}
}

// TestBatchPlainLines: without a terminal and without --json (stderr a
// log), events print at once and each running job gets a plain status
// line per tick: no cursor movement, no JSON.
func TestBatchPlainLines(t *testing.T) {
	var stderr, stdout bytes.Buffer
	p := &batchOutput{stderr: &stderr, stdout: &stdout, now: time.Now}
	jobs := []batch.JobProgress{
		{Name: "laptop", Source: "/dev/sdb", State: batch.StateRunning,
			Progress: acquire.Progress{Phase: acquire.PhaseImage, Total: 100 << 20, Done: 10 << 20}},
		{Name: "usb", Source: "/dev/sdc", State: batch.StateWaiting},
	}
	sector, sectors, off, n := int64(1), int64(1), int64(512), int64(512)
	p.event("laptop", report.Event{Level: "warning", Kind: "unreadable", Offset: &off, Length: &n, Sector: &sector, Sectors: &sectors})
	p.event("laptop", report.Event{Level: "info", Kind: "format", Message: "not shown"})
	p.draw(jobs, newRates(), time.Now(), false)
	p.draw(jobs, newRates(), time.Now(), true)
	got := stderr.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if strings.Contains(got, "\x1b[") || stdout.Len() != 0 || len(lines) != 2 {
		t.Fatalf("want 2 plain lines on stderr, nothing on stdout; got stderr %q, stdout %q", got, stdout.String())
	}
	if want := "custodian: laptop: warning: unreadable: " + report.FormatSectorRun(1, 1, 512, 512); lines[0] != want {
		t.Errorf("event line %q, want %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "custodian: laptop ") || !strings.Contains(lines[1], "10 MiB/100 MiB") {
		t.Errorf("status line %q", lines[1])
	}
}

// TestBatchStatusAreaManyJobs: more jobs than fit show the running ones
// and a count of the rest.
func TestBatchStatusAreaManyJobs(t *testing.T) {
	var jobs []batch.JobProgress
	for i := range 30 {
		st := batch.StateWaiting
		switch {
		case i < 2:
			st = batch.StateRunning
		case i < 10:
			st = batch.StateDone
		}
		jobs = append(jobs, batch.JobProgress{Name: fmt.Sprint("j", i), State: st,
			Progress: acquire.Progress{Phase: acquire.PhaseImage, Total: 1 << 20}})
	}
	got := areaLines(jobs, newRates(), time.Now(), 10)
	if len(got) != 3 || !strings.HasPrefix(got[0], "j0 ") || !strings.HasPrefix(got[1], "j1 ") ||
		got[2] != "… and 20 waiting, 8 done" {
		t.Errorf("area:\n%s", strings.Join(got, "\n"))
	}
}
