package cmd

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// meter shows the progress of one long task (imaging, a re-read, a
// verification) on stderr: a bar when stderr is a terminal, else a plain
// text line now and then (every lineStep of the total, or every lineEvery),
// so a log file (2>acquire.log) gets readable lines, not bar frames.
// acquire and verify use the same meter. Not safe for concurrent use.
type meter struct {
	w   io.Writer
	tty bool
	now func() time.Time

	desc        string
	total, done int64
	bar         *progressbar.ProgressBar
	// text lines: when and at which fraction the last one was printed.
	lastAt   time.Time
	lastStep int   // int(fraction / lineStep) of the last line; -1 none
	lineDone int64 // done of the last line
}

const (
	lineStep  = 0.05 // of the total: a line every 5 %
	lineEvery = 10 * time.Second
)

func newMeter(w io.Writer, tty bool) *meter {
	return &meter{w: w, tty: tty, now: time.Now}
}

// set shows done of total for the task desc; a new desc ends the previous
// task's display first. unreadable (bytes zero-filled so far) and rate
// (bytes per second, 0 when unknown) are shown when known.
func (m *meter) set(desc string, done, total, unreadable, rate int64) {
	defer func() { m.done = done }()
	if desc != m.desc || total != m.total {
		m.end(m.total > 0 && m.done >= m.total)
		m.desc, m.total = desc, total
		m.lastAt, m.lastStep, m.lineDone = time.Time{}, -1, -1
		if m.tty && total > 0 {
			m.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(m.w), progressbar.OptionSetDescription(fmt.Sprintf("%-9s", desc)),
				progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30))
		}
	}
	if m.bar != nil {
		if unreadable > 0 {
			m.bar.Describe(fmt.Sprintf("%-9s (%s unreadable)", desc, humanBytes(unreadable)))
		}
		_ = m.bar.Set64(done)
		return
	}
	if m.tty || total <= 0 {
		return
	}
	step := m.step(done)
	now := m.now()
	if step <= m.lastStep && now.Sub(m.lastAt) < lineEvery {
		return
	}
	m.lastAt, m.lastStep, m.lineDone = now, step, done
	fmt.Fprintln(m.w, progressText(desc, done, total, unreadable, rate))
}

// step is done's position in lineStep steps: a line per step passed.
func (m *meter) step(done int64) int {
	return int(done * int64(1/lineStep) / m.total)
}

// progressText is one plain progress line.
func progressText(desc string, done, total, unreadable, rate int64) string {
	s := fmt.Sprintf("custodian: %s %5.1f %%, %s of %s", desc, float64(done)*100/float64(total), humanBytes(done), humanBytes(total))
	if rate > 0 {
		s += fmt.Sprintf(", %s/s", humanBytes(rate))
	}
	if unreadable > 0 {
		s += fmt.Sprintf(", %s unreadable so far", humanBytes(unreadable))
	}
	return s
}

// Clear removes the bar from its line (before a message is printed).
func (m *meter) Clear() {
	if m.bar != nil {
		_ = m.bar.Clear()
	}
}

// end ends the current task's display. complete: the task reached its end,
// so the bar is filled; otherwise (interrupted, destination full, failed)
// the bar stays frozen where it stopped.
func (m *meter) end(complete bool) {
	if m.bar == nil {
		return
	}
	if complete {
		_ = m.bar.Finish()
	} else {
		_ = m.bar.Exit()
	}
	fmt.Fprintln(m.w)
	m.bar = nil
}

// stop ends the display at done of the current task: a text line says
// where it stopped when the last line did not.
func (m *meter) stop(done, unreadable int64) {
	if m.total <= 0 {
		return
	}
	if m.bar != nil {
		_ = m.bar.Set64(done)
		m.end(done >= m.total)
		return
	}
	if !m.tty && m.lineDone != done {
		m.lineDone = done
		fmt.Fprintln(m.w, progressText(m.desc, done, m.total, unreadable, 0))
	}
}
