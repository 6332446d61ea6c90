package acquire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// interruptAt runs an acquisition and cancels it once stop bytes are read;
// it returns the report and the journal left.
func interruptAt(t *testing.T, src, dir string, o Options, stop int64) (*report.Report, *journal) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := New(src, dir, o)
	a.afterRead = func(off int64) {
		if off >= stop {
			cancel()
		}
	}
	r, err := a.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	return r, loadJournalFile(t, dir)
}

func loadJournalFile(t *testing.T, dir string) *journal {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "img.journal"))
	if err != nil {
		t.Fatal(err)
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	return &j
}

// TestInterruptCheckpointAndHistory (issue 13, items 1 and 2): a Ctrl-C
// long before the first periodic checkpoint (the default 1 GiB) takes a
// checkpoint where reading stopped; --resume without the case flags
// continues from there, keeps the case fields, and its report lists both
// runs with their command lines, outcomes and events.
func TestInterruptCheckpointAndHistory(t *testing.T) {
	src, data := makeSource(t, 1_000_000)
	dir := t.TempDir()
	o := testOptions()
	o.CheckpointEvery = DefaultCheckpoint
	o.Case = report.Case{CaseNumber: "2026-042", EvidenceNumber: "EV-01", Examiner: "J. Doe", Description: "usb stick"}
	o.CommandLine = []string{"custodian", "acquire", "src", "-o", "dir", "--case-number", "2026-042"}
	r1, j := interruptAt(t, src, dir, o, 300_000)
	if j.Check == nil || j.Check.Offset < 300_000 || j.Check.Offset != r1.BytesAcquired {
		t.Fatalf("journal checkpoint %+v, bytes acquired %d: want the interrupted offset (≥ 300000)", j.Check, r1.BytesAcquired)
	}
	if j.Case == nil || *j.Case != o.Case {
		t.Errorf("journal case %+v, want %+v", j.Case, o.Case)
	}
	if len(j.Runs) != 1 || j.Runs[0].Outcome != report.RunInterrupted || j.Runs[0].FinishedAt == "" {
		t.Fatalf("journal runs %+v", j.Runs)
	}
	if len(eventsOfKind(r1.Events, "checkpoint")) != 1 {
		t.Errorf("no checkpoint event in the interrupted report: %+v", r1.Events)
	}

	// The resume as the hint prints it: no case flags.
	o2 := testOptions()
	o2.CheckpointEvery = DefaultCheckpoint
	o2.Resume = true
	o2.CommandLine = []string{"custodian", "acquire", "src", "-o", "dir", "--resume"}
	b := New(src, dir, o2)
	var firstRead int64 = -1
	b.afterRead = func(off int64) {
		if firstRead < 0 {
			firstRead = off
		}
	}
	r2, err := b.Run(context.Background())
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if firstRead != j.Check.Offset+int64(o2.ReadSize) {
		t.Errorf("resume's first block ended at %d, want the interrupted offset %d + one read", firstRead, j.Check.Offset)
	}
	if !bytes.Equal(concat(t, dir, r2), data) || !cmp.Equal(sums(data), r2.Hashes) {
		t.Error("the resumed image differs from the source")
	}
	if r2.Case != o.Case {
		t.Errorf("resumed report case %+v, want the first run's %+v", r2.Case, o.Case)
	}
	if len(r2.Runs) != 2 {
		t.Fatalf("runs %+v, want 2", r2.Runs)
	}
	first, second := r2.Runs[0], r2.Runs[1]
	if first.Outcome != report.RunInterrupted || second.Outcome != report.RunComplete ||
		!cmp.Equal(first.CommandLine, o.CommandLine) || !cmp.Equal(second.CommandLine, o2.CommandLine) ||
		first.EndOffset != j.Check.Offset || second.StartOffset != j.Check.Offset || second.EndOffset != int64(len(data)) {
		t.Errorf("runs %+v", r2.Runs)
	}
	runEvents := r2.Events[first.FirstEvent : first.FirstEvent+first.EventCount]
	if len(eventsOfKind(runEvents, "interrupted")) != 1 || second.FirstEvent != first.EventCount ||
		second.FirstEvent+second.EventCount != len(r2.Events) {
		t.Errorf("first run's events %+v; runs %+v", runEvents, r2.Runs)
	}
	if r2.StartedAt != r1.StartedAt {
		t.Errorf("started_at %s, want the first run's %s", r2.StartedAt, r1.StartedAt)
	}
}

func eventsOfKind(es []report.Event, kind string) []report.Event {
	var out []report.Event
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestResumeCaseAndOldJournals: a resume with other case fields is
// refused; a run the journal shows unfinished is recorded as crashed; a
// journal without case fields and runs (older custodian) still resumes.
func TestResumeCaseAndOldJournals(t *testing.T) {
	src, data := makeSource(t, 600_000)
	dir := t.TempDir()
	o := testOptions()
	o.Case = report.Case{CaseNumber: "2026-042", Examiner: "J. Doe"}
	interruptAt(t, src, dir, o, 200_000)

	bad := testOptions()
	bad.Resume = true
	bad.Case.Examiner = "Someone Else"
	_, err := New(src, dir, bad).Run(context.Background())
	var h interface{ Hint() string }
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--examiner") || !errors.As(err, &h) {
		t.Errorf("resume with another examiner: %v, want a refusal naming --examiner, with a hint", err)
	}

	// A crash: the run's record has no end.
	rewriteJournal(t, dir, func(s string) string {
		var j journal
		if err := json.Unmarshal([]byte(s), &j); err != nil {
			t.Fatal(err)
		}
		j.Runs[0].Outcome, j.Runs[0].FinishedAt = "", ""
		b, _ := json.Marshal(j)
		return string(b)
	})
	o2 := testOptions()
	o2.Resume = true
	o2.Case.Examiner = "J. Doe" // the same value is accepted
	r, j := interruptAt(t, src, dir, o2, 400_000)
	_ = r
	if len(j.Runs) != 2 || j.Runs[0].Outcome != report.RunCrashed || !strings.Contains(j.Runs[0].Error, "crash or power loss") {
		t.Fatalf("runs after a crash %+v", j.Runs)
	}

	// An older journal: no case, no runs, the events in the checkpoint.
	rewriteJournal(t, dir, func(s string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "case")
		delete(m, "runs")
		m["checkpoint"].(map[string]any)["events"] = []any{map[string]any{"time": "2026-11-23T12:00:00Z", "level": "info", "kind": "old", "message": "from an old run"}}
		b, _ := json.Marshal(m)
		return string(b)
	})
	o3 := testOptions()
	o3.Resume = true
	r3, err := New(src, dir, o3).Run(context.Background())
	if err != nil {
		t.Fatalf("resume of an older journal: %v", err)
	}
	if !bytes.Equal(concat(t, dir, r3), data) {
		t.Error("image differs")
	}
	if len(r3.Runs) != 2 || r3.Runs[0].Outcome != report.RunUnrecorded || r3.Runs[0].EventCount != 1 || r3.Events[0].Kind != "old" {
		t.Errorf("runs %+v events %+v", r3.Runs, r3.Events)
	}
}

// TestEmptyCaseFieldsWarn (issue 13, item 9): an empty case number and
// examiner each give a warning event, on screen (OnEvent) and in the
// report.
func TestEmptyCaseFieldsWarn(t *testing.T) {
	src, _ := makeSource(t, 10_000)
	o := testOptions()
	var seen []report.Event
	o.OnEvent = func(e report.Event) { seen = append(seen, e) }
	r, err := New(src, t.TempDir(), o).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := eventsOfKind(r.Events, "case")
	if len(got) != 2 || got[0].Level != "warning" || !strings.Contains(got[0].Message, "--case-number") ||
		!strings.Contains(got[1].Message, "--examiner") || len(eventsOfKind(seen, "case")) != 2 {
		t.Errorf("case warnings %+v (shown %+v)", got, eventsOfKind(seen, "case"))
	}
	o.Case = report.Case{CaseNumber: "1", Examiner: "J. Doe"}
	r, err = New(src, t.TempDir(), o).Run(context.Background())
	if err != nil || len(eventsOfKind(r.Events, "case")) != 0 {
		t.Errorf("with both given: %v, %+v", err, eventsOfKind(r.Events, "case"))
	}
}

// TestStopNote: after a stop, the report says where --resume continues:
// from byte 0 when no checkpoint was taken, from the last checkpoint when
// it is behind what was imaged, nothing when the checkpoint is where
// imaging stopped.
func TestStopNote(t *testing.T) {
	for _, tc := range []struct {
		kept, done int64
		want       string
	}{
		{0, 500, "no checkpoint was taken: the 500 bytes imaged are not kept, --resume starts again from byte 0"},
		{200, 500, "the last checkpoint is at byte 200: --resume continues from there (the 300 bytes imaged after it are read again)"},
		{500, 500, ""},
	} {
		a := New("src", "dir", testOptions())
		a.o.Now = time.Now
		a.done.Store(tc.done)
		im := &imaging{a: a, j: &journal{}}
		if tc.kept > 0 {
			im.j.Check = &checkpointRec{Offset: tc.kept}
		}
		im.stopNote()
		got := ""
		for _, e := range a.eventsCopy() {
			if e.Kind == "checkpoint" && e.Level == "warning" {
				got = e.Message
			}
		}
		if got != tc.want {
			t.Errorf("kept %d, done %d: %q, want %q", tc.kept, tc.done, got, tc.want)
		}
	}
}

// TestResumeEWFKeepsCaseInHeader: an EWF acquisition resumed without the
// case flags stores the first run's case fields in its header (the
// segments written after the resume too), as the report does.
func TestResumeEWFKeepsCaseInHeader(t *testing.T) {
	src, data := makeSource(t, 3<<20)
	dir := t.TempDir()
	o := testOptions()
	o.Format, o.SegmentSize = "ewf", 1<<20
	o.Case = report.Case{CaseNumber: "2026-042", EvidenceNumber: "EV-07", Examiner: "J. Doe", Notes: "resumed"}
	interruptAt(t, src, dir, o, 1<<20+100_000)
	o2 := testOptions()
	o2.Format, o2.SegmentSize, o2.Resume = "ewf", 1<<20, true
	r, err := New(src, dir, o2).Run(context.Background())
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if r.Case != o.Case || len(r.Image.Segments) < 2 {
		t.Fatalf("report case %+v, %d segments", r.Case, len(r.Image.Segments))
	}
	rd := openImage(t, dir, r)
	st := rd.(interface{ Stored() format.Stored }).Stored()
	if st.Case != o.Case {
		t.Errorf("EWF header case %+v, want %+v", st.Case, o.Case)
	}
	got := make([]byte, len(data))
	if _, err := rd.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Errorf("EWF media differs from the source (%v)", err)
	}
}
