package acquire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/custodian-forensics/custodian/report"
)

// The run history: every run of an acquisition (the first and each
// --resume) is recorded in the journal as it goes, with its command line,
// times, how it ended and its events; the report lists them all.

// startRun begins this run's record; start is the byte it images from.
func (a *Acquisition) startRun(start int64) {
	t := a.o.Now()
	a.cur = journalRun{Run: report.Run{
		CommandLine: slices.Clone(a.o.CommandLine), StartedAt: report.Timestamp(t), StartedAtLocal: report.LocalTimestamp(t),
		StartOffset: start, EndOffset: start,
	}}
}

// adoptHistory takes the earlier runs from the journal. A run the journal
// shows unfinished ended without a record: a crash or a power loss (this
// run holds the folder's lock, so it is not running). An older journal
// without runs becomes one unrecorded run holding its checkpoint's events.
func (a *Acquisition) adoptHistory(j *journal) {
	if len(j.Runs) == 0 {
		run := journalRun{Run: report.Run{StartedAt: j.Started, Outcome: report.RunUnrecorded, EndOffset: j.offset()}}
		if j.Check != nil {
			run.Events = slices.Clone(j.Check.Events)
		}
		a.prior = []journalRun{run}
		return
	}
	a.prior = slices.Clone(j.Runs)
	for i := range a.prior {
		if p := &a.prior[i]; p.Outcome == "" {
			p.Outcome = report.RunCrashed
			p.Error = "ended without a record (crash or power loss); found by the next run"
			p.EndOffset = j.offset()
		}
	}
}

// priorEvents are the events of the earlier runs, in order.
func (a *Acquisition) priorEvents() []report.Event {
	var out []report.Event
	for _, p := range a.prior {
		out = append(out, p.Events...)
	}
	return out
}

// journalRuns is the history for the journal: the earlier runs and this
// one as far as it got.
func (a *Acquisition) journalRuns() []journalRun {
	cur := a.cur
	cur.Events = a.eventsCopy()
	return append(slices.Clone(a.prior), cur)
}

// keptRuns is the history an incomplete run leaves in the journal: this
// run's damage events at or after kept (the checkpoint) are left out, as
// the next run reads those sectors again and records them itself.
func (a *Acquisition) keptRuns(kept int64) []journalRun {
	runs := a.journalRuns()
	cur := &runs[len(runs)-1]
	cur.Events = slices.DeleteFunc(cur.Events, func(e report.Event) bool {
		return damageKinds[e.Kind] && e.Offset != nil && *e.Offset >= kept
	})
	return runs
}

// fillHistory sets the report's runs and events: every run's events in
// order, each run pointing at its own.
func (a *Acquisition) fillHistory(r *report.Report) {
	runs := a.journalRuns()
	r.Runs = make([]report.Run, len(runs))
	r.Events = []report.Event{}
	for i, run := range runs {
		run.FirstEvent, run.EventCount = len(r.Events), len(run.Events)
		r.Events = append(r.Events, run.Events...)
		r.Runs[i] = run.Run
	}
}

// endRun records how this run ended: its outcome, the byte it left imaged
// (the journal's checkpoint, or the size when complete) and its time.
func (a *Acquisition) endRun(r *report.Report, complete bool, runErr error, kept int64) {
	t := a.o.Now()
	a.cur.FinishedAt, a.cur.FinishedAtLocal = report.Timestamp(t), report.LocalTimestamp(t)
	a.cur.Outcome, a.cur.EndOffset = outcomeOf(complete, runErr), kept
	if complete {
		a.cur.EndOffset = r.Source.Size
	}
	switch {
	case runErr == nil:
	case errors.Is(runErr, context.Canceled):
		a.cur.Error = "stopped by a signal (Ctrl-C, SIGTERM) or by the caller"
	default:
		a.cur.Error = runErr.Error()
	}
}

// outcomeOf names how a run ended.
func outcomeOf(complete bool, err error) string {
	switch {
	case complete:
		return report.RunComplete
	case errors.Is(err, context.Canceled):
		return report.RunInterrupted
	case errors.Is(err, ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return report.RunNoSpace
	case errors.Is(err, ErrSourceDead):
		return report.RunSourceDead
	}
	return report.RunFailed
}

// resumeCase merges the case fields a resume was given with the journal's:
// an empty field keeps the journal's value; a different one is refused, as
// the report would otherwise tie one image to two cases.
func resumeCase(kept, given report.Case) (report.Case, error) {
	var diffs []string
	for _, f := range []struct{ flag, kept, give string }{
		{"--case-number", kept.CaseNumber, given.CaseNumber},
		{"--evidence-number", kept.EvidenceNumber, given.EvidenceNumber},
		{"--examiner", kept.Examiner, given.Examiner},
		{"--description", kept.Description, given.Description},
		{"--notes", kept.Notes, given.Notes},
	} {
		// A field the first run left empty is not filled in either: an EWF
		// image's header already holds the first run's fields.
		if f.give != "" && f.give != f.kept {
			diffs = append(diffs, fmt.Sprintf("%s %q, the interrupted run had %q", f.flag, f.give, f.kept))
		}
	}
	if len(diffs) > 0 {
		return kept, &refusal{
			Err: fmt.Errorf("%w: --resume: the case fields differ from the interrupted run's: %s", ErrUsage, strings.Join(diffs, "; ")),
			Tip: "resume without the case flags (the journal keeps the first run's) or with the same values; a different case needs a new acquisition (another --name or folder)",
		}
	}
	return kept, nil
}

// warnCase records a warning for each empty chain-of-custody field that a
// court expects: the case number and the examiner.
func (a *Acquisition) warnCase() {
	if strings.TrimSpace(a.o.Case.CaseNumber) == "" {
		a.note("warning", "case", "no case number given (--case-number): the report does not say which case this evidence belongs to")
	}
	if strings.TrimSpace(a.o.Case.Examiner) == "" {
		a.note("warning", "case", "no examiner given (--examiner): the report does not say who acquired this evidence")
	}
}

// writeJournal replaces the journal with its state and the run history as
// of now.
func (im *imaging) writeJournal() error {
	im.j.Runs = im.a.journalRuns()
	return writeJournal(im.spec.Root, journalName(im.a.o.Name), im.j)
}

// firstStart is the local time of the first run's start, for the report
// of a resumed acquisition (started_at is the first run's).
func (a *Acquisition) firstStart(utc string) string {
	if len(a.prior) > 0 && a.prior[0].StartedAtLocal != "" {
		return a.prior[0].StartedAtLocal
	}
	t, err := time.Parse(report.TimeFormat, utc)
	if err != nil {
		return ""
	}
	return report.LocalTimestamp(t.In(a.o.Now().Location()))
}
