package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/acquire/batch"
	"github.com/custodian-forensics/custodian/report"
)

// BatchSchema tags every --json line of batch.
const BatchSchema = "custodian/batch/v1"

// batchOutput renders a batch. On a terminal (without --json) it keeps a
// status area at the bottom of stderr, one line per job, redrawn by one
// goroutine (start's) that alone writes to the terminal while the batch
// runs: events and job results are queued and printed above the area on
// its next tick. It draws with two ANSI sequences (cursor up, erase to the
// end of the screen) rather than a multi-bar library: progressbar/v3 draws
// one bar, and a line of text per job is all the area needs. With --json
// it writes JSON lines (schema custodian/batch/v1) on stdout, each with its
// job's name, and the table on stderr. Otherwise (stderr a log or a pipe)
// it prints the same lines as plain text on stderr, a status line per
// running job every 10 s: as for acquire, only --json gives JSON.
type batchOutput struct {
	stdout, stderr io.Writer
	jsonLines      bool
	tty            bool // stderr is a terminal: the status area
	now            func() time.Time

	mu      sync.Mutex
	enc     *json.Encoder
	pending []string // lines for above the status area (terminal)
	drawn   int      // lines of the status area on screen
}

func newBatchOutput(g *globalOptions, jsonFlag bool) *batchOutput {
	return &batchOutput{stdout: g.stdout, stderr: g.stderr, jsonLines: jsonFlag, tty: !jsonFlag && isTerminal(g.stderr),
		enc: newJSONEncoder(g.stdout, ""), now: time.Now}
}

func (p *batchOutput) stamp() string { return p.now().UTC().Format(time.RFC3339) }

// batchLine is the head of every JSON line.
type batchLine struct {
	Schema string `json:"schema"`
	Type   string `json:"type"`
	Time   string `json:"time"`
	Job    string `json:"job,omitempty"`
}

func (p *batchOutput) line(typ, job string) batchLine {
	return batchLine{Schema: BatchSchema, Type: typ, Time: p.stamp(), Job: job}
}

func (p *batchOutput) emit(v any) { _ = p.enc.Encode(v) }

// queue adds a line for above the status area, or prints it at once
// where there is no area.
func (p *batchOutput) queue(s string) {
	if !p.tty {
		fmt.Fprintln(p.stderr, s)
		return
	}
	p.pending = append(p.pending, s)
}

func (p *batchOutput) jobStart(job string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		p.emit(p.line("job_start", job))
		return
	}
	p.queue(fmt.Sprintf("custodian: %s: started", job))
}

func (p *batchOutput) jobEnd(r batch.JobResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		p.emit(struct {
			batchLine
			batch.JobResult
		}{p.line("job_result", r.Name), r})
		return
	}
	msg := fmt.Sprintf("custodian: %s: %s, exit %d", r.Name, r.Status, r.ExitCode)
	if r.UnreadableBytes > 0 {
		msg += fmt.Sprintf(", %s unreadable", formatSize(r.UnreadableBytes))
	}
	if r.Error != "" {
		msg += ": " + r.Error
	}
	p.queue(msg)
}

func (p *batchOutput) event(job string, e report.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		p.emit(struct {
			Schema string `json:"schema"`
			Type   string `json:"type"`
			Job    string `json:"job"`
			report.Event
		}{BatchSchema, "event", job, e}) // the event's own time
		return
	}
	if text, show := eventText(e); show {
		p.queue(fmt.Sprintf("custodian: %s: %s", job, text))
	}
}

// batchProgressLine is one JSON progress line of one job.
type batchProgressLine struct {
	batchLine
	acquire.Progress
	Percent float64 `json:"percent"`
	Rate    int64   `json:"bytes_per_second"`
}

// start polls the jobs until stop is called; stop draws the last state.
func (p *batchOutput) start(poll func() []batch.JobProgress) (stop func()) {
	interval := 200 * time.Millisecond
	switch {
	case p.jsonLines:
		interval = 2 * time.Second
	case !p.tty:
		interval = 10 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		rates := newRates()
		for {
			select {
			case <-done:
				p.draw(poll(), rates, time.Now(), true)
				return
			case now := <-t.C:
				p.draw(poll(), rates, now, false)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// rates tracks each job's recent speed.
type rates struct {
	last map[string]int64
	at   map[string]time.Time
	rate map[string]int64
}

func newRates() *rates {
	return &rates{last: map[string]int64{}, at: map[string]time.Time{}, rate: map[string]int64{}}
}

func (r *rates) update(name string, cur int64, now time.Time) int64 {
	if t, ok := r.at[name]; ok && now.Sub(t) > 0 {
		r.rate[name] = int64(float64(cur-r.last[name]) / now.Sub(t).Seconds())
	}
	r.last[name], r.at[name] = cur, now
	return r.rate[name]
}

func progressOf(pr acquire.Progress) (cur int64, pct float64) {
	cur = pr.Done
	if pr.Phase == acquire.PhaseVerify {
		cur = pr.Verified
	}
	pct = 100
	if pr.Total > 0 {
		pct = float64(cur) * 100 / float64(pr.Total)
	}
	return cur, pct
}

// draw renders one tick: JSON progress lines, or the queued lines and the
// status area.
func (p *batchOutput) draw(jobs []batch.JobProgress, r *rates, now time.Time, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		if final {
			return
		}
		for _, j := range jobs {
			if j.State != batch.StateRunning || j.Phase == acquire.PhasePrepare || j.Phase == "" {
				continue
			}
			cur, pct := progressOf(j.Progress)
			p.emit(batchProgressLine{batchLine: p.line("progress", j.Name), Progress: j.Progress, Percent: pct, Rate: r.update(j.Name, cur, now)})
		}
		return
	}
	if !p.tty {
		if final {
			return
		}
		for _, j := range jobs {
			if j.State == batch.StateRunning && j.Phase != acquire.PhasePrepare && j.Phase != "" {
				fmt.Fprintln(p.stderr, "custodian: "+statusLine(j, r, now))
			}
		}
		return
	}
	width, height := 120, 40
	if f, ok := p.stderr.(*os.File); ok {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 20 && h > 4 {
			width, height = w, h
		}
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", p.drawn) // up to the area's first line, erase to the end
	}
	for _, l := range p.pending {
		b.WriteString(l + "\n")
	}
	p.pending = nil
	lines := areaLines(jobs, r, now, height/2)
	for _, l := range lines {
		b.WriteString(truncate(l, width-1) + "\n")
	}
	p.drawn = len(lines)
	_, _ = io.WriteString(p.stderr, b.String())
}

// areaLines is the status area: a line per job, or, when there are more
// jobs than maxLines (an area taller than the screen cannot be redrawn),
// a line per running job and one counting the others.
func areaLines(jobs []batch.JobProgress, r *rates, now time.Time, maxLines int) []string {
	var out []string
	if len(jobs) <= maxLines {
		for _, j := range jobs {
			out = append(out, statusLine(j, r, now))
		}
		return out
	}
	counts := map[string]int{}
	for _, j := range jobs {
		if j.State == batch.StateRunning && len(out) < maxLines-1 {
			out = append(out, statusLine(j, r, now))
			continue
		}
		counts[j.State]++
	}
	var parts []string
	for _, st := range []string{batch.StateRunning, batch.StateWaiting, batch.StateDone, batch.StateSkipped, batch.StateNotStarted} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	return append(out, "… and "+strings.Join(parts, ", "))
}

// statusLine is one job's line of the status area.
func statusLine(j batch.JobProgress, r *rates, now time.Time) string {
	phase := string(j.Phase)
	if j.State != batch.StateRunning {
		phase = j.State
	}
	s := fmt.Sprintf("%-14s %-16s %-9s", j.Name, j.Source, phase)
	if j.State != batch.StateRunning && j.State != batch.StateDone || j.Total == 0 {
		return s
	}
	cur, pct := progressOf(j.Progress)
	rate := r.update(j.Name, cur, now)
	eta := "-"
	if rate > 0 && j.State == batch.StateRunning {
		eta = time.Duration(float64(j.Total-cur) / float64(rate) * float64(time.Second)).Round(time.Second).String()
	}
	s += fmt.Sprintf(" %9s/%-9s %5.1f%%", formatSize(cur), formatSize(j.Total), pct)
	if j.State == batch.StateRunning {
		s += fmt.Sprintf(" %9s/s ETA %-8s", formatSize(rate), eta)
	}
	if j.Unreadable > 0 {
		s += " unreadable " + formatSize(j.Unreadable)
	}
	return s
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// plan prints the dry run's plan: as one JSON line with --json, else as
// text (also into a pipe: a plan is read by people).
func (p *batchOutput) plan(plan *batch.Plan, parallel int, jsonFlag bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if jsonFlag {
		type planJob struct {
			Name   string       `json:"name"`
			Source string       `json:"source"`
			Disk   string       `json:"disk"`
			Folder string       `json:"folder"`
			Format string       `json:"format"`
			Size   int64        `json:"size"`
			Need   int64        `json:"need"`
			Action batch.Action `json:"action"`
		}
		out := struct {
			batchLine
			Output   string        `json:"output"`
			Parallel int           `json:"parallel"`
			Chains   [][]planJob   `json:"chains"`
			Space    []batch.Space `json:"space"`
		}{batchLine: p.line("plan", ""), Output: plan.Output, Parallel: parallel, Space: plan.Space, Chains: [][]planJob{}}
		for _, ch := range plan.Chains {
			var c []planJob
			for _, k := range ch {
				j := plan.Jobs[k]
				c = append(c, planJob{Name: j.Options.Name, Source: j.Source, Disk: j.Disk, Folder: j.Dir,
					Format: j.Options.Format, Size: j.Info.Size, Need: j.Need, Action: j.Action})
			}
			out.Chains = append(out.Chains, c)
		}
		p.emit(out)
		return
	}
	w := p.stdout
	fmt.Fprintf(w, "plan: %d job(s) in %d chain(s), up to %d at a time; summary: %s\n",
		len(plan.Jobs), len(plan.Chains), min(parallel, len(plan.Chains)), plan.Output+"/"+batch.SummaryName)
	for i, ch := range plan.Chains {
		what := "image file"
		if d := plan.Jobs[ch[0]].Disk; d != "" {
			what = "disk " + d
		}
		fmt.Fprintf(w, "chain %d (%s):\n", i+1, what)
		for _, k := range ch {
			j := plan.Jobs[k]
			fmt.Fprintf(w, "  %d. %-14s %-16s -> %s  (%s, %s, %s)\n", k+1, j.Options.Name, j.Source, j.Dir,
				j.Options.Format, formatSize(j.Info.Size), j.Action)
		}
	}
	fmt.Fprintln(w, "space:")
	for _, s := range plan.Space {
		fmt.Fprintf(w, "  %s: up to %s needed of %s free (%s)\n", s.Path, formatSize(s.Need), formatSize(s.Free), strings.Join(s.Jobs, ", "))
	}
	fmt.Fprintln(w, "nothing was written (--dry-run)")
}

// summary writes the final JSON line (with --json) and the table on stderr.
func (p *batchOutput) summary(s *batch.Summary, path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		p.emit(struct {
			batchLine
			ExitCode    int            `json:"exit_code"`
			SummaryFile string         `json:"summary_file"`
			Summary     *batch.Summary `json:"summary"`
		}{p.line("summary", ""), s.ExitCode, path, s})
	}
	tw := tabwriter.NewWriter(p.stderr, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSOURCE\tSTATUS\tEXIT\tUNREADABLE\tDURATION\tSHA256 / FIRST HASH")
	for _, j := range s.Jobs {
		h := j.Hashes["sha256"]
		if keys := slices.Sorted(maps.Keys(j.Hashes)); h == "" && len(keys) > 0 {
			h = keys[0] + ":" + j.Hashes[keys[0]]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", j.Name, j.Source.Path, j.Status, j.ExitCode,
			formatSize(j.UnreadableBytes), (time.Duration(j.DurationSeconds * float64(time.Second))).Round(100*time.Millisecond), h)
	}
	_ = tw.Flush()
	for _, j := range s.Jobs {
		if j.Error != "" {
			fmt.Fprintf(p.stderr, "custodian: %s: %s\n", j.Name, j.Error)
		}
		if j.Hint != "" {
			fmt.Fprintf(p.stderr, "custodian: %s: hint: %s\n", j.Name, j.Hint)
		}
	}
	fmt.Fprintf(p.stderr, "summary: %s (exit status %d)\n", path, s.ExitCode)
}
