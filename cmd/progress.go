package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/report"
)

// progressOutput renders an acquisition's progress. The core only keeps
// counters; this polls them on a ticker (restic's and rclone's design).
// On a terminal (and without --json) it draws a bar on stderr and prints
// the summary on stdout; otherwise it writes JSON lines on stdout
// ({"type":"progress"|"event"|"result",…}) and the summary on stderr.
type progressOutput struct {
	stdout, stderr io.Writer
	jsonLines      bool

	mu    sync.Mutex
	enc   *json.Encoder
	bar   *progressbar.ProgressBar
	phase acquire.Phase
}

func newProgressOutput(g *globalOptions, jsonFlag bool) *progressOutput {
	p := &progressOutput{stdout: g.stdout, stderr: g.stderr, jsonLines: jsonFlag || !isTerminal(g.stderr)}
	p.enc = newJSONEncoder(g.stdout, "")
	return p
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
	Type string `json:"type"`
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
		_ = p.enc.Encode(progressLine{Type: "progress", Time: time.Now().UTC().Format(time.RFC3339), Progress: pr, Percent: pct, Rate: rate})
		return
	}
	if pr.Phase != p.phase && (pr.Phase == acquire.PhaseImage || pr.Phase == acquire.PhaseVerify) {
		if p.bar != nil {
			p.bar.Finish()
			fmt.Fprintln(p.stderr)
		}
		desc := "imaging  "
		if pr.Phase == acquire.PhaseVerify {
			desc = "verifying"
		}
		p.bar = progressbar.NewOptions64(pr.Total,
			progressbar.OptionSetWriter(p.stderr), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond))
	}
	p.phase = pr.Phase
	if p.bar == nil {
		return
	}
	switch pr.Phase {
	case acquire.PhaseVerify:
		p.bar.Set64(pr.Verified)
	case acquire.PhaseImage:
		p.bar.Set64(pr.Done)
	}
	if final {
		p.bar.Finish()
		fmt.Fprintln(p.stderr)
		p.bar = nil
	}
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
			Type string `json:"type"`
			report.Event
		}{"event", e})
		return
	}
	if e.Level == "info" || e.Kind == "read_error" {
		return
	}
	if p.bar != nil {
		p.bar.Clear()
	}
	if e.Kind == "unreadable" && e.Offset != nil && e.Length != nil && e.Sector != nil && e.Sectors != nil {
		fmt.Fprintf(p.stderr, "custodian: %s: unreadable: %s\n", e.Level, report.FormatSectorRun(*e.Sector, *e.Sectors, *e.Offset, *e.Length))
		return
	}
	where := ""
	if e.Offset != nil {
		where = fmt.Sprintf(" at byte %d", *e.Offset)
		if e.Length != nil {
			where += fmt.Sprintf(" (+%d)", *e.Length)
		}
	}
	fmt.Fprintf(p.stderr, "custodian: %s: %s%s: %s\n", e.Level, e.Kind, where, e.Message)
}

// resultLine is the final JSON line of an acquisition.
type resultLine struct {
	Type            string         `json:"type"`
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

func (p *progressOutput) result(r *report.Report, reportPath string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.jsonLines {
		summary(p.stdout, r, reportPath)
		return
	}
	line := resultLine{Type: "result", Status: r.Status, ExitCode: exitcode.Of(err), Report: reportPath,
		Source: r.Source.Path, Size: r.Source.Size, BytesAcquired: r.BytesAcquired, Hashes: r.Hashes,
		Segments: len(r.Image.Segments), Unreadable: r.Unreadable}
	if err != nil {
		line.Error = err.Error()
	}
	for _, u := range r.Unreadable {
		line.UnreadableBytes += u.Length
	}
	if r.Verification.Performed {
		v := r.Verification.Matched
		line.Verified = &v
	}
	_ = p.enc.Encode(line)
	summary(p.stderr, r, reportPath)
}
