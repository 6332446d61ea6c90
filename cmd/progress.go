package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/report"
)

// progressOutput renders an acquisition's progress. The core only keeps
// counters; this polls them on a ticker (restic's and rclone's design).
// The mode is what the user asked for, never guessed from where stdout or
// stderr go: with --json, JSON lines on stdout ({"schema":…,"type":
// "progress"|"event"|"result",…}) and the human header and summary on
// stderr; without it, the header and summary on stdout and the progress on
// stderr: a bar when stderr is a terminal, plain text lines otherwise
// (2>acquire.log gets a readable log).
type progressOutput struct {
	stdout, stderr io.Writer
	jsonLines      bool

	mu    sync.Mutex
	enc   *json.Encoder
	bar   *meter // the human progress display (nil with --json)
	phase acquire.Phase
	// started is when OnStart came: the closing block's duration.
	started time.Time
}

// Schemas of the JSON lines of acquire and verify: a consumer checks the
// field before it reads the others.
const (
	acquireLineSchema = "custodian/acquire/v1"
	verifySchema      = "custodian/verify/v1"
)

// lineHead opens every JSON line of acquire.
type lineHead struct {
	Schema string `json:"schema"`
	Type   string `json:"type"`
}

func head(typ string) lineHead { return lineHead{Schema: acquireLineSchema, Type: typ} }

func newProgressOutput(g *globalOptions, jsonFlag bool) *progressOutput {
	p := &progressOutput{stdout: g.stdout, stderr: g.stderr, jsonLines: jsonFlag}
	p.enc = newJSONEncoder(g.stdout, "")
	if !jsonFlag {
		p.bar = newMeter(g.stderr, isTerminal(g.stderr))
	}
	return p
}

// human is where the header and the summary go: stdout, or stderr when
// stdout carries JSON lines.
func (p *progressOutput) human() io.Writer {
	if p.jsonLines {
		return p.stderr
	}
	return p.stdout
}

// isTerminal reports whether a stream (an io.Reader or io.Writer) is a
// terminal. Every command asks it here.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newJSONEncoder is the encoder of every --json output: no HTML escaping
// (a "&" in a case note stays "&"), indent as given ("" for JSON lines).
func newJSONEncoder(w io.Writer, indent string) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc
}

// progressLine is one JSON progress line.
type progressLine struct {
	lineHead
	Time string `json:"time"`
	acquire.Progress
	Percent float64 `json:"percent"`
	Rate    int64   `json:"bytes_per_second"`
}

// start polls progress until the returned stop function is called; stop
// renders the last state and returns when the poller has ended.
func (p *progressOutput) start(poll func() acquire.Progress) (stop func()) {
	interval := 200 * time.Millisecond
	if p.jsonLines {
		interval = 2 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		var lastDone int64
		last := time.Now()
		for {
			select {
			case <-done:
				p.update(poll(), 0, true)
				return
			case now := <-t.C:
				pr := poll()
				cur := pr.Done + pr.Verified
				rate := int64(float64(cur-lastDone) / now.Sub(last).Seconds())
				lastDone, last = cur, now
				p.update(pr, rate, false)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// update shows pr. final is the last call: the display ends where the
// work stopped (an interrupted or failed run's bar stays short of 100 %).
func (p *progressOutput) update(pr acquire.Progress, rate int64, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		if final || pr.Phase == acquire.PhasePrepare {
			return
		}
		pct := 100.0
		if pr.Total > 0 {
			pct = float64(pr.Done) * 100 / float64(pr.Total)
			if pr.Phase == acquire.PhaseVerify {
				pct = float64(pr.Verified) * 100 / float64(pr.Total)
			}
		}
		_ = p.enc.Encode(progressLine{lineHead: head("progress"), Time: time.Now().UTC().Format(time.RFC3339), Progress: pr, Percent: pct, Rate: rate})
		return
	}
	if pr.Phase == acquire.PhaseImage || pr.Phase == acquire.PhaseVerify {
		p.phase = pr.Phase
	}
	done, desc := pr.Done, "imaging"
	switch p.phase {
	case acquire.PhaseVerify:
		done, desc = pr.Verified, "verifying"
	case acquire.PhaseImage:
	default:
		return // nothing imaged yet: no bar
	}
	if final {
		p.bar.stop(done, pr.Unreadable)
		return
	}
	p.bar.set(desc, done, pr.Total, pr.Unreadable, rate)
}

// event shows a notable event: every event as a JSON line, or warnings and
// errors as text on stderr. A run of unreadable sectors is one line
// (its sectors and bytes); the failed reads that found it (read_error) are
// detail for the JSON lines and the JSON report, not for the screen.
func (p *progressOutput) event(e report.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		_ = p.enc.Encode(struct {
			lineHead
			report.Event
		}{head("event"), e})
		return
	}
	text, show := eventText(e)
	if !show {
		return
	}
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(p.stderr, "custodian: "+text)
}

// eventText is an event as one screen line (after "custodian: "), and
// whether it belongs on the screen: warnings and errors do, with a run of
// unreadable sectors as one line; info and the single failed reads stay in
// the JSON report.
func eventText(e report.Event) (string, bool) {
	if e.Level == "info" || e.Kind == "read_error" {
		return "", false
	}
	if e.Kind == "unreadable" && e.Offset != nil && e.Length != nil && e.Sector != nil && e.Sectors != nil {
		return fmt.Sprintf("%s: unreadable: %s", e.Level, report.FormatSectorRun(*e.Sector, *e.Sectors, *e.Offset, *e.Length)), true
	}
	where := ""
	if e.Offset != nil {
		where = fmt.Sprintf(" at byte %d", *e.Offset)
		if e.Length != nil {
			where += fmt.Sprintf(" (+%d)", *e.Length)
		}
	}
	return fmt.Sprintf("%s: %s%s: %s", e.Level, e.Kind, where, e.Message), true
}

// resultLine is the final JSON line of an acquisition.
type resultLine struct {
	lineHead
	Status          report.Status  `json:"status"`
	ExitCode        int            `json:"exit_code"`
	Error           string         `json:"error,omitempty"`
	Report          string         `json:"report"`
	Source          string         `json:"source"`
	Size            int64          `json:"size"`
	BytesAcquired   int64          `json:"bytes_acquired"`
	Hashes          report.Hashes  `json:"hashes"`
	Segments        int            `json:"segments"`
	UnreadableBytes int64          `json:"unreadable_bytes"`
	Unreadable      []report.Range `json:"unreadable"`
	Verified        *bool          `json:"verified,omitempty"`
}

// begin prints the header, just before imaging starts.
func (p *progressOutput) begin(st acquire.Start) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = time.Now()
	header(p.human(), st)
}

func (p *progressOutput) result(r *report.Report, reportPath string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		summary(p.human(), r, reportPath)
		closing(p.human(), closingInfo{Report: r, ReportPath: reportPath, Code: exitcode.Of(err), Started: p.started, Finished: time.Now()})
	}()
	if !p.jsonLines {
		return
	}
	line := resultLine{lineHead: head("result"), Status: r.Status, ExitCode: exitcode.Of(err), Report: reportPath,
		Source: r.Source.Path, Size: r.Source.Size, BytesAcquired: r.BytesAcquired, Hashes: r.Hashes,
		Segments: len(r.Image.Segments), Unreadable: r.Unreadable}
	if err != nil {
		line.Error = userMessage(err)
	}
	for _, u := range r.Unreadable {
		line.UnreadableBytes += u.Length
	}
	if r.Verification.Performed {
		v := r.Verification.Matched
		line.Verified = &v
	}
	_ = p.enc.Encode(line)
}
